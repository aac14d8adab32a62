"""Webhook intake under hostile but validly signed deliveries: Jira's JWT claims, body
encodings and shapes, delivery ids, the HEAD probe and the access log."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import threading
import time

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.integrations import jwt_hs256
from app.models import Integration, ProviderApp, WebhookDelivery
from app.services import webhook_processing, webhook_service
from app.web_security import QuietRequestHandler

CLIENT_ID, CLIENT_SECRET = "jira-client-id", "jira-client-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(claims_json: str, secret: str = CLIENT_SECRET) -> str:
    """A token with the claims exactly as written (so NaN and Infinity can be sent)."""
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(claims_json.encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def claims(**overrides) -> str:
    now = int(time.time())
    values = {"iss": CLIENT_ID, "iat": now, "exp": now + 180, **overrides}
    return json.dumps({key: value for key, value in values.items() if value is not None})


@pytest.fixture
def jira(db):
    app_row = ProviderApp(provider="jira", client_id=CLIENT_ID)
    app_row.payload = {"client_secret": CLIENT_SECRET}
    integration = Integration(provider="jira", is_global=True, status="active",
                              settings={"site_url": "https://example.atlassian.net", "allow_list": []})
    db.session.add_all([app_row, integration])
    db.session.commit()
    return integration


def issue_body(**issue) -> bytes:
    issue = issue or {"id": "10001", "key": "P-1", "fields": {"summary": "Hello", "updated": "2026-01-01T00:00:00.000+0000"}}
    return json.dumps({"webhookEvent": "jira:issue_updated", "issue": issue}).encode()


def post_jira(client, integration, *, token_claims: str | None = None, body: bytes | None = None,
              delivery_id: str = "jira-delivery-1", content_type: str = "application/json", token: str | None = None):
    headers = {"Authorization": f"Bearer {raw_jwt(token_claims or claims())}",
               "X-Atlassian-Webhook-Identifier": delivery_id, "Content-Type": content_type}
    return client.post(f"/webhooks/jira/{token or integration.webhook_token}",
                       data=issue_body() if body is None else body, headers=headers)


def stored(db) -> int:
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery))


def test_a_good_jira_delivery_is_accepted(client, db, jira):
    assert post_jira(client, jira).status_code == 202 and stored(db) == 1


# The claims are made when the test runs, not when it is collected: a token's times are only
# good for minutes, and a long suite would otherwise refuse them for being expired.
@pytest.mark.parametrize("case, make_claims, reason", [
    ("no exp", lambda: claims(exp=None), "no expiry"),
    ("exp Infinity", lambda: claims().replace('"exp": ', '"exp": Infinity, "x": '), "claims are not JSON"),
    ("exp NaN", lambda: claims().replace('"exp": ', '"exp": NaN, "x": '), "claims are not JSON"),
    ("exp as text", lambda: claims(exp="2999-01-01"), "exp is not a time"),
    ("expired", lambda: claims(exp=int(time.time()) - 600), "expired"),
    ("a year-3000 expiry", lambda: claims(exp=32503680000), "too far ahead"),
    ("iat in the year 3000", lambda: claims(iat=32503680000), "issued in the future"),
    ("wrong iss", lambda: claims(iss="someone-else"), "issued by someone else"),
    ("no iss", lambda: claims(iss=None), "issued by someone else"),
    ("a qsh for another request", lambda: claims(qsh="0" * 64), "another request"),
])
def test_jira_tokens_with_bad_claims_are_refused(client, db, jira, case, make_claims, reason):
    response = post_jira(client, jira, token_claims=make_claims())
    assert response.status_code == 401, case
    assert reason in response.get_json()["error"]
    assert stored(db) == 0


def test_a_qsh_bound_to_this_request_and_the_context_qsh_are_accepted(client, db, jira, app):
    url = f"http://localhost/webhooks/jira/{jira.webhook_token}"
    assert post_jira(client, jira, token_claims=claims(qsh=jwt_hs256.query_hash("POST", url))).status_code == 202
    assert post_jira(client, jira, token_claims=claims(qsh="context-qsh"), delivery_id="d-2").status_code == 202


@pytest.mark.parametrize("case, body, content_type, status", [
    ("UTF-16", issue_body().decode().encode("utf-16"), "application/json", 400),
    ("UTF-32", issue_body().decode().encode("utf-32"), "application/json", 400),
    ("UTF-8 with a BOM", b"\xef\xbb\xbf" + issue_body(), "application/json", 400),
    ("declared UTF-16", issue_body(), "application/json; charset=utf-16", 415),
    ("form-encoded", b"a=b", "application/x-www-form-urlencoded", 415),
    ("5,000 levels deep", b'{"issue": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", 400),
    ("40 levels deep", b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "application/json", 400),
    ("a JSON array", b"[1, 2]", "application/json", 400),
    ("NaN", b'{"webhookEvent": NaN}', "application/json", 400),
    ("a NUL", b'{"webhookEvent": "jira:issue_updated", "x": "\x00"}', "application/json", 400),
])
def test_bodies_that_are_not_utf8_json_objects_are_refused(client, db, jira, case, body, content_type, status):
    response = post_jira(client, jira, body=body, content_type=content_type)
    assert response.status_code == status, case
    assert stored(db) == 0


@pytest.mark.parametrize("case, payload", [
    ("webhookEvent a number", {"webhookEvent": 7, "issue": {"id": "1", "key": "P-1"}}),
    ("webhookEvent a list", {"webhookEvent": ["x"], "issue": {"id": "1", "key": "P-1"}}),
    ("webhookEvent an object", {"webhookEvent": {"a": 1}}),
    ("issue a list", {"webhookEvent": "jira:issue_updated", "issue": [1]}),
    ("issue id an object", {"webhookEvent": "jira:issue_updated", "issue": {"id": {}, "key": "P-1"}}),
    ("no key", {"webhookEvent": "jira:issue_updated", "issue": {"id": "1"}}),
    ("fields a string", {"webhookEvent": "jira:issue_updated", "issue": {"id": "1", "key": "P-1", "fields": "x"}}),
    ("status a list", {"webhookEvent": "jira:issue_updated",
                       "issue": {"id": "1", "key": "P-1", "fields": {"status": []}}}),
    ("summary a number", {"webhookEvent": "jira:issue_updated",
                          "issue": {"id": "1", "key": "P-1", "fields": {"summary": 5}}}),
    ("accountId a list", {"webhookEvent": "jira:issue_updated",
                          "issue": {"id": "1", "key": "P-1", "fields": {"assignee": {"accountId": []}}}}),
])
def test_deliveries_of_the_wrong_shape_are_refused_before_storing(client, db, jira, case, payload):
    response = post_jira(client, jira, body=json.dumps(payload).encode())
    assert 400 <= response.status_code < 500, case
    assert stored(db) == 0


def test_long_delivery_ids_that_share_a_prefix_do_not_collide(client, db, jira):
    prefix = "x" * 300
    assert post_jira(client, jira, delivery_id=prefix + "-a").status_code == 202
    assert post_jira(client, jira, delivery_id=prefix + "-b").status_code == 202
    assert post_jira(client, jira, delivery_id=prefix + "-a").status_code == 200  # the same one again
    ids = set(db.session.scalars(select(WebhookDelivery.delivery_id)))
    assert len(ids) == 2 and all(value.startswith("sha256:") and len(value) <= 200 for value in ids)


def test_an_id_posing_as_a_digest_is_digested_too():
    long_id = "y" * 500
    posing = webhook_service.stored_delivery_id(long_id)
    assert webhook_service.stored_delivery_id(posing) != posing
    assert webhook_service.stored_delivery_id("short-id") == "short-id"


def test_a_stored_delivery_that_cannot_be_applied_is_failed_with_its_reason_on_the_page(
        client, db, jira, admin_client):
    assert post_jira(client, jira).status_code == 202
    delivery_row = db.session.scalars(select(WebhookDelivery)).one()

    def broken_connector(_integration):
        raise RuntimeError("the site answered with nonsense")

    webhook_processing.process_delivery(delivery_row.id, connector_factory=broken_connector)
    db.session.expire_all()
    delivery_row = db.session.get(WebhookDelivery, delivery_row.id)
    assert delivery_row.processed_at is not None and "the site answered with nonsense" in delivery_row.error
    page = admin_client.get(f"/integrations/{jira.id}").get_data(as_text=True)
    assert "could not be applied" in page and "the site answered with nonsense" in page


def test_head_agrees_with_post_for_a_per_user_integration(client, db, user):
    calendar = Integration(provider="google_calendar", is_global=False, user_id=user.id, status="active")
    db.session.add(calendar)
    db.session.commit()
    address = f"/webhooks/google_calendar/{calendar.webhook_token}"
    # Google Calendar's push notifications arrive here (issue 11): the address is known, and
    # a notification without its channel's token is refused.
    assert client.post(address, data=b"{}", headers={"Content-Type": "application/json"}).status_code == 401
    assert client.head(address).status_code == 200
    unknown = "/webhooks/google_calendar/not-a-token"
    assert client.post(unknown, data=b"").status_code == 404 and client.head(unknown).status_code == 404


def test_the_access_log_names_the_integration_not_the_token(app, client, db, jira, caplog):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="werkzeug")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        body = issue_body()
        connection.request("POST", f"/webhooks/jira/{jira.webhook_token}", body=body, headers={
            "Authorization": f"Bearer {raw_jwt(claims())}", "X-Atlassian-Webhook-Identifier": "logged-1",
            "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        connection.request("POST", "/webhooks/jira/a-guessed-token", body=body,
                           headers={"Content-Type": "application/json"})
        guessed = connection.getresponse()
        guessed.read()
    finally:
        server.shutdown()
    assert response.status == 202 and guessed.status == 404
    assert response.getheader("Server") == "TimeHub"
    assert jira.webhook_token not in caplog.text and "a-guessed-token" not in caplog.text
    assert f"/webhooks/jira/[integration {jira.id}]" in caplog.text
