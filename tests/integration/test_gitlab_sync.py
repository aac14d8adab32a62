"""The GitLab connector end to end, over real HTTP to the fake GitLab (tests/fakes/gitlab.py).

The app reaches the fake through the GITLAB_* endpoint variables and the OAuth app saved on
the setup page; the connection is made through the real OAuth flow. Every REST and GraphQL
request is validated as the fake receives it against the description written from GitLab's
documentation (tests/fixtures/gitlab/openapi.json and schema.graphql).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app import tuning
from app.integrations import gitlab as gitlab_connector
from app.models import ExternalLink, Integration, Project, WebhookDelivery
from app.services import time_service
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from app.services.sync_service import push_pending, run_sync
from app.services.time_service import EntryFields
from bench.sync_noop import WriteCounter
from tests import tracker_harness as harness
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.paged_provider import Faults
from tests.tracker_harness import (  # noqa: F401 (live_app is a fixture)
    connect_oauth,
    fast_connector,
    live_app,
    oauth_fake_fixture,
    outbox,
    process_deliveries,
    retry_now,
    set_setting,
    sync,
    tasks_by_key,
)

AT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
MORNING = datetime(2026, 11, 25, 23, 30)   # naive UTC: 00:30 the next day in Paris

start_gitlab = oauth_fake_fixture(FakeGitLab, "gitlab")


def current(db) -> Integration:
    return harness.current(db, "gitlab")


def connect_gitlab(db, admin, admin_client, fake: FakeGitLab, projects: list[str] | None = None) -> Integration:
    integration = connect_oauth(db, admin, admin_client, "gitlab", fake)
    if projects is not None:
        allow(db, integration, fake, projects)
    return integration


def allow(db, integration, fake: FakeGitLab, paths: list[str]) -> None:
    harness.allow(db, integration, [str(fake.projects[path]["id"]) for path in paths])


def check_contract(fake: FakeGitLab) -> int:
    """Validate every answer the fake gave to a REST call (requests are checked as they arrive)."""
    return harness.check_contract("gitlab", fake.api.requests)


def seeded(gitlab: FakeGitLab, per_project: int = 3) -> None:
    gitlab.add_project("acme/web", labels=("bug", "workflow::doing"))
    gitlab.add_project("acme/api")
    for path in ("acme/web", "acme/api"):
        for number in range(per_project):
            gitlab.add_issue(path, f"{path} {number + 1}", updated=AT + timedelta(minutes=number))


# -- import ---------------------------------------------------------------------------------------

def test_a_first_import_of_several_keyset_pages_with_labels_mapped_and_assignees_chosen(
        db, admin, admin_client, make_user, start_gitlab):
    gitlab = start_gitlab()
    bob = make_user("bob@example.com", name="Bob")
    gitlab.add_user("bob-gl", "Bob at GitLab")
    for number in range(130):
        gitlab.add_project(f"group/p{number:03d}")
    seeded(gitlab, per_project=0)
    for number in range(210):
        gitlab.add_issue("acme/web", f"Web {number + 1}", updated=AT + timedelta(seconds=number))
    gitlab.add_issue("acme/api", "Doing", labels=("workflow::doing",), assignee="bob-gl")
    gitlab.add_issue("acme/api", "Closed", state="closed", labels=("workflow::doing",))
    integration = connect_gitlab(db, admin, admin_client, gitlab, ["acme/web", "acme/api"])
    set_setting(db, integration, status_map={"label:workflow::doing": "in_progress"},
                user_map={"bob-gl": str(bob.id)})
    gitlab.api.clear()

    run = sync(integration)

    assert (run.created, run.updated, run.archived) == (2 + 212, 0, 0)
    tasks = tasks_by_key(db)
    assert len(tasks) == 212
    first = tasks["acme/web#1"]
    assert (first.title, first.status, first.project.name) == ("Web 1", "todo", "acme/web")
    assert first.external_url == "https://gitlab.example.com/acme/web/-/issues/1"
    assert (tasks["acme/api#1"].status, tasks["acme/api#1"].assignee_id) == ("in_progress", bob.id)
    assert tasks["acme/api#2"].status == "done"
    project_pages = gitlab.api.requests_to("/api/v4/projects")
    assert len(project_pages) == 2 and all(r.args["pagination"] == "keyset" for r in project_pages)
    issue_pages = gitlab.api.requests_to(f"/api/v4/projects/{gitlab.projects['acme/web']['id']}/issues")
    assert len(issue_pages) == 3 and "cursor" in issue_pages[1].args          # 100 + 100 + 10
    assert all(r.args["per_page"] == "100" for r in issue_pages)
    check_contract(gitlab)
    statuses, users = connector_for(current(db)).mapping_tables()
    assert {"label:bug", "label:workflow::doing", "state:closed"} <= {row.remote_id for row in statuses.rows}
    assert [row.remote_id for row in users.rows] == ["bob-gl"]


def test_assignees_map_by_the_email_the_users_api_shows_once_per_person_manual_choice_wins(
        db, admin, admin_client, make_user, start_gitlab):
    gitlab = start_gitlab()
    ann, bob, cy = (make_user(f"{name}@example.com", name=name.title()) for name in ("ann", "bob", "cy"))
    gitlab.add_user("ann-gl", "Ann", public_email="ann@example.com")
    gitlab.add_user("bob-gl", "Bob", email="bob@example.com")              # primary only: admins see it
    gitlab.add_user("cy-gl", "Cy", public_email="cy@example.com")
    gitlab.add_user("dee-gl", "Dee")                                       # nothing public
    seeded(gitlab, per_project=0)
    for number in range(3):
        gitlab.add_issue("acme/web", f"Ann's {number}", assignee="ann-gl", updated=AT + timedelta(seconds=number))
    gitlab.add_issue("acme/web", "Bob's", assignee="bob-gl", updated=AT + timedelta(minutes=1))
    gitlab.add_issue("acme/web", "Cy's", assignee="cy-gl", updated=AT + timedelta(minutes=2))
    gitlab.add_issue("acme/web", "Dee's", assignee="dee-gl", updated=AT + timedelta(minutes=3))
    integration = connect_gitlab(db, admin, admin_client, gitlab, ["acme/web"])
    set_setting(db, integration, user_map={"cy-gl": str(ann.id)})          # the manual choice wins
    gitlab.api.clear()

    sync(integration)
    tasks = tasks_by_key(db)
    assert {tasks[f"acme/web#{n}"].assignee_id for n in (1, 2, 3)} == {ann.id}
    assert tasks["acme/web#4"].assignee_id is None       # bob's address is not public
    assert tasks["acme/web#5"].assignee_id == ann.id and tasks["acme/web#6"].assignee_id is None
    looked_up = [r.path for r in gitlab.api.requests if r.path.startswith("/api/v4/users/")]
    assert sorted(looked_up) == sorted(f"/api/v4/users/{gitlab.users[u]['id']}"
                                       for u in ("ann-gl", "bob-gl", "cy-gl", "dee-gl"))   # once a person
    statuses, users = connector_for(current(db)).mapping_tables()
    assert {row.remote_id: row.automatic for row in users.rows} == {
        "ann-gl": "by e-mail (ann@example.com)", "bob-gl": "unassigned (no public e-mail)",
        "cy-gl": "by e-mail (cy@example.com)", "dee-gl": "unassigned (no public e-mail)"}

    # Later runs read people from the connector state; connected as an administrator, the next
    # whole listing sees primary addresses too.
    gitlab.update_issue("acme/web", 1, title="Ann's, renamed", updated=AT + timedelta(hours=1))
    before = len(gitlab.api.requests)
    sync(integration)
    assert not [r for r in gitlab.api.requests[before:] if r.path.startswith("/api/v4/users/")]
    gitlab.admin_token = True
    set_setting(db, current(db), updated_since="2026-01-01")   # a new scope: a whole listing reads people again
    gitlab.update_issue("acme/web", 4, title="Bob's, renamed", updated=AT + timedelta(hours=2))
    sync(current(db))
    assert tasks_by_key(db)["acme/web#4"].assignee_id == bob.id and cy.id not in {
        t.assignee_id for t in tasks_by_key(db).values()}
    check_contract(gitlab)


def test_incremental_no_change_and_whole_listing(db, admin, admin_client, start_gitlab, monkeypatch):
    gitlab = start_gitlab()
    seeded(gitlab)
    integration = connect_gitlab(db, admin, admin_client, gitlab, ["acme/web", "acme/api"])
    sync(integration)
    gitlab.update_issue("acme/web", 2, title="Renamed at GitLab", state="closed", updated=AT + timedelta(hours=2))
    gitlab.rename_project("acme/api", "acme/backend")

    run = sync(integration)
    assert (run.created, run.updated, run.archived) == (0, 2, 0)
    assert (tasks_by_key(db)["acme/web#2"].title, tasks_by_key(db)["acme/web#2"].status) == (
        "Renamed at GitLab", "done")
    web = gitlab.api.requests_to(f"/api/v4/projects/{gitlab.projects['acme/web']['id']}/issues")[-1]
    assert web.args["updated_after"] == "2026-11-20T12:02:00Z"

    since = len(gitlab.api.requests)
    writes = WriteCounter(db.engine)
    try:
        run = sync(integration)
    finally:
        writes.close()
    assert (run.created, run.updated, run.archived) == (0, 0, 0)
    assert writes.total == 0, dict(writes.by_table)
    assert len(gitlab.api.requests[since:]) == 3          # the projects, then one page per project

    gitlab.delete_issue("acme/web", 1)
    gitlab.move_issue("acme/web", 3, "acme/backend")
    monkeypatch.setattr(gitlab_connector, "WHOLE_LISTING_EVERY_HOURS", 0)
    whole = sync(integration)
    tasks = tasks_by_key(db)
    assert whole.archived == 2 and tasks["acme/web#1"].archived and tasks["acme/web#3"].archived
    assert tasks["acme/backend#4"].title == "acme/web 3"
    check_contract(gitlab)


def test_a_revoked_grant_fails_the_sync_and_asks_for_a_reconnect(db, admin, admin_client, start_gitlab):
    gitlab = start_gitlab()
    seeded(gitlab)
    integration = connect_gitlab(db, admin, admin_client, gitlab, ["acme/web"])
    sync(integration)
    gitlab.oauth.expire_access_tokens()      # refreshed on the way
    sync(integration)
    gitlab.oauth.revoke_all()
    gitlab.oauth.expire_access_tokens()
    run = run_sync(integration.id)
    assert run.status == "failed" and "Reconnect GitLab" in run.error
    assert current(db).status == "needs_reconnect"


# -- push: time entries -> timelogs -----------------------------------------------------------------

@pytest.fixture
def timelog_setup(db, admin, admin_client, make_user, start_gitlab):
    gitlab = start_gitlab()
    seeded(gitlab)
    integration = connect_gitlab(db, admin, admin_client, gitlab, ["acme/web", "acme/api"])
    sync(integration)
    paula = make_user("paula@example.com", name="Paula", timezone="Europe/Paris")
    return gitlab, integration, paula, tasks_by_key(db)


def entry_fields(task, minutes: float = 90, start: datetime = MORNING, description: str = "Boiler"):
    return EntryFields(started_at=start, ended_at=start + timedelta(minutes=minutes), description=description,
                       task_id=task.id)


def graphql_calls(gitlab: FakeGitLab, since: int = 0) -> list[str]:
    names = []
    for r in gitlab.api.requests_to("/api/graphql")[since:]:
        query = json.loads(r.body)["query"]
        names.append(next(word for word in ("timelogCreate", "timelogDelete", "timelogs") if word in query))
    return names


def test_an_entry_becomes_a_dated_timelog_and_edits_moves_and_deletes_follow(db, timelog_setup):
    gitlab, integration, paula, tasks = timelog_setup
    entry = time_service.create_entry(paula, entry_fields(tasks["acme/web#1"]))
    assert push_pending(integration.id) == 1
    assert graphql_calls(gitlab) == ["timelogCreate"]         # a first attempt creates at once
    [timelog] = gitlab.timelogs_of("acme/web", 1)
    assert timelog["timeSpent"] == 5400
    assert timelog["spentAt"] == "2026-11-26T00:30:00+01:00"  # the day it was worked, where Paula is
    assert timelog["summary"] == f"Boiler (logged for Paula) [TimeHub entry {entry.id}]"
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.local_kind == "time_entry")).one()
    assert link.external_id == f"{gitlab.issues['acme/web'][0]['id']}/{timelog['id'].rsplit('/', 1)[1]}"

    time_service.update_entry(entry, entry_fields(tasks["acme/web#1"], minutes=30, description="Pipes"))
    push_pending(integration.id)
    [edited] = gitlab.timelogs_of("acme/web", 1)
    assert (edited["timeSpent"], edited["summary"]) == (1800, f"Pipes (logged for Paula) [TimeHub entry {entry.id}]")
    assert edited["id"] != timelog["id"]

    time_service.update_entry(entry, entry_fields(tasks["acme/api#2"], minutes=30))
    push_pending(integration.id)
    assert gitlab.timelogs_of("acme/web", 1) == [] and len(gitlab.timelogs_of("acme/api", 2)) == 1

    time_service.delete_entry(entry)
    push_pending(integration.id)
    assert gitlab.timelogs_of("acme/api", 2) == []
    assert {status for status, _ in outbox(db)} == {"done"}
    check_contract(gitlab)


def test_a_timelog_whose_answer_was_lost_is_found_again_not_created_twice(db, timelog_setup):
    gitlab, integration, paula, tasks = timelog_setup
    gitlab.lose_timelog_answers = 1
    time_service.create_entry(paula, entry_fields(tasks["acme/web#2"]))
    assert push_pending(integration.id) == 0
    assert len(gitlab.timelogs_of("acme/web", 2)) == 1        # created though the answer was lost
    retry_now(db)

    assert push_pending(integration.id) == 1
    [timelog] = gitlab.timelogs_of("acme/web", 2)
    assert gitlab.created_timelogs == [timelog["id"]]
    assert graphql_calls(gitlab)[-1] == "timelogs"           # looked, found, did not create again
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.local_kind == "time_entry")).one()
    assert link.external_id.endswith("/" + timelog["id"].rsplit("/", 1)[1])


def test_an_entry_on_a_deleted_issue_is_skipped_with_the_reason(db, timelog_setup):
    gitlab, integration, paula, tasks = timelog_setup
    gitlab.delete_issue("acme/api", 1)
    time_service.create_entry(paula, entry_fields(tasks["acme/api#1"]))
    push_pending(integration.id)
    [(status, reason)] = outbox(db)
    assert status == "skipped" and "no longer exists" in reason


# -- webhooks -----------------------------------------------------------------------------------------

def test_project_hooks_are_registered_verified_deduplicated_and_removed(db, admin, admin_client, start_gitlab,
                                                                        live_app):
    gitlab = start_gitlab()
    seeded(gitlab)
    integration = connect_gitlab(db, admin, admin_client, gitlab, ["acme/web", "acme/api"])
    sync(integration)
    secret = IntegrationService().app_record("gitlab").payload["webhook_secret"]
    [hook] = gitlab.hooks["acme/web"]
    assert (hook["url"], hook["token"], hook["issues_events"], hook["push_events"]) == (
        f"{live_app}/webhooks/gitlab/{integration.webhook_token}", secret, True, False)

    issue = gitlab.update_issue("acme/web", 1, title="Changed, said a hook", state="closed")
    assert gitlab.send_issue_hook("close", "acme/web", issue) == [202]
    replayed = gitlab.deliveries[-1]["headers"]["Idempotency-Key"]
    assert gitlab.send_issue_hook("close", "acme/web", issue, event_id=replayed) == [200]
    assert gitlab.send_issue_hook("close", "acme/web", issue, token="forged") == [401]
    assert gitlab.send_issue_hook("close", "acme/web", issue, body=b"{not json") == [400]
    assert gitlab.send_issue_hook("close", "acme/web", issue, body=b'{"a":' * 5000 + b"1" + b"}" * 5000)[0] in (
        400, 202)
    wrong = json.dumps({"object_kind": "issue", "object_attributes": {"id": "x", "iid": []},
                        "project": {"id": {}}}).encode()
    assert gitlab.send_issue_hook("close", "acme/web", issue, body=wrong) == [202]
    process_deliveries(db)
    task = tasks_by_key(db)["acme/web#1"]
    assert (task.title, task.status) == ("Changed, said a hook", "done")
    db.session.expire_all()
    failed = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.error.is_not(None))).all()
    assert failed and all(delivery.error for delivery in failed)   # recorded with the reason, not crashed

    allow(db, current(db), gitlab, ["acme/web"])
    sync(current(db))
    assert gitlab.hooks["acme/api"] == [] and len(gitlab.hooks["acme/web"]) == 1
    assert IntegrationService().disconnect(admin, "gitlab") is None
    assert gitlab.hooks["acme/web"] == []
    check_contract(gitlab)


# -- faults ---------------------------------------------------------------------------------------------

def test_with_20_percent_faults_import_and_timelogs_end_as_without_and_exist_once(
        db, admin, admin_client, make_user, start_gitlab, monkeypatch):
    monkeypatch.setattr(tuning, "PUSH_MAX_ATTEMPTS", 100)
    gitlab = start_gitlab(faults=Faults(rate=0.2, hang=0.05, latency=0.005, retry_after="0.01"), fault_seed=1)
    seeded(gitlab, per_project=250)
    integration = connect_gitlab(db, admin, admin_client, gitlab, ["acme/web", "acme/api"])
    for _attempt in range(10):
        if run_sync(integration.id, connector_factory=fast_connector).status == "succeeded":
            break
    expected = {f"{path}#{issue['iid']}": issue["title"] for path in ("acme/web", "acme/api")
                for issue in gitlab.issues[path]}
    assert {key: task.title for key, task in tasks_by_key(db).items()} == expected
    assert db.session.scalar(select(func.count()).select_from(Project)) == 2

    paula = make_user("paula@example.com", name="Paula", timezone="Europe/Paris")
    tasks = tasks_by_key(db)
    keys = ["acme/web#1", "acme/web#2", "acme/api#5", "acme/api#5"] * 3
    for n, key in enumerate(keys):
        time_service.create_entry(paula, entry_fields(tasks[key], minutes=10 + n, start=MORNING + timedelta(hours=n)))
    gitlab.lose_timelog_answers = 2
    for _round in range(30):
        push_pending(integration.id, connector_factory=fast_connector)
        if not any(status == "pending" for status, _ in outbox(db)):
            break
        retry_now(db)
    assert {status for status, _ in outbox(db)} == {"done"}
    logged = sorted(t["id"] for path, iid in (("acme/web", 1), ("acme/web", 2), ("acme/api", 5))
                    for t in gitlab.timelogs_of(path, iid))
    assert logged == sorted(gitlab.created_timelogs) and len(logged) == len(keys)   # each once, no strays
    assert any(r.status in (429, 500, 502, 503, 504) for r in gitlab.api.requests)
