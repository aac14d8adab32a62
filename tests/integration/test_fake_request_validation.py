"""The fakes check every request they receive against the provider's API description
(tests/fakes/server.py), and are as strict about credentials and scopes as the providers.

These tests prove the checks themselves: a request off the description fails the test
(through the fake's own exit, or the autouse fixture of tests/conftest.py), an unknown
query parameter counts, the gateway's own calls are not judged by Jira's description,
and a missing description skips the checks with a reason instead of failing."""
from __future__ import annotations

import json

import httpx2
import pytest

import tests.contract
from tests.contract import Description, require_spec
from tests.fakes.atlassian import JIRA_SCOPES, SCOPES_NEEDED, scopes_needed
from tests.fakes.jira import FakeJira
from tests.fakes.paged_provider import PagedProvider
from tests.fakes.server import CHECKS, DescriptionViolation
from tests.fakes.trello import FakeTrello
from tests.fakes.xero import FakeXero

REDIRECT = "http://127.0.0.1:5000/integrations/jira/callback"


def jira_rest(fake: FakeJira, token: str | None = None) -> httpx2.Client:
    return httpx2.Client(base_url=fake.site_api_base() + "/rest/api/3",
                         headers={"Authorization": f"Bearer {token or fake.issue_token()}"}, timeout=5)


def test_an_unknown_query_parameter_fails_the_test_when_the_fake_stops():
    require_spec("jira")
    with pytest.raises(DescriptionViolation, match="query parameter 'maxResult' is not in the description"):
        with FakeJira(redirect_uris=(REDIRECT,)) as jira:
            jira.add_project("ACME", "Acme")
            with jira_rest(jira) as rest:
                answer = rest.get("/project/search", params={"maxResult": 5})  # misspelt: Jira ignores it
            assert answer.status_code == 200  # the fake answers as Jira would; the check is separate
            assert len(jira.api.violations) == 1
    assert CHECKS.unreported == []  # raised once, by the fake, not again by the fixture


def test_a_body_off_the_description_is_a_violation_and_a_valid_call_is_not():
    require_spec("jira")
    with pytest.raises(DescriptionViolation, match="timeSpentSeconds|InvalidRequestBody"):
        with FakeJira(redirect_uris=(REDIRECT,)) as jira:
            jira.add_project("ACME", "Acme")
            issue = jira.add_issue("ACME", "Boiler")
            with jira_rest(jira) as rest:
                good = rest.post(f"/issue/{issue['key']}/worklog",
                                 json={"timeSpentSeconds": 60, "started": "2026-11-29T09:00:00.000+0000"})
                rest.post(f"/issue/{issue['key']}/worklog", json={"timeSpentSeconds": "1h"})
            assert good.status_code == 201
            assert len(jira.api.violations) == 1


def test_the_gateways_own_calls_are_not_judged_by_jiras_description():
    require_spec("jira")
    with FakeJira(redirect_uris=(REDIRECT,)) as jira:
        answer = httpx2.get(jira.api.base_url + "/oauth/token/accessible-resources", params={"anything": "1"},
                            headers={"Authorization": f"Bearer {jira.issue_token()}"})
        assert answer.status_code == 200
        assert jira.api.violations == []


def test_xero_connections_are_checked_against_the_identity_description():
    require_spec("xero-identity")
    with pytest.raises(DescriptionViolation, match="'tenantId' is not in the description"):
        with FakeXero(redirect_uris=("http://localhost/cb",)) as xero:
            grant_token = xero_token(xero)
            headers = {"Authorization": f"Bearer {grant_token}"}
            assert httpx2.get(xero.api.base_url + "/Connections", headers=headers).status_code == 200
            assert xero.api.violations == []
            httpx2.get(xero.api.base_url + "/Connections", params={"tenantId": "x"}, headers=headers)


def xero_token(xero: FakeXero) -> str:
    """A live access token of the fake Xero, issued as its token endpoint would."""
    from tests.fakes.oauth_provider import _Grant
    oauth = xero.oauth
    with oauth._lock:
        grant = _Grant(id=len(oauth._grants) + 1, client_id=oauth.client_id, scope="openid offline_access",
                       refresh_token="r")
        oauth._grants[grant.id] = grant
        return oauth._issue(grant, include_refresh=True)["access_token"]


def test_trello_requests_are_checked_with_an_unknown_parameter_counting():
    require_spec("trello")
    with pytest.raises(DescriptionViolation, match="'fieldz' is not in the description"):
        with FakeTrello() as trello:
            member = trello.add_member("Tess Trello", "tess")
            key, token = trello.add_credentials(member)
            answer = httpx2.get(trello.api_base + "/members/me", params={"key": key, "token": token, "fieldz": "id"})
            assert answer.status_code == 200


def test_a_violation_the_fake_does_not_raise_fails_the_test_through_the_fixture():
    """A fake left running (never stopped normally) still cannot let its violations pass: the
    autouse fixture finds them. Here they are taken before it looks, to keep this test green."""
    require_spec("jira")
    jira = FakeJira(redirect_uris=(REDIRECT,)).__enter__()
    try:
        with jira_rest(jira) as rest:
            rest.get("/myself", params={"unknown": "1"})
    finally:
        jira.__exit__(RuntimeError, RuntimeError("the test failed"), None)  # an exit under an exception
    assert [line.split(": ", 1)[0] for line in CHECKS.unreported] == ["jira"]
    assert len(CHECKS.take()) == 1


@pytest.mark.off_description("proves that the stated reason waives the check for this test")
def test_a_test_that_states_its_reason_may_send_off_description_requests():
    require_spec("jira")
    with FakeJira(redirect_uris=(REDIRECT,)) as jira:
        with jira_rest(jira) as rest:
            rest.get("/myself", params={"unknown": "1"})
        assert len(jira.api.violations) == 1   # still recorded on the fake, for the test to look at
    assert CHECKS.unreported == []


def test_without_the_descriptions_the_check_is_skipped_with_a_one_line_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(tests.contract, "SPECS_DIR", tmp_path / "absent")
    description = Description("jira", "https://fake.atlassian.net")
    reason = description.unavailable()
    assert reason is not None and "\n" not in reason and "absent" in reason
    with FakeJira(redirect_uris=(REDIRECT,)) as jira:
        with jira_rest(jira) as rest:
            rest.get("/myself", params={"unknown": "1"})
        assert jira.api.violations == []


# -- auth as strict as the providers ------------------------------------------------


def test_the_scope_table_of_the_fake_is_the_descriptions():
    spec = json.loads(require_spec("jira").read_text())
    for path, operations in spec["paths"].items():
        concrete = path.replace("{issueIdOrKey}", "ACME-1").replace("{id}", "10001")
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "delete"):
                continue
            described = {scope for option in operation.get("security", []) for scope in option.get("OAuth2", [])}
            assert scopes_needed(method.upper(), concrete) == described, f"{method.upper()} {path}"
    assert SCOPES_NEEDED  # and no row of the table is left without an operation of the description:
    for method, pattern, _ in SCOPES_NEEDED:
        assert any(m.upper() == method and pattern.fullmatch(p.replace("{issueIdOrKey}", "A-1").replace("{id}", "1"))
                   for p, ops in spec["paths"].items() for m in ops), pattern.pattern


def test_a_token_without_a_scope_is_refused_like_atlassian_refuses_it():
    with FakeJira(redirect_uris=(REDIRECT,)) as jira:
        jira.add_project("ACME", "Acme")
        issue = jira.add_issue("ACME", "Boiler")
        read_only = jira.issue_token([s for s in JIRA_SCOPES if s != "write:jira-work"])
        with jira_rest(jira, read_only) as rest:
            assert rest.get(f"/issue/{issue['key']}/worklog").status_code == 200
            refused = rest.post(f"/issue/{issue['key']}/worklog",
                                json={"timeSpentSeconds": 60, "started": "2026-11-29T09:00:00.000+0000"})
        assert (refused.status_code, refused.json()) == (401, {"code": 401,
                                                               "message": "Unauthorized; scope does not match"})
        assert jira.worklogs_of(issue["key"]) == []
        no_hooks = jira.issue_token([s for s in JIRA_SCOPES if s != "manage:jira-webhook"])
        with jira_rest(jira, no_hooks) as rest:
            assert rest.get("/webhook").status_code == 401
        no_users = jira.issue_token([s for s in JIRA_SCOPES if s != "read:jira-user"])
        with jira_rest(jira, no_users) as rest:
            assert rest.get("/myself").status_code == 401
            assert rest.get("/project").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "paged-token"}])
def test_the_paged_fake_refuses_a_missing_or_wrong_bearer_token(headers):
    with PagedProvider(records=3) as fake:
        refused = httpx2.get(fake.url + "/cursor/items", headers=headers)
        created = httpx2.post(fake.url + "/items", json={"title": "x"}, headers=headers)
        served = httpx2.get(fake.url + "/cursor/items", headers={"Authorization": "Bearer paged-token"})
    assert (refused.status_code, refused.json()) == (401, {"message": "unauthorized"})
    assert created.status_code == 401 and fake.created == []
    assert served.status_code == 200 and len(served.json()["data"]) == 3
    assert fake.stats.unauthorized == 2
