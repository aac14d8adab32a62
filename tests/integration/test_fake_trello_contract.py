"""The fake Trello and the contract helper, proved against each other and against
Trello's official API description: what a Trello client sends through the app's
own HTTP client validates, what the fake answers validates, and a request with a
wrongly typed parameter does not. Also the fake's own Trello behaviour (auth
errors, paging, rate limits, webhooks) and the loopback harness under it."""
from __future__ import annotations

import base64
import hashlib
import hmac

import httpx2
import pytest
from openapi_core.validation.request.exceptions import RequestValidationError, SecurityValidationError

from app.integrations.http import AuthError, PermanentError
from app.integrations.trello import TrelloConnector
from tests.contract import Contract
from tests.fakes.server import FakeServer, RecordedRequest
from tests.fakes.trello import FakeTrello


@pytest.fixture(scope="module")
def contract():
    return Contract.for_provider("trello")


@pytest.fixture
def trello():
    with FakeTrello() as fake:
        fake.member = fake.add_member("Tess Trello", "tess")
        fake.key, fake.token = fake.add_credentials(fake.member)
        fake.board = fake.add_board("Website", fake.member)
        fake.todo = fake.add_list(fake.board, "To do")
        fake.card = fake.add_card(fake.todo, "Write the landing page", due="2026-12-01T12:00:00.000Z")
        yield fake


@pytest.fixture
def client(trello):
    with TrelloConnector.client(trello.api_base, trello.key, trello.token) as provider_client:
        yield provider_client


def last(trello: FakeTrello) -> RecordedRequest:
    return trello.requests[-1]


def test_verify_call_and_answer_match_the_description(trello, contract):
    account = TrelloConnector.verify(trello.api_base, {"api_key": trello.key, "token": trello.token})

    assert account.label == "Tess Trello (@tess)"
    sent = last(trello)
    assert (sent.method, sent.path, sent.args["fields"]) == ("GET", "/1/members/me", "fullName,username")
    assert sent.response_json() == {"id": trello.member.id, "fullName": "Tess Trello", "username": "tess"}
    contract.check_request(sent)
    contract.check_response(sent)


def test_reading_boards_lists_and_cards_matches_the_description(trello, client, contract):
    boards = client.get_json("members/me/boards", params={"filter": "open", "fields": "name,closed,url"})
    board = client.get_json(f"boards/{trello.board.id}")
    lists = client.get_json(f"boards/{trello.board.id}/lists", params={"filter": "open"})
    cards = client.get_json(f"boards/{trello.board.id}/cards", params={"limit": 1000, "filter": "all"})

    assert [b["name"] for b in boards] == ["Website"]
    assert set(boards[0]) == {"id", "name", "closed", "url"}
    assert board["id"] == trello.board.id
    assert [lst["name"] for lst in lists] == ["To do"]
    assert [(c["name"], c["idList"]) for c in cards] == [("Write the landing page", trello.todo.id)]
    assert len(trello.requests) == 4
    for sent in trello.requests:
        assert sent.status == 200
        contract.check_request(sent)
        contract.check_response(sent)


def test_webhook_create_and_delete_match_the_description(trello, client, contract):
    hook = client.request("POST", "webhooks", params={
        "idModel": trello.board.id, "callbackURL": "https://timehub.example/webhooks/trello/abc",
        "description": "TimeHub", "active": "true"}).json()
    client.request("DELETE", f"webhooks/{hook['id']}")

    assert hook["idModel"] == trello.board.id and hook["active"] is True
    assert trello.webhooks == {}
    created, deleted = trello.requests
    contract.check_request(created)
    contract.check_response(created)
    contract.check_request(deleted)


@pytest.mark.off_description("sends active=maybe on purpose: the fake must refuse it and the description reject it")
def test_a_wrongly_typed_parameter_fails_validation(trello, client, contract):
    with pytest.raises(PermanentError):
        client.request("POST", "webhooks", params={
            "idModel": trello.board.id, "callbackURL": "https://timehub.example/hook", "active": "maybe"})

    sent = last(trello)
    assert sent.status == 400 and sent.response_body == b"invalid value for active"
    with pytest.raises(RequestValidationError):
        contract.check_request(sent)


@pytest.mark.off_description("sends a malformed board id on purpose: the fake must refuse it and the description reject it")
def test_a_malformed_id_fails_validation(trello, client, contract):
    with pytest.raises(PermanentError, match="invalid id"):
        client.get_json("boards/not-a-board/lists")

    errors = contract.request_errors(last(trello))
    assert errors and all(isinstance(e, RequestValidationError) for e in errors)


def test_a_request_without_token_fails_validation_and_is_refused(trello, contract):
    with TrelloConnector.client(trello.api_base, trello.key, "") as no_token:
        with pytest.raises(AuthError, match="invalid token"):
            no_token.get_json("members/me")

    sent = last(trello)
    assert sent.args["token"] == ""
    with pytest.raises(SecurityValidationError):
        contract.check_request(RecordedRequest(sent.method, sent.path,
                                               [(k, v) for k, v in sent.query if k != "token"], sent.headers, b""))


def test_unknown_key_and_bad_token_are_refused_like_trello(trello):
    with TrelloConnector.client(trello.api_base, "0" * 32, trello.token) as wrong_key:
        with pytest.raises(AuthError, match="invalid key") as refused:
            wrong_key.get_json("members/me")
    assert refused.value.status == 401
    trello.revoke_token(trello.token)
    with TrelloConnector.client(trello.api_base, trello.key, trello.token) as revoked:
        with pytest.raises(AuthError, match="invalid token"):
            revoked.get_json("members/me")
    assert [r.response_headers["content-type"].split(";")[0] for r in trello.requests] == ["text/plain"] * 2


def test_cards_page_backwards_with_before_and_forwards_with_since(trello, client):
    extra = [trello.add_card(trello.todo, f"Card {n}") for n in range(2_499)]
    every_id = [trello.card.id] + [c.id for c in extra]

    backwards, before = [], None
    while True:
        page = client.get_json(f"boards/{trello.board.id}/cards",
                               params={"limit": 1000, **({"before": before} if before else {}), "fields": "id"})
        if not page:
            break
        backwards = [c["id"] for c in page] + backwards
        before = page[0]["id"]
    forwards, since = [], "0" * 24
    while page := client.get_json(f"boards/{trello.board.id}/cards", params={"limit": 1000, "since": since}):
        forwards += [c["id"] for c in page]
        since = page[-1]["id"]

    assert backwards == every_id
    assert forwards == every_id
    with pytest.raises(PermanentError, match="invalid value for limit"):
        client.get_json(f"boards/{trello.board.id}/cards", params={"limit": 1001})


def test_rate_limit_answers_429_with_trellos_headers():
    with FakeTrello(rate_limit=(3, 60)) as limited:
        key, token = limited.add_credentials(limited.add_member("Rita Rate"))
        with httpx2.Client(base_url=limited.api_base, params={"key": key, "token": token}) as raw:
            statuses = [raw.get("/members/me").status_code for _ in range(4)]
        refused = limited.requests[-1]

    assert statuses == [200, 200, 200, 429]
    assert refused.response_headers["x-rate-limit-api-token-remaining"] == "0"
    assert refused.response_headers["x-rate-limit-api-token-max"] == "3"
    assert refused.response_json()["error"] == "API_TOKEN_LIMIT_EXCEEDED"


def test_throttle_next_answers_429_with_retry_after_then_recovers(trello):
    trello.throttle_next(1, retry_after=7)

    with httpx2.Client(base_url=trello.api_base, params={"key": trello.key, "token": trello.token}) as raw:
        throttled = raw.get("/members/me")
        recovered = raw.get("/members/me", params={"fields": "id"})

    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "7")
    assert recovered.json() == {"id": trello.member.id}


def answering(status: int):
    """A callback endpoint for webhooks: answers every request with `status`."""
    def app(environ, start_response):
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b""]
    return app


def test_webhook_needs_a_callback_that_answers_head_with_200():
    with FakeTrello(check_webhook_callbacks=True) as strict, FakeServer(answering(404)) as missing:
        key, token = strict.add_credentials(strict.add_member("Walt Webhook"))
        board = strict.add_board("Hooks", *strict.members.values())
        with TrelloConnector.client(strict.api_base, key, token) as hooks_client:
            with pytest.raises(PermanentError, match="did not return 200 status code, got 404"):
                hooks_client.request("POST", "webhooks", params={"idModel": board.id,
                                                                 "callbackURL": missing.base_url + "/hook"})

    assert [(r.method, r.path) for r in missing.requests] == [("HEAD", "/hook")]
    assert strict.webhooks == {}


def test_deliveries_are_signed_like_trello(trello, client):
    with FakeServer(answering(200)) as receiver:
        callback = receiver.base_url + "/webhooks/trello/abc"
        created = client.request("POST", "webhooks", params={"idModel": trello.board.id, "callbackURL": callback})
        hook = trello.webhooks[created.json()["id"]]
        answer = trello.deliver(hook, {"type": "updateCard", "data": {"card": {"id": trello.card.id}}})

    delivery = receiver.requests[-1]
    expected = base64.b64encode(hmac.new(trello.app_secrets[trello.key].encode(),
                                         delivery.body + callback.encode(), hashlib.sha1).digest()).decode()
    assert answer.status_code == 200
    assert (delivery.method, delivery.path) == ("POST", "/webhooks/trello/abc")
    assert delivery.headers["x-trello-webhook"] == expected
    assert delivery.json()["action"]["type"] == "updateCard"
    assert delivery.json()["model"]["id"] == trello.board.id


def test_the_harness_records_query_headers_and_body():
    with FakeServer(answering(204)) as server:
        httpx2.post(server.base_url + "/x/y?a=1&a=2&b=", json={"n": 1}, headers={"X-Probe": "yes"})
        port = server.port
    recorded, = server.requests

    assert (recorded.method, recorded.path, recorded.status) == ("POST", "/x/y", 204)
    assert recorded.query == [("a", "1"), ("a", "2"), ("b", "")]
    assert recorded.headers["x-probe"] == "yes" and recorded.headers["content-type"] == "application/json"
    assert recorded.json() == {"n": 1}
    with pytest.raises(httpx2.ConnectError):  # stopped means stopped
        httpx2.get(f"http://127.0.0.1:{port}/")
