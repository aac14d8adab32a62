"""The fake Jira Cloud, over loopback, against Jira's official API description:
paging of projects and of the enhanced JQL search, the JQL subset (time zone,
minute precision), worklog validation and properties, lost worklog answers,
dynamic webhooks and their signed deliveries, the rate limit, injected faults
and bearer auth. Every exchange a test makes is validated against the
description (tests/contract.py)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx2
import pytest

from tests.contract import Contract
from tests.fakes.jira import FakeJira
from tests.fakes.paged_provider import Faults
from tests.fakes.server import FakeServer

REDIRECT = "http://127.0.0.1:5000/integrations/jira/callback"
ADF = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Work"}]}]}


def start_jira(**options) -> FakeJira:
    return FakeJira(redirect_uris=(REDIRECT,), **options).__enter__()


@pytest.fixture
def jira():
    fake = start_jira()
    try:
        yield fake
    finally:
        fake.__exit__(None, None, None)


def rest_client(fake: FakeJira, token: str | None = None, site_index: int = 0) -> httpx2.Client:
    return httpx2.Client(base_url=fake.site_api_base(site_index) + "/rest/api/3",
                         headers={"Authorization": f"Bearer {token or fake.issue_token()}"}, timeout=5)


def check_contract(fake: FakeJira, site_index: int = 0, off_contract=lambda recorded: False) -> int:
    """Validate every recorded Jira REST request and answer; the number checked. Exchanges a test
    made outside the description on purpose (`off_contract`) are left out."""
    contract = Contract.for_provider("jira", server_url=fake.site_api_base(site_index))
    checked = 0
    for recorded in fake.api.requests:
        if recorded.path.startswith(contract.base_path + "/"):
            if not off_contract(recorded):
                contract.check_request(recorded)
                contract.check_response(recorded)
                checked += 1
    return checked


def search(client: httpx2.Client, jql: str, **body) -> httpx2.Response:
    return client.post("/search/jql", json={"jql": jql, **body})


def all_keys(client: httpx2.Client, jql: str, **body) -> tuple[list[str], int]:
    """Every issue key the search finds, following nextPageToken; and the number of pages."""
    keys, pages, token = [], 0, None
    while True:
        answer = search(client, jql, **body, **({"nextPageToken": token} if token else {})).json()
        pages += 1
        keys += [issue["key"] for issue in answer["issues"]]
        token = answer.get("nextPageToken")
        assert ("nextPageToken" in answer) is (not answer["isLast"])
        if answer["isLast"]:
            return keys, pages


@pytest.mark.off_description("asks for maxResults=1000, above the described maximum, to prove the fake caps it like Jira")
def test_projects_come_in_pages_ordered_by_key_and_deleted_ones_disappear(jira):
    for number in range(7):
        jira.add_project(f"P{number}", f"Project {number}")
    jira.add_project("ALPHA", "Alpha")
    jira.rename_project("P3", "Renamed")
    jira.delete_project("P5")
    with rest_client(jira) as client:
        first = client.get("/project/search", params={"maxResults": 3}).json()
        second = client.get(first["nextPage"]).json()
        third = client.get(second["nextPage"]).json()
        capped = client.get("/project/search", params={"maxResults": 1000}).json()
        everything = client.get("/project").json()

    assert [p["key"] for p in first["values"]] == ["ALPHA", "P0", "P1"]
    assert (first["total"], first["isLast"], second["startAt"]) == (7, False, 3)
    assert [p["key"] for p in second["values"] + third["values"]] == ["P2", "P3", "P4", "P6"]
    assert third["isLast"] is True and "nextPage" not in third
    assert second["values"][1]["name"] == "Renamed"
    assert capped["maxResults"] == 100 and len(capped["values"]) == 7
    assert len(everything) == 7
    assert check_contract(jira, off_contract=lambda r: r.args.get("maxResults") == "1000") == 4


def test_search_pages_with_an_opaque_token_and_caps_max_results():
    jira = start_jira(max_results=4)
    try:
        jira.add_project("ACME", "Acme")
        jira.add_project("OTHER", "Other")
        for number in range(10):
            jira.add_issue("ACME", f"Task {number}")
        jira.add_issue("OTHER", "Elsewhere")
        with rest_client(jira) as client:
            keys, pages = all_keys(client, "project = acme ORDER BY key ASC", maxResults=50, fields=["summary"])
            first = search(client, "project = ACME ORDER BY key ASC", fields=["summary", "status"]).json()
            bare = search(client, "project in (ACME, OTHER)", maxResults=2).json()
            garbage = search(client, "project = ACME", nextPageToken="not-a-token")
            other_query = search(client, "project = OTHER", nextPageToken=first["nextPageToken"])
            unbounded = search(client, "ORDER BY updated DESC")
            by_get = client.get("/search/jql", params={"jql": "project = OTHER", "fields": "summary,project"}).json()
    finally:
        jira.__exit__(None, None, None)

    assert keys == [f"ACME-{n}" for n in range(1, 11)] and pages == 3     # 4 + 4 + 2: capped at max_results
    assert len(first["issues"]) == 4
    assert set(first["issues"][0]["fields"]) == {"summary", "status"}
    assert first["issues"][0]["fields"]["status"]["statusCategory"]["key"] == "new"
    assert [i["key"] for i in bare["issues"]] == ["OTHER-1", "ACME-10"]  # default order: newest id first
    assert set(bare["issues"][0]) == {"id", "key", "self", "fields"} and bare["issues"][0]["fields"] == {}
    for refused in (garbage, other_query, unbounded):
        assert refused.status_code == 400 and refused.json()["errorMessages"]
    assert by_get["issues"][0]["fields"]["project"] == {"id": jira.projects["OTHER"]["id"], "key": "OTHER",
                                                        "name": "Other"}
    assert check_contract(jira) == 9


def test_updated_filters_read_the_account_time_zone_at_minute_precision():
    jira = start_jira(time_zone="Europe/Berlin")    # UTC+1 in November
    try:
        jira.add_project("ACME", "Acme")
        jira.add_project("B", "Bee")
        at = datetime(2026, 11, 29, 8, 30, 45, 123000, tzinfo=timezone.utc)   # 09:30:45 in Berlin
        jira.add_issue("ACME", "Before", updated=at - timedelta(minutes=1))
        jira.add_issue("ACME", "Within the minute", updated=at)
        jira.add_issue("B", "Later", updated=at + timedelta(hours=2))
        with rest_client(jira) as client:
            from_0930, _ = all_keys(client, 'project in (ACME, "B") AND updated >= "2026/11/29 09:30" '
                                            "order by updated asc")
            from_0931, _ = all_keys(client, f'updated >= "2026-11-29 09:31" and project in ({jira.projects["B"]["id"]}'
                                            ', ACME)')
            whole_day, _ = all_keys(client, 'project = ACME AND updated >= "2026/11/29"')
            utc_reading, _ = all_keys(client, 'project = ACME AND updated >= "2026/11/29 08:30"')
            answer = search(client, "project = ACME ORDER BY updated ASC", fields=["updated"]).json()
            bad = [search(client, jql) for jql in ('project = ACME AND updated >= "2026/11/29 09:30:00"',
                                                   "project = ACME OR project = B", "summary ~ boiler",
                                                   "project = NOPE", 'project = ACME AND updated >= "yesterday"',
                                                   "project in (ACME", "project = ACME ORDER BY summary")]
    finally:
        jira.__exit__(None, None, None)

    assert from_0930 == ["ACME-2", "B-1"]           # 09:30:45 counts as 09:30; 09:29:45 does not
    assert from_0931 == ["B-1"]
    assert whole_day == ["ACME-2", "ACME-1"]
    assert utc_reading == ["ACME-2", "ACME-1"]      # 08:30 Berlin is hours earlier: both match
    assert answer["issues"][1]["fields"]["updated"] == "2026-11-29T09:30:45.123+0100"
    for refused in bad:
        assert refused.status_code == 400
        assert set(refused.json()) == {"errorMessages", "errors"} and refused.json()["errorMessages"]
    assert check_contract(jira) == 12


def test_issue_changes_moves_and_deletions_show_in_search_and_get(jira):
    jira.add_project("ACME", "Acme")
    jira.add_project("NEW", "New home")
    jira.add_user("5b10ac8d82e05b22cc7d4ef5", "Ada Admin", "ada@example.com")
    jira.add_user("5b10ac8d82e05b22cc7d4ef6", "Hidden Hal")
    jira.add_status("Review", "indeterminate")
    moved = jira.add_issue("ACME", "Will move", assignee="5b10ac8d82e05b22cc7d4ef6")
    kept = jira.add_issue("ACME", "Stays", updated=datetime(2026, 1, 1, tzinfo=timezone.utc))
    gone = jira.add_issue("ACME", "Goes away")
    jira.update_issue(kept["key"], summary="Stays, renamed", status="Review", assignee="5b10ac8d82e05b22cc7d4ef5")
    after_move = jira.move_issue(moved["key"], "NEW")
    jira.delete_issue(gone["key"])
    with rest_client(jira) as client:
        by_old_key = client.get(f"/issue/{moved['key']}", params={"fields": "summary,project"}).json()
        updated = client.get(f"/issue/{kept['id']}").json()
        missing = client.get(f"/issue/{gone['key']}")
        acme, _ = all_keys(client, "project = ACME")
        users = client.get("/users/search", params={"maxResults": 2}).json()
        found = client.get("/user/search", params={"query": "ada"}).json()
        myself = client.get("/myself").json()
        statuses = client.get("/status").json()

    assert after_move["id"] == moved["id"] and after_move["key"] == "NEW-1"
    assert (by_old_key["key"], by_old_key["fields"]["project"]["key"]) == ("NEW-1", "NEW")
    assert updated["fields"]["summary"] == "Stays, renamed"
    assert updated["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
    assert updated["fields"]["assignee"]["emailAddress"] == "ada@example.com"
    assert updated["fields"]["updated"] > "2026-11-01"
    assert missing.status_code == 404
    assert acme == ["ACME-2"]
    assert [u["displayName"] for u in users] == ["Fran Fake", "Ada Admin"]
    assert [u["accountId"] for u in found] == ["5b10ac8d82e05b22cc7d4ef5"]
    assert "emailAddress" not in client_user(jira, "5b10ac8d82e05b22cc7d4ef6")
    assert set(myself) >= {"accountId", "emailAddress", "displayName", "timeZone", "active", "accountType"}
    assert {s["name"]: s["statusCategory"]["key"] for s in statuses} == {
        "To Do": "new", "In Progress": "indeterminate", "Done": "done", "Review": "indeterminate"}
    assert check_contract(jira) == 9


def client_user(jira: FakeJira, account_id: str) -> dict:
    with rest_client(jira) as client:
        return client.get("/user/search", params={"accountId": account_id}).json()[0]


@pytest.mark.off_description("sends a worklog with a malformed started time to prove the fake refuses it like Jira")
def test_worklogs_are_validated_like_jira_and_go_with_their_issue(jira):
    jira.add_project("ACME", "Acme")
    issue = jira.add_issue("ACME", "Billable")
    good = {"timeSpentSeconds": 5400, "started": "2026-11-29T09:00:00.000+0100", "comment": ADF}
    with rest_client(jira) as client:
        path = f"/issue/{issue['key']}/worklog"
        created = client.post(path, json=good)
        refusals = [client.post(path, json={**good, "timeSpentSeconds": 59}),
                    client.post(path, json={**good, "started": "2026-11-29T09:00:00+01:00"}),
                    client.post(path, json={**good, "started": "2026-11-29 09:00"}),
                    client.post(path, json={**good, "comment": "plain text"}),
                    client.post(path, json={**good, "comment": {**ADF, "content": [{"TYPE": "paragraph"}]}}),
                    client.post(path, json={**good, "comment": {**ADF, "content": [
                        {"type": "paragraph", "content": [{"type": "text", "TEXT": "no text"}]}]}})]
        worklog_id = created.json()["id"]
        changed = client.put(f"{path}/{worklog_id}", json={"timeSpentSeconds": 28800 + 1800})
        bad_change = client.put(f"{path}/{worklog_id}", json={"timeSpentSeconds": 30})
        listed = client.get(path).json()
        started_0800_utc = int(datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc).timestamp() * 1000)
        after_start = client.get(path, params={"startedAfter": started_0800_utc + 1}).json()
        unknown = client.put(f"{path}/999999", json=good)
        on_missing_issue = client.post("/issue/NOPE-1/worklog", json=good)
        second = client.post(path, json=good).json()
        deleted = client.delete(f"{path}/{second['id']}")
        again = client.delete(f"{path}/{second['id']}")

    assert created.status_code == 201
    body = created.json()
    assert (body["issueId"], body["timeSpentSeconds"], body["timeSpent"]) == (issue["id"], 5400, "1h 30m")
    assert body["author"]["accountId"] == jira.me["accountId"] and body["comment"] == ADF
    assert [r.status_code for r in refusals] == [400] * 6
    assert "timeLogged" in refusals[0].json()["errors"] and "started" in refusals[1].json()["errors"]
    assert all("comment" in refusal.json()["errors"] for refusal in refusals[3:])  # not ADF: nodes need types, text
    assert (changed.status_code, changed.json()["timeSpent"]) == (200, "1d 30m")
    assert bad_change.status_code == 400
    assert listed["total"] == 1 and listed["worklogs"][0]["timeSpentSeconds"] == 30600
    assert after_start["worklogs"] == []            # 09:00 in UTC+1 started at 08:00 UTC
    assert (unknown.status_code, on_missing_issue.status_code) == (404, 404)
    assert (deleted.status_code, again.status_code) == (204, 404)
    assert [w["id"] for w in jira.worklogs_of(issue["key"])] == [worklog_id]
    jira.delete_issue(issue["key"])
    assert issue["id"] not in jira.worklogs
    # The description itself refuses a `started` that is no date-time at all.
    # (The two comments that are not ADF keep the description: its comment is any object.)
    assert check_contract(jira, off_contract=lambda r: b'"2026-11-29 09:00"' in r.body) == 15


def test_worklog_properties_are_kept_and_served_under_expand(jira):
    jira.add_project("ACME", "Acme")
    issue = jira.add_issue("ACME", "Tracked")
    good = {"timeSpentSeconds": 600, "started": "2026-11-29T09:00:00.000+0000"}
    mine = {"key": "timehub", "value": {"entry_id": 7}}
    with rest_client(jira) as client:
        path = f"/issue/{issue['key']}/worklog"
        created = client.post(path, params={"expand": "properties"}, json={**good, "properties": [mine]})
        worklog_id = created.json()["id"]
        plain = client.post(path, json=good).json()
        listed_bare = client.get(path).json()["worklogs"]
        listed = client.get(path, params={"expand": "properties"}).json()["worklogs"]
        other = {"key": "other", "value": "x"}
        changed = client.put(f"{path}/{worklog_id}", params={"expand": "properties"},
                             json={"properties": [other, {"key": "timehub", "value": {"entry_id": 8}}]})
        after_change = client.get(path, params={"expand": "properties"}).json()["worklogs"][0]
        refused = client.post(path, json={**good, "properties": [{"key": "no value"}]})
        deleted = client.delete(f"{path}/{worklog_id}")

    assert created.status_code == 201 and created.json()["properties"] == [mine]
    assert "properties" not in plain and all("properties" not in w for w in listed_bare)
    assert [w["properties"] for w in listed] == [[mine], []]
    assert changed.json()["properties"] == after_change["properties"] == [
        {"key": "timehub", "value": {"entry_id": 8}}, other]   # a PUT sets the keys it names
    assert refused.status_code == 400 and "properties" in refused.json()["errors"]
    assert deleted.status_code == 204 and worklog_id not in jira.worklog_properties
    assert jira.created_worklogs == [worklog_id, plain["id"]]   # deleted ones stay on this record
    assert check_contract(jira) == 8


def test_a_lost_worklog_answer_leaves_the_worklog_created(jira):
    jira.add_project("ACME", "Acme")
    issue = jira.add_issue("ACME", "Flaky line")
    good = {"timeSpentSeconds": 600, "started": "2026-11-29T09:00:00.000+0000",
            "properties": [{"key": "timehub", "value": {"entry_id": 1}}]}
    jira.lose_worklog_answers = 1
    with rest_client(jira) as client:
        path = f"/issue/{issue['key']}/worklog"
        refused = client.post(path, json={**good, "timeSpentSeconds": 1})   # nothing created: answered
        with pytest.raises(httpx2.TransportError):
            client.post(path, json=good)
        [lost] = jira.worklogs_of(issue["key"])
        found = client.get(path, params={"expand": "properties"}).json()["worklogs"]
        answered = client.post(path, json=good)

    assert refused.status_code == 400 and jira.lose_worklog_answers == 0
    assert [(w["id"], w["properties"]) for w in found] == [(lost["id"], good["properties"])]
    assert answered.status_code == 201 and len(jira.worklogs_of(issue["key"])) == 2
    # The fake wrote its 201 for the lost one too: it is recorded, and within the description.
    assert [r.status for r in jira.api.requests if r.method == "POST"] == [400, 201, 201]
    assert check_contract(jira) == 4


def test_while_listing_runs_once_between_search_pages(jira):
    jira.add_project("ACME", "Acme")
    for number in range(3):
        jira.add_issue("ACME", f"Issue {number}")
    jira.while_listing = lambda: jira.update_issue("ACME-3", summary="Changed meanwhile")
    with rest_client(jira) as client:
        first = search(client, "project = ACME ORDER BY key ASC", maxResults=2, fields=["summary"]).json()
        second = search(client, "project = ACME ORDER BY key ASC", maxResults=2, fields=["summary"],
                        nextPageToken=first["nextPageToken"]).json()
    assert [i["fields"]["summary"] for i in first["issues"]] == ["Issue 0", "Issue 1"]
    assert [i["fields"]["summary"] for i in second["issues"]] == ["Changed meanwhile"]
    assert jira.while_listing is None
    assert check_contract(jira) == 2


def receiver() -> tuple[FakeServer, list[dict]]:
    """A loopback webhook receiver that records each delivery's headers and body."""
    received: list[dict] = []

    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        received.append({"authorization": environ.get("HTTP_AUTHORIZATION", ""),
                         "identifier": environ.get("HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER"),
                         "retry": environ.get("HTTP_X_ATLASSIAN_WEBHOOK_RETRY"),
                         "content_type": environ.get("CONTENT_TYPE"),
                         "body": json.loads(environ["wsgi.input"].read(length))})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]
    return FakeServer(app), received


def jwt_claims(token: str, secret: str) -> dict | None:
    """The claims of an HS256 JWT when its signature verifies with `secret`, else None."""
    header, payload, signature = token.split(".")
    expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    if not hmac.compare_digest(expected, given):
        return None
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_dynamic_webhooks_register_refresh_deliver_signed_and_expire(jira):
    jira.add_project("ACME", "Acme")
    jira.add_project("SIDE", "Side")
    server, received = receiver()
    with server, rest_client(jira) as client:
        url = server.base_url + "/hooks/jira"
        registered = client.post("/webhook", json={"url": url, "webhooks": [
            {"events": ["jira:issue_created", "jira:issue_updated"], "jqlFilter": "project = ACME"},
            {"events": ["jira:issue_deleted"], "jqlFilter": "project in (ACME, SIDE) AND issuetype = Task"},
            {"events": ["jira:issue_updated"], "jqlFilter": "summary ~ boiler"}]}).json()
        results = registered["webhookRegistrationResult"]
        ids = [r["createdWebhookId"] for r in results[:2]]
        listed = client.get("/webhook").json()

        jira.auto_webhooks = True
        acme = jira.add_issue("ACME", "Hooked")
        jira.add_issue("SIDE", "Not for the first webhook")      # no created-webhook on SIDE
        jira.auto_webhooks = False
        forged = jira.send_webhook("jira:issue_updated", acme["key"], secret="not-the-secret")
        replay = jira.send_webhook("jira:issue_updated", acme["key"], identifier=received[0]["identifier"])
        jira.delete_issue(acme["key"])
        deleted = jira.send_webhook("jira:issue_deleted", acme["key"])

        jira.expire_webhooks()
        expired = jira.send_webhook("jira:issue_deleted", acme["key"])
        refreshed = client.put("/webhook/refresh", json={"webhookIds": ids}).json()
        revived = jira.send_webhook("jira:issue_deleted", acme["key"])
        removed = client.request("DELETE", "/webhook", json={"webhookIds": ids})
        after_delete = client.get("/webhook").json()

    assert "errors" in results[2] and len(ids) == 2
    assert [w["id"] for w in listed["values"]] == ids and listed["values"][0]["url"] == url
    assert listed["values"][0]["expirationDate"] > (datetime.now(timezone.utc) + timedelta(days=29)).timestamp() * 1000
    assert (forged, replay, deleted, expired, revived) == (200, 200, 200, None, 200)
    assert len(received) == 5
    first = received[0]
    assert first["body"]["webhookEvent"] == "jira:issue_created" and first["body"]["matchedWebhookIds"] == [ids[0]]
    assert first["body"]["issue"]["key"] == "ACME-1" and first["body"]["issue"]["fields"]["summary"] == "Hooked"
    assert (first["retry"], first["content_type"]) == ("0", "application/json")
    token = first["authorization"].removeprefix("Bearer ")
    claims = jwt_claims(token, "jira-secret")
    assert claims is not None and claims["iss"] == "jira-client" and claims["exp"] > claims["iat"]
    assert jwt_claims(token, "another-secret") is None
    assert jwt_claims(received[1]["authorization"].removeprefix("Bearer "), "jira-secret") is None
    assert received[2]["identifier"] == first["identifier"] != received[3]["identifier"]
    assert received[3]["body"]["webhookEvent"] == "jira:issue_deleted"
    assert received[3]["body"]["matchedWebhookIds"] == [ids[1]]
    assert refreshed["expirationDate"] > datetime.now(timezone.utc).timestamp() * 1000
    assert removed.status_code == 202 and after_delete["values"] == []
    assert check_contract(jira) == 5


def test_rate_limit_answers_429_with_retry_after_and_bad_tokens_401():
    jira = start_jira(rate_limit=(3, 60.0))
    try:
        with rest_client(jira) as client:
            answers = [client.get("/myself") for _ in range(4)]
        with rest_client(jira, token="not-a-token") as stranger:
            jira.rate_limit = None
            refused = stranger.get("/myself")
            wrong_site = rest_client(jira).get(jira.site_api_base().rsplit("/", 1)[0] + "/nope/rest/api/3/myself")
    finally:
        jira.__exit__(None, None, None)

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert (refused.status_code, refused.json()) == (401, {"code": 401, "message": "Unauthorized"})
    assert wrong_site.status_code == 404
    # Jira answers 429 on any call, but the description lists it for few of them.
    assert check_contract(jira, off_contract=lambda r: r.status == 429) == 4


def test_faults_strike_before_the_call_so_a_failed_post_creates_nothing():
    jira = start_jira(faults=Faults(rate=0.5, kinds=("error", "rate_limit", "reset")))
    try:
        jira.add_project("ACME", "Acme")
        issue = jira.add_issue("ACME", "Flaky")
        good = {"timeSpentSeconds": 60, "started": "2026-11-29T09:00:00.000+0000"}
        outcomes = []
        with rest_client(jira) as client:
            for _ in range(30):
                try:
                    outcomes.append(client.post(f"/issue/{issue['key']}/worklog", json=good).status_code)
                except httpx2.TransportError:
                    outcomes.append("reset")
        # The accessible-resources call is not a REST path: never faulted.
        token = jira.issue_token()
        resources = [httpx2.get(jira.api.base_url + "/oauth/token/accessible-resources",
                                headers={"Authorization": f"Bearer {token}"}).status_code for _ in range(5)]
    finally:
        jira.__exit__(None, None, None)

    assert {500, 502, 503, 429, "reset"} & set(outcomes) and 201 in outcomes
    assert len(jira.worklogs_of(issue["key"])) == outcomes.count(201)
    assert resources == [200] * 5


def test_concurrent_worklog_posts_all_land(jira):
    jira.add_project("ACME", "Acme")
    issue = jira.add_issue("ACME", "Busy")
    token = jira.issue_token()
    statuses: list[int] = []

    def post_some() -> None:
        with rest_client(jira, token) as client:
            for _ in range(5):
                statuses.append(client.post(f"/issue/{issue['id']}/worklog", json={
                    "timeSpentSeconds": 600, "started": "2026-11-29T09:00:00.000+0000"}).status_code)

    threads = [threading.Thread(target=post_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [w["id"] for w in jira.worklogs_of(issue["key"])]
    assert statuses == [201] * 20 and len(set(ids)) == 20


def test_second_site_is_served_and_times_are_written_like_jira(jira):
    from tests.fakes.atlassian import site
    jira.sites.append(site("beta"))
    jira.add_project("ACME", "Acme")
    with rest_client(jira, site_index=1) as client:
        answer = client.get("/project/search").json()
    assert answer["values"][0]["self"].startswith(jira.site_api_base(1))
    assert check_contract(jira, site_index=1) == 1
    berlin = datetime(2026, 11, 29, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    from tests.fakes.jira_jql import jira_time
    assert jira_time(berlin, "UTC") == "2026-11-29T08:00:00.000+0000"
