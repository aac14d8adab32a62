"""Jira Data Center end to end, over real HTTP to the fake Data Center (tests/fakes/jira_datacenter.py).

The app reaches the fake only through what an admin has: the JIRA_DATACENTER_* endpoint
variables and the setup page's values (base URL, OAuth app or personal access token).
Every request the connector sends is validated against the description written from
Atlassian's Data Center REST reference (tests/fixtures/jira-datacenter/openapi.json).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.integrations import jira_datacenter as dc
from app.integrations import registry
from app.integrations.exchange import WebhookRejected
from app.models import ExternalLink, Integration, ProviderApp
from app.services import time_service
from app.services.connections import connector_for
from app.services.integration_service import IntegrationError, IntegrationService
from app.services.sync_service import push_pending, run_sync
from app.services.time_service import EntryFields
from tests import tracker_harness as harness
from tests.conftest import post_form
from tests.fakes.jira_datacenter import FakeJiraDataCenter, hub_signature
from tests.oauth_steps import connect
from tests.tracker_harness import (  # noqa: F401 (live_app is a fixture)
    live_app,
    oauth_fake_fixture,
    outbox,
    process_deliveries,
    retry_now,
    sync,
    tasks_by_key,
)

SLUG = "jira_datacenter"
BASE_URL = "https://jira.example.com"
start_jira_datacenter = oauth_fake_fixture(FakeJiraDataCenter, SLUG)
MORNING = datetime(2026, 11, 25, 8, 0)   # naive UTC; 09:00 in Paris


def save_setup(admin, fake: FakeJiraDataCenter | None, **values) -> ProviderApp:
    """The setup page's save: the base URL, and the OAuth app unless connecting with a token."""
    app_values = {"client_id": fake.oauth.client_id, "client_secret": fake.oauth.client_secret} if fake else {}
    return IntegrationService().save_app_credentials(admin, SLUG, {"base_url": BASE_URL, "access": "ADMIN",
                                                                   **app_values, **values})


def current(db) -> Integration:
    return harness.current(db, SLUG)


def connect_with_oauth(db, admin, admin_client, fake: FakeJiraDataCenter, **values) -> Integration:
    save_setup(admin, fake, **values)
    response = connect(admin_client, SLUG)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    integration = current(db)
    assert integration.status == "active"
    return integration


def connect_with_token(db, admin, admin_client, fake: FakeJiraDataCenter) -> Integration:
    """The setup page without an OAuth app, then the personal-access-token form."""
    save_setup(admin, None)
    token = fake.personal_token(fake.me["key"])
    assert post_token(admin_client, token).status_code == 302
    integration = current(db)
    assert integration.status == "active", integration.last_error
    assert token not in (integration.credential.ciphertext or "")
    return integration


def post_token(client, token: str):
    """The setup page's personal-access-token form, as a browser sends it."""
    return post_form(client, f"/admin/integrations/{SLUG}/token", {"token": token}, page=f"/admin/integrations/{SLUG}")


def allow(db, integration: Integration, fake: FakeJiraDataCenter, keys: list[str]) -> None:
    harness.allow(db, integration, [fake.projects[key]["id"] for key in keys])


def rest_calls(fake: FakeJiraDataCenter, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.api.requests[since:]]


def check_contract(fake: FakeJiraDataCenter) -> int:
    return harness.check_contract(SLUG, fake.api.requests, server_url=fake.base_url, answers_checked=None)


def seeded(fake: FakeJiraDataCenter) -> None:
    fake.add_project("ACME", "Acme")
    fake.add_project("BETA", "Beta")
    for number in range(3):
        fake.add_issue("ACME", f"Acme {number}")
        fake.add_issue("BETA", f"Beta {number}")


# -- set-up and auth -----------------------------------------------------------------------------

def test_every_endpoint_hangs_off_the_base_url_entered_on_the_setup_page():
    endpoints = registry.get_spec(SLUG).endpoints({"base_url": "https://jira.example.com/"})
    assert endpoints.authorize_url == "https://jira.example.com/rest/oauth2/latest/authorize"
    assert endpoints.token_url == "https://jira.example.com/rest/oauth2/latest/token"
    assert endpoints.api_base == "https://jira.example.com"
    assert dc.JiraDataCenterConnector.oauth_authorize_params({"access": "ADMIN"}) == {"scope": "ADMIN"}
    assert dc.JiraDataCenterConnector.oauth_authorize_params({"access": "SYSTEM_ADMIN"}) == {"scope": "WRITE"}


@pytest.mark.parametrize("base_url, problem", [
    ("http://jira.example.com", "https://"),
    ("jira.example.com", "https://"),
    ("https://jira.example.com/?x=1", "without a query"),
    ("https://" + "j" * 250 + ".example.com", "at most 200"),
])
def test_a_base_url_that_is_not_https_or_too_long_is_refused_with_a_clear_error(db, admin, admin_client,
                                                                                base_url, problem):
    with pytest.raises(IntegrationError) as refused:
        IntegrationService().save_app_credentials(admin, SLUG, {"base_url": base_url})
    assert problem in refused.value.field_errors["base_url"]
    assert db.session.scalars(select(ProviderApp)).all() == []
    response = post_form(admin_client, f"/admin/integrations/{SLUG}", {"base_url": base_url, "access": "WRITE"},
                         page=f"/admin/integrations/{SLUG}")
    assert response.status_code == 422 and problem in response.get_data(as_text=True)


def test_oauth_connects_through_the_token_endpoint_with_the_chosen_scope_and_pkce(db, admin, admin_client,
                                                                                  start_jira_datacenter):
    fake = start_jira_datacenter()
    integration = connect_with_oauth(db, admin, admin_client, fake)
    assert integration.account_label == fake.me["displayName"]
    assert integration.connection_facts["base_url"] == BASE_URL
    [grant] = fake.oauth.active_grants()
    assert grant.scope == "ADMIN"
    assert fake.oauth.client_secret not in (integration.credential.ciphertext or "")
    assert rest_calls(fake) == ["GET /rest/api/2/myself"]
    assert fake.api.requests[0].headers["authorization"].startswith("Bearer ")
    assert check_contract(fake) == 1


def test_a_personal_access_token_connects_as_bearer_and_a_refused_one_saves_nothing(db, admin, admin_client,
                                                                                    start_jira_datacenter):
    fake = start_jira_datacenter()
    save_setup(admin, None)
    assert post_token(admin_client, "not-a-token").status_code == 302
    assert current(db).credential is None
    assert fake.api.requests[-1].status == 401
    assert json.loads(fake.api.requests[-1].response_body)["errorMessages"]

    cards = admin_client.get("/integrations").get_data(as_text=True)
    assert f'/integrations/{SLUG}/connect' not in cards    # no OAuth app saved: no OAuth button
    integration = connect_with_token(db, admin, admin_client, fake)
    assert integration.account_label == fake.me["displayName"]
    page = admin_client.get(f"/admin/integrations/{SLUG}").get_data(as_text=True)
    assert "Connect with the token" in page and fake.me["displayName"] in page
    assert all(token not in page for token in fake.personal_tokens)
    fake.add_project("ACME", "Acme")
    fake.add_issue("ACME", "By token")
    allow(db, integration, fake, ["ACME"])
    sync(integration)
    assert tasks_by_key(db)["ACME-1"].title == "By token"
    tokens = {r.headers["authorization"] for r in fake.api.requests if r.status == 200}
    assert tokens == {f"Bearer {next(iter(fake.personal_tokens))}"}
    check_contract(fake)


def test_only_admins_connect_with_a_token_and_the_form_needs_its_csrf_token(db, admin, admin_client, user,
                                                                           user_client, start_jira_datacenter):
    fake = start_jira_datacenter()
    save_setup(admin, None)
    token = fake.personal_token(fake.me["key"])
    assert post_form(user_client, f"/admin/integrations/{SLUG}/token", {"token": token}).status_code == 403
    assert admin_client.post(f"/admin/integrations/{SLUG}/token", data={"token": token}).status_code == 400  # no CSRF
    assert current(db).credential is None
    assert post_token(admin_client, "x" * 501).status_code == 302   # too long: refused, never a 500
    assert current(db).credential is None
    assert fake.api.requests == []


# -- import ----------------------------------------------------------------------------------------

def test_an_import_pages_by_start_at_at_the_capped_page_size_in_the_fewest_requests(db, admin, admin_client,
                                                                                    make_user, start_jira_datacenter):
    fake = start_jira_datacenter()
    ann = make_user("ann@example.com", name="Ann")
    fake.add_user("ann", "Ann DC", "ANN@example.com")
    fake.add_project("ACME", "Acme")
    fake.add_project("SKIP", "Not allowed")
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for number in range(120):
        fake.add_issue("ACME", f"Acme {number}", updated=start + timedelta(minutes=number),
                       assignee="ann" if number == 0 else None, status="Done" if number == 1 else "To Do")
    fake.add_issue("SKIP", "Never")
    integration = connect_with_oauth(db, admin, admin_client, fake)
    allow(db, integration, fake, ["ACME"])
    fake.api.clear()

    run = sync(integration)

    assert run.created == 121  # the project and its 120 issues
    tasks = tasks_by_key(db)
    assert len(tasks) == 120 and "SKIP-1" not in tasks
    assert (tasks["ACME-1"].assignee_id, tasks["ACME-2"].status) == (ann.id, "done")
    assert tasks["ACME-1"].external_url == f"{BASE_URL}/browse/ACME-1"
    searches = [r for r in fake.api.requests if r.path == "/rest/api/2/search"]
    assert [(r.args["startAt"], r.args["maxResults"]) for r in searches] == [("0", "50"), ("50", "50"), ("100", "50")]
    assert "ORDER BY created ASC" in searches[0].args["jql"]
    assert check_contract(fake) == len(fake.api.requests)

    since = len(fake.api.requests)
    fake.update_issue("ACME-3", summary="Changed")
    run = sync(current(db))                 # incremental: one page of what changed
    assert run.updated == 1 and tasks_by_key(db)["ACME-3"].title == "Changed"
    assert len([c for c in rest_calls(fake, since) if c == "GET /rest/api/2/search"]) == 1


def test_a_server_that_repeats_a_search_page_stops_the_listing_with_a_reason(db, admin, admin_client, start_jira_datacenter):
    fake = start_jira_datacenter()
    fake.add_project("ACME", "Acme")
    for number in range(60):
        fake.add_issue("ACME", f"Acme {number}")
    integration = connect_with_oauth(db, admin, admin_client, fake)
    allow(db, integration, fake, ["ACME"])
    fake.ignore_start_at = True
    run = run_sync(integration.id)
    # The second page repeats the first: the total (60) is reached only by counting it twice, so the
    # listing must notice the repeat rather than import 50 issues as if they were 60.
    assert run.status == "failed" and "repeated" in (run.error or "")
    assert len([r for r in fake.api.requests if r.path == "/rest/api/2/search"]) == 2


def test_the_settings_page_reads_projects_statuses_and_users_keyed_by_user_key(db, admin, admin_client, start_jira_datacenter):
    fake = start_jira_datacenter()
    for number in range(3):
        fake.add_project(f"P{number}", f"Project {number}")
    for number in range(60):                     # two pages of user/search
        fake.add_user(f"user{number:02d}", f"User {number:02d}", f"user{number}@example.com")
    fake.add_user("hidden", "Hidden", None)
    integration = connect_with_oauth(db, admin, admin_client, fake)
    connector = connector_for(integration)
    assert [o.detail for o in connector.allow_list_options()] == ["P0", "P1", "P2"]
    statuses, users = connector.mapping_tables()
    assert {row.label: row.automatic for row in statuses.rows}["Done"] == "Done"
    automatic = {row.remote_id: row.automatic for row in users.rows}
    assert len(automatic) == 62 and automatic["user07"] == "by e-mail (user7@example.com)"
    assert automatic["hidden"] == "unassigned (no e-mail visible)"
    assert [r.args["startAt"] for r in fake.api.requests if r.path == "/rest/api/2/user/search"] == ["0", "50"]
    assert check_contract(fake) == len(fake.api.requests)


# -- push ------------------------------------------------------------------------------------------

def team_with_tasks(db, admin, admin_client, make_user, fake, connect_team):
    """The team connected (`connect_team`: by OAuth or with a token), ACME and BETA imported,
    and Paula: (fake, team, paula, tasks by key)."""
    seeded(fake)
    team = connect_team(db, admin, admin_client, fake)
    allow(db, team, fake, ["ACME", "BETA"])
    sync(team)
    paula = make_user("paula@example.com", name="Paula Paris", timezone="Europe/Paris")
    return fake, team, paula, tasks_by_key(db)


@pytest.fixture
def worklog_setup(db, admin, admin_client, make_user, start_jira_datacenter):
    return team_with_tasks(db, admin, admin_client, make_user, start_jira_datacenter(), connect_with_oauth)


def entry_fields(task, minutes: float = 90, description: str = "Boiler") -> EntryFields:
    return EntryFields(started_at=MORNING, ended_at=MORNING + timedelta(minutes=minutes), description=description,
                       task_id=task.id)


def test_a_time_entry_becomes_a_worklog_in_the_data_center_format_and_follows_edits_and_deletion(db, worklog_setup):
    fake, integration, paula, tasks = worklog_setup
    entry = time_service.create_entry(paula, entry_fields(tasks["ACME-1"]))
    assert push_pending(integration.id) == 1
    [worklog] = fake.worklogs_of("ACME-1")
    assert worklog["started"] == "2026-11-25T09:00:00.000+0100"
    assert worklog["timeSpentSeconds"] == 5400
    assert worklog["comment"] == f"Logged in TimeHub for Paula Paris: Boiler [TimeHub entry {entry.id}]"

    time_service.update_entry(entry, entry_fields(tasks["ACME-1"], minutes=30, description="Pipes"))
    push_pending(integration.id)
    [edited] = fake.worklogs_of("ACME-1")
    assert (edited["id"], edited["timeSpentSeconds"]) == (worklog["id"], 1800)
    assert edited["comment"].startswith("Logged in TimeHub for Paula Paris: Pipes")

    time_service.delete_entry(entry)
    push_pending(integration.id)
    assert fake.worklogs_of("ACME-1") == []
    assert {status for status, _ in outbox(db)} == {"done"}
    assert check_contract(fake) == len(fake.api.requests)


def test_a_worklog_whose_answer_was_lost_is_found_by_its_marker_not_created_twice(db, worklog_setup):
    fake, integration, paula, tasks = worklog_setup
    fake.lose_worklog_answers = 1
    entry = time_service.create_entry(paula, entry_fields(tasks["ACME-2"]))
    assert push_pending(integration.id) == 0
    assert len(fake.worklogs_of("ACME-2")) == 1
    retry_now(db)
    assert push_pending(integration.id) == 1
    [worklog] = fake.worklogs_of("ACME-2")
    assert len(fake.created_worklogs) == 1
    db.session.expire_all()
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.local_kind == "time_entry")).one()
    assert link.external_id == f"{worklog['issueId']}/{worklog['id']}"
    assert worklog["comment"].endswith(f"[TimeHub entry {entry.id}]")
    check_contract(fake)


# -- webhooks --------------------------------------------------------------------------------------

def test_the_webhook_is_registered_with_a_secret_signed_deliveries_apply_and_forged_ones_are_401(
        db, admin, admin_client, start_jira_datacenter, live_app):
    fake = start_jira_datacenter()
    seeded(fake)
    integration = connect_with_oauth(db, admin, admin_client, fake)
    allow(db, integration, fake, ["ACME"])
    sync(integration)

    [(webhook_id, hook)] = fake.webhooks.items()
    secret = db.session.get(ProviderApp, save_id(db)).payload["webhook_secret"]
    assert hook["url"] == f"{live_app}/webhooks/{SLUG}/{integration.webhook_token}"
    assert hook["secret"] == secret and len(secret) >= 32
    assert hook["jql"] == f"project in ({fake.projects['ACME']['id']})"
    assert current(db).connector_state["webhooks"]["id"] == webhook_id

    fake.update_issue("ACME-1", summary="Said a webhook", status="Done")
    assert fake.send_webhook("jira:issue_updated", "ACME-1") == 202
    assert process_deliveries(db) == 1
    assert (tasks_by_key(db)["ACME-1"].title, tasks_by_key(db)["ACME-1"].status) == ("Said a webhook", "done")
    assert fake.send_webhook("jira:issue_updated", "ACME-1", secret="not-the-secret") == 401
    assert fake.send_webhook("jira:issue_updated", "ACME-1", unsigned=True) == 401
    assert process_deliveries(db) == 0

    allow(db, current(db), fake, ["BETA"])
    sync(current(db))                        # the allow-list changed: the webhook follows it
    [(moved_id, moved)] = fake.webhooks.items()
    assert moved_id != webhook_id and moved["jql"] == f"project in ({fake.projects['BETA']['id']})"

    assert IntegrationService().disconnect(admin, SLUG) is None
    assert fake.webhooks == {}
    assert check_contract(fake) == len(fake.api.requests)


def save_id(db) -> int:
    return db.session.scalars(select(ProviderApp.id).where(ProviderApp.provider == SLUG)).one()


def test_with_the_write_scope_the_webhook_is_not_registered_and_the_page_says_why(db, admin, admin_client,
                                                                                 start_jira_datacenter, live_app):
    fake = start_jira_datacenter()
    seeded(fake)
    integration = connect_with_oauth(db, admin, admin_client, fake, access="WRITE")
    allow(db, integration, fake, ["ACME"])
    run = sync(integration)
    assert run.created == 4 and fake.webhooks == {}
    state = current(db).connector_state["webhooks"]
    assert "permission" in state["error"]
    assert dc.JiraDataCenterConnector.status_facts(current(db).connector_state) == [
        ("Webhook", f"none: {state['error']}")]


@pytest.mark.parametrize("headers, secrets", [
    ({}, {"webhook_secret": "s"}),
    ({"X-Hub-Signature": "sha1=abc"}, {"webhook_secret": "s"}),
    ({"X-Hub-Signature": hub_signature("other", b"{}")}, {"webhook_secret": "s"}),
    ({"X-Hub-Signature": hub_signature("s", b"{}")}, {}),
    ({"X-Hub-Signature": "sha256=" + "é" * 64}, {"webhook_secret": "s"}),
])
def test_a_delivery_without_the_right_signature_is_401(headers, secrets):
    with pytest.raises(WebhookRejected) as refused:
        dc.JiraDataCenterConnector.verify_webhook(None, secrets, headers, b"{}", "https://x/webhooks")
    assert refused.value.status == 401


def test_a_signed_delivery_is_named_by_its_body_so_a_replay_is_the_same_delivery():
    body = json.dumps({"webhookEvent": "jira:issue_updated", "timestamp": 1}).encode()
    headers = {"X-Hub-Signature": hub_signature("s", body)}
    event = dc.JiraDataCenterConnector.verify_webhook(None, {"webhook_secret": "s"}, headers, body, "u")
    again = dc.JiraDataCenterConnector.verify_webhook(None, {"webhook_secret": "s"}, headers, body, "u")
    assert event.event == "jira:issue_updated" and event.delivery_id == again.delivery_id
