"""The Jira connector end to end, over real HTTP to the fake Jira Cloud (tests/fakes/jira.py).

The app reaches the fake only through the settings an admin has: the JIRA_* endpoint
variables and the OAuth app saved on the setup page; the connection is made through
the real OAuth flow (consent, site, encrypted tokens). Every Jira REST request the
connector sends is validated against Atlassian's API description (tests/contract.py).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx2
import pytest
from sqlalchemy import func, select

from app import tuning
from app.integrations import jira as jira_connector
from app.integrations import jira_site
from app.integrations import jwt_hs256
from app.integrations.exchange import WebhookEvent, WebhookRejected
from app.integrations.http import PermanentError
from app.models import ExternalLink, Integration, OutboxItem, Project, SyncRun, Task, TimeEntry
from app.services import time_service
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from app.services.sync_service import push_notices, push_pending, record_change, run_sync
from app.services.time_service import EntryFields
from bench.sync_noop import WriteCounter
from tests import tracker_harness as harness
from tests.fakes.jira import FakeJira
from tests.fakes.paged_provider import Faults
from tests.oauth_steps import connect
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

# -- set-up: a fake Jira reached through the endpoint settings, connected through OAuth ---------------

start_jira = oauth_fake_fixture(FakeJira, "jira")   # start_jira(**FakeJira options) -> a running fake


def connect_jira(db, admin, admin_client, fake: FakeJira, projects: list[str] | None = None) -> Integration:
    """Save the OAuth app as the setup page does, connect through the real OAuth flow, and
    allow `projects` (keys) as the settings page would."""
    integration = connect_oauth(db, admin, admin_client, "jira", fake)
    assert integration.connection_facts["cloud_id"] == fake.sites[0]["id"]
    assert fake.oauth.client_secret not in (integration.credential.ciphertext or "")
    if projects is not None:
        allow(db, integration, fake, projects)
    return integration


def current(db) -> Integration:
    return harness.current(db, "jira")


def allow(db, integration: Integration, fake: FakeJira, keys: list[str]) -> None:
    """What the settings page does when the admin saves the allow-list."""
    harness.allow(db, integration, [fake.projects[key]["id"] for key in keys])


def check_contract(fake: FakeJira, since: int = 0) -> int:
    """Validate every Jira REST request the app sent (and the fake's answers); the number checked."""
    return harness.check_contract("jira", fake.api.requests[since:], server_url=fake.site_api_base(),
                                  only_under_base=True, answers_checked=None)


def rest_calls(fake: FakeJira, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path.split('/rest/api/3/')[-1]}" for r in fake.api.requests[since:]
            if "/rest/api/3/" in r.path]


def projects_by_name(db) -> dict[str, Project]:
    db.session.expire_all()
    return {project.name: project for project in db.session.scalars(select(Project))}


# -- import --------------------------------------------------------------------------------------------

def test_a_first_import_of_several_pages_creates_projects_and_tasks(db, app, admin, admin_client, make_user,
                                                                    start_jira):
    jira = start_jira()
    ann = make_user("ann@example.com", name="Ann")
    bob = make_user("bob@example.com", name="Bob")
    jira.add_user("acc-ann", "Ann Jira", "ANN@example.com")
    jira.add_user("acc-hidden", "Hidden", None)          # e-mail hidden by privacy settings
    jira.add_user("acc-carl", "Carl", "carl@elsewhere.example")   # no TimeHub user with it
    jira.add_user("acc-mapped", "Mapped by hand", None)
    jira.add_project("ACME", "Acme")
    jira.add_project("BETA", "Beta")
    jira.add_project("SKIP", "Not allowed")
    jira.add_status("Review", "indeterminate")
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for number in range(150):
        jira.add_issue("ACME", f"Acme task {number}", updated=start + timedelta(minutes=number))
    for number in range(100):
        jira.add_issue("BETA", f"Beta task {number}", updated=start + timedelta(minutes=number, seconds=30))
    jira.add_issue("SKIP", "Never imported")
    jira.update_issue("ACME-1", status="In Progress", assignee="acc-ann", updated=start)
    jira.update_issue("ACME-2", status="Done", assignee="acc-hidden", updated=start)
    jira.update_issue("ACME-3", status="Review", assignee="acc-carl", updated=start)
    jira.update_issue("ACME-4", assignee="acc-mapped", updated=start)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    set_setting(db, integration, user_map={"acc-mapped": str(bob.id), "acc-ann": None})
    jira.api.clear()

    run = sync(integration)

    assert (run.created, run.updated, run.archived) == (252, 0, 0)
    assert sorted(projects_by_name(db)) == ["Acme", "Beta"]
    tasks = tasks_by_key(db)
    assert len(tasks) == 250 and "SKIP-1" not in tasks
    first = tasks["ACME-1"]
    assert (first.title, first.status, first.assignee_id) == ("Acme task 0", "in_progress", ann.id)
    assert first.external_url == "https://acme.atlassian.net/browse/ACME-1"
    assert first.project.name == "Acme" and tasks["BETA-100"].project.name == "Beta"
    assert (tasks["ACME-2"].status, tasks["ACME-2"].assignee_id) == ("done", None)     # e-mail hidden
    assert (tasks["ACME-3"].status, tasks["ACME-3"].assignee_id) == ("in_progress", None)
    assert tasks["ACME-4"].assignee_id == bob.id                                      # chosen by hand
    assert tasks["ACME-5"].status == "todo"
    searches = [r for r in jira.api.requests if r.path.endswith("/search/jql")]
    assert len(searches) == 3                                                         # 100 + 100 + 50
    assert all(json.loads(r.body)["maxResults"] == 100 for r in searches)
    assert check_contract(jira) == len(rest_calls(jira))
    # Without a public address no webhook can be registered, and the page says why.
    webhooks = current(db).connector_state["webhooks"]
    assert webhooks == {"error": "Set TIMEHUB_EXTERNAL_URL to a public address to receive Jira webhooks."}
    assert jira_connector.JiraConnector.status_facts(current(db).connector_state) == [
        ("Webhooks", f"none: {webhooks['error']}")]


def test_the_manual_user_map_wins_over_the_e_mail(db, admin, admin_client, make_user, start_jira):
    jira = start_jira()
    make_user("ann@example.com", name="Ann")
    bob = make_user("bob@example.com", name="Bob")
    jira.add_user("acc-ann", "Ann Jira", "ann@example.com")
    jira.add_project("ACME", "Acme")
    jira.add_issue("ACME", "Ann's", assignee="acc-ann")
    integration = connect_jira(db, admin, admin_client, jira, ["ACME"])
    set_setting(db, integration, user_map={"acc-ann": str(bob.id)})
    sync(integration)
    assert tasks_by_key(db)["ACME-1"].assignee_id == bob.id


def test_the_settings_page_reads_every_project_status_and_person_from_jira(db, admin, admin_client, start_jira):
    jira = start_jira()
    for number in range(150):                       # two pages of project/search
        jira.add_project(f"P{number:03d}", f"Project {number}")
    jira.add_status("Waiting for QA", "indeterminate")
    jira.add_user("acc-ann", "Ann", "ann@example.com")
    jira.add_user("acc-hidden", "Hidden", None)
    jira.add_user("acc-carl", "carl", "carl@example.com")
    jira.add_status("Parked", "undefined")          # Jira's "No Category"
    jira.users["acc-bot"] = {"accountId": "acc-bot", "displayName": "Automation", "active": True,
                             "accountType": "app", "timeZone": "UTC"}
    integration = connect_jira(db, admin, admin_client, jira)
    connector = connector_for(integration)

    options = connector.allow_list_options()
    assert len(options) == 150 and options[0].label == "Project 0" and options[0].detail == "P000"
    assert options[0].external_id == jira.projects["P000"]["id"]
    statuses, users = connector.mapping_tables()
    assert (statuses.setting, statuses.target, users.setting, users.target) == (
        "status_map", "task_status", "user_map", "user")
    assert (statuses.title, users.title) == ("Status mapping", "User mapping")  # the page's headings
    # The rules the page states are the ones the import applies (checked below and in the import tests).
    assert statuses.help == "Each Jira status follows its status category unless you choose otherwise."
    assert users.help == ("Assignees become the TimeHub user with the same e-mail address, where Jira shows it. "
                          "Choose someone by hand for the others; unmapped assignees leave the task unassigned.")
    qa = jira.statuses["Waiting for QA"]["id"]
    assert {row.remote_id: row.automatic for row in statuses.rows}[qa] == "In progress"
    assert {row.label: row.automatic for row in statuses.rows}["Parked"] == "To do"  # no category: to do
    assert [row.label for row in statuses.rows] == sorted((row.label for row in statuses.rows), key=str.lower)
    people = [row.label for row in users.rows]
    assert people.index("Ann") < people.index("carl") < people.index("Hidden")  # by name, whatever the case
    automatic = {row.remote_id: row.automatic for row in users.rows}
    assert automatic["acc-ann"] == "by e-mail (ann@example.com)"
    assert automatic["acc-hidden"] == "unassigned (no e-mail visible)" and "acc-bot" not in automatic
    assert check_contract(jira) == len(rest_calls(jira))


def test_a_status_chosen_by_hand_wins_over_its_category(db, admin, admin_client, start_jira):
    jira = start_jira()
    jira.add_status("Waiting for QA", "indeterminate")
    jira.add_project("ACME", "Acme")
    jira.add_issue("ACME", "Waits", status="Waiting for QA")
    jira.add_issue("ACME", "Works", status="In Progress")
    integration = connect_jira(db, admin, admin_client, jira, ["ACME"])
    sync(integration)
    assert tasks_by_key(db)["ACME-1"].status == "in_progress"
    set_setting(db, integration, status_map={jira.statuses["Waiting for QA"]["id"]: "done"})
    run = sync(integration)
    assert run.updated == 1
    assert (tasks_by_key(db)["ACME-1"].status, tasks_by_key(db)["ACME-2"].status) == ("done", "in_progress")


def seeded(jira: FakeJira, per_project: int = 3, at: datetime | None = None) -> datetime:
    """ACME and BETA with `per_project` issues each, updated a minute apart from `at`."""
    at = at or datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    for key, name in (("ACME", "Acme"), ("BETA", "Beta")):
        jira.add_project(key, name)
        for number in range(per_project):
            jira.add_issue(key, f"{name} {number + 1}", updated=at + timedelta(minutes=number))
    return at


def test_an_incremental_import_asks_for_changes_in_the_account_time_zone(db, admin, admin_client, start_jira):
    jira = start_jira(time_zone="America/Los_Angeles")   # UTC-8: a UTC literal read here would miss changes
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    before = {key: task.updated_at for key, task in tasks_by_key(db).items()}
    changed_at = datetime(2026, 11, 20, 13, 0, tzinfo=timezone.utc)
    jira.update_issue("ACME-2", summary="Renamed at Jira", status="Done", updated=changed_at)
    jira.update_issue("BETA-3", summary="Also changed", updated=changed_at + timedelta(seconds=20))
    jira.rename_project("ACME", "Acme Corp")
    since = len(jira.api.requests)

    run = sync(integration)

    assert (run.created, run.updated, run.archived) == (0, 3, 0)
    tasks = tasks_by_key(db)
    assert (tasks["ACME-2"].title, tasks["ACME-2"].status) == ("Renamed at Jira", "done")
    assert tasks["BETA-3"].title == "Also changed"
    assert sorted(key for key, task in tasks.items() if task.updated_at != before[key]) == ["ACME-2", "BETA-3"]
    assert sorted(projects_by_name(db)) == ["Acme Corp", "Beta"]
    search = json.loads(next(r for r in jira.api.requests[since:] if r.path.endswith("/search/jql")).body)
    # The newest change seen before was BETA-3 at 12:02 UTC = 04:02 in Los Angeles, less the overlap.
    assert f'updated >= "2026/11/20 04:{2 - jira_connector.JQL_OVERLAP_MINUTES:02d}"' in search["jql"]
    assert check_contract(jira, since) == len(rest_calls(jira, since))


def test_the_backfill_window_limits_the_import_in_the_account_time_zone(db, admin, admin_client, start_jira):
    jira = start_jira(time_zone="Europe/Berlin")
    seeded(jira)                                            # updated on 2026-11-20 from 12:00 UTC
    jira.add_issue("ACME", "Old", updated=datetime(2026, 11, 19, 22, 0, tzinfo=timezone.utc))  # 23:00 in Berlin
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    set_setting(db, integration, updated_since="2026-11-20")
    sync(integration)
    assert sorted(tasks_by_key(db)) == ["ACME-1", "ACME-2", "ACME-3", "BETA-1", "BETA-2", "BETA-3"]
    search = json.loads([r for r in jira.api.requests if r.path.endswith("/search/jql")][-1].body)
    assert 'updated >= "2026/11/20 01:00"' in search["jql"]   # midnight UTC, as Berlin reads it

    set_setting(db, integration, updated_since="2026-11-19")
    sync(integration)
    assert "ACME-4" in tasks_by_key(db)


def test_an_issue_moved_between_allowed_projects_follows_with_its_new_key(db, admin, admin_client, start_jira):
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    task_id = tasks_by_key(db)["ACME-1"].id
    jira.move_issue("ACME-1", "BETA")
    run = sync(integration)
    assert (run.created, run.updated) == (0, 1)
    moved = tasks_by_key(db)["BETA-4"]
    assert moved.id == task_id and moved.project.name == "Beta" and not moved.archived
    assert moved.external_url == "https://acme.atlassian.net/browse/BETA-4"


def test_a_re_sync_with_nothing_changed_makes_two_requests_and_writes_nothing(db, admin, admin_client, start_jira):
    jira = start_jira(time_zone="Europe/Berlin")
    seeded(jira, per_project=120)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    sync(integration)  # the first incremental run (its JQL overlap re-reads the newest minutes)
    stamps = {task.id: task.updated_at for task in db.session.scalars(select(Task))}
    since = len(jira.api.requests)
    writes = WriteCounter(db.engine)   # INSERT/UPDATE/DELETE statements, the run's own bookkeeping aside
    try:
        run = sync(integration)
    finally:
        writes.close()

    assert (run.created, run.updated, run.archived) == (0, 0, 0)
    assert writes.total == 0, dict(writes.by_table)
    assert rest_calls(jira, since) == ["GET project/search", "POST search/jql"]
    db.session.expire_all()
    assert {task.id: task.updated_at for task in db.session.scalars(select(Task))} == stamps


def test_deleted_and_moved_away_issues_are_archived_after_the_whole_listing(db, admin, admin_client, start_jira,
                                                                          monkeypatch):
    jira = start_jira()
    seeded(jira)
    jira.add_project("OUT", "Outside")
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    jira.delete_issue("ACME-1")
    jira.move_issue("ACME-2", "OUT")

    incremental = sync(integration)  # changes only: a deletion is not a change Jira lists
    assert incremental.archived == 0 and not tasks_by_key(db)["ACME-1"].archived

    monkeypatch.setattr(jira_site, "WHOLE_LISTING_EVERY_HOURS", 0)
    whole = sync(integration)
    assert whole.archived == 2
    tasks = tasks_by_key(db)
    assert tasks["ACME-1"].archived and tasks["ACME-2"].archived
    assert not any(task.archived for key, task in tasks.items() if key not in ("ACME-1", "ACME-2"))

    monkeypatch.setattr(jira_site, "WHOLE_LISTING_EVERY_HOURS", 24)
    allow(db, integration, jira, ["BETA"])   # ACME leaves the allow-list
    narrowed = sync(integration)
    projects = projects_by_name(db)
    assert projects["Acme"].archived and not projects["Beta"].archived
    tasks = tasks_by_key(db)
    assert all(task.archived for key, task in tasks.items() if key.startswith("ACME"))
    assert not any(task.archived for key, task in tasks.items() if key.startswith("BETA"))
    assert narrowed.archived == 1 + 1   # the project and ACME-3 (the other two were archived already)
    assert check_contract(jira) == len(rest_calls(jira))


def test_an_issue_changed_while_a_listing_is_under_way_is_neither_skipped_nor_missed(db, admin, admin_client,
                                                                                      start_jira):
    jira = start_jira()
    seeded(jira, per_project=125)                      # 250 issues: three pages
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    # Someone edits an issue the listing has already read, while it reads on.
    jira.while_listing = lambda: jira.update_issue("ACME-1", summary="Edited during the import")

    run = sync(integration)
    assert run.created == 252 and run.archived == 0
    assert not any(task.archived for task in tasks_by_key(db).values())   # nothing skipped, so nothing archived

    sync(integration)
    assert tasks_by_key(db)["ACME-1"].title == "Edited during the import"


def test_a_change_made_early_in_a_long_listing_is_not_lost_behind_later_ones(db, admin, admin_client, start_jira):
    jira = start_jira()
    seeded(jira, per_project=125)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    now = datetime.now(timezone.utc)
    for number in range(1, 120):                       # an incremental listing of two pages
        jira.update_issue(f"BETA-{number}", summary=f"Changed {number}", updated=now)

    def meanwhile():
        # The listing takes long: an issue it read changes, then one it has yet to read, minutes later.
        jira.update_issue("BETA-1", summary="Changed again early in the listing")
        jira.update_issue("BETA-110", summary="Changed late", updated=now + timedelta(minutes=10))
    jira.while_listing = meanwhile

    sync(integration)
    assert tasks_by_key(db)["BETA-110"].title == "Changed late"
    sync(integration)
    tasks = tasks_by_key(db)
    assert tasks["BETA-1"].title == "Changed again early in the listing"
    assert [number for number in range(2, 120) if number != 110
            and tasks[f"BETA-{number}"].title != f"Changed {number}"] == []


def jira_fails_from_now(jira: FakeJira):
    """A hook for the fake's `while_listing*`: every later call is answered 500 until `faults` is reset."""
    return lambda: setattr(jira, "faults", Faults(rate=1.0, kinds=("error",)))


def test_an_issue_listing_stopped_between_pages_carries_on_from_the_page_it_reached(db, admin, admin_client,
                                                                                    start_jira):
    jira = start_jira()
    seeded(jira, per_project=125)                      # 250 issues: three pages
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    jira.while_listing = jira_fails_from_now(jira)     # Jira goes down after the first page

    failed = run_sync(integration.id, connector_factory=fast_connector)
    assert failed.status == "failed"
    assert len(tasks_by_key(db)) == 100                # the first page committed with its cursor
    jira.faults = None
    jira.api.clear()

    run = sync(integration)
    searches = [json.loads(r.body) for r in jira.api.requests if r.path.endswith("/search/jql")]
    assert len(searches) == 2 and searches[0].get("nextPageToken")   # pages two and three, not from the start
    assert len({s["jql"] for s in searches}) == 1
    assert run.created == 150 and len(tasks_by_key(db)) == 250
    assert check_contract(jira) == len(rest_calls(jira))


def test_a_project_listing_stopped_between_pages_carries_on_where_it_stopped(db, admin, admin_client, start_jira):
    jira = start_jira()
    keys = [f"P{number:03d}" for number in range(jira_connector.PROJECT_PAGE_SIZE + 1)]   # two pages
    for key in keys:
        jira.add_project(key, f"Project {key}")
    integration = connect_jira(db, admin, admin_client, jira, [keys[0], keys[-1]])
    jira.while_listing_projects = jira_fails_from_now(jira)

    assert run_sync(integration.id, connector_factory=fast_connector).status == "failed"
    assert sorted(projects_by_name(db)) == [f"Project {keys[0]}"]
    jira.faults = None
    jira.api.clear()

    sync(integration)
    listings = [r for r in jira.api.requests if r.path.endswith("/project/search")]
    assert listings[0].args["startAt"] == str(jira_connector.PROJECT_PAGE_SIZE)
    assert sorted(projects_by_name(db)) == [f"Project {keys[0]}", f"Project {keys[-1]}"]


def test_a_project_deleted_at_jira_is_archived_with_its_issues_and_the_sync_goes_on(db, admin, admin_client,
                                                                                    start_jira):
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    jira.delete_project("BETA")        # still on the allow-list; JQL naming it would be refused
    jira.update_issue("ACME-1", summary="Still synced")

    run = sync(integration)
    assert run.archived == 1 + 3
    assert projects_by_name(db)["Beta"].archived
    tasks = tasks_by_key(db)
    assert all(task.archived for key, task in tasks.items() if key.startswith("BETA"))
    assert tasks["ACME-1"].title == "Still synced" and not tasks["ACME-1"].archived
    assert sync(integration).archived == 0


# -- worklogs -------------------------------------------------------------------------------------------

MORNING = datetime(2026, 11, 25, 8, 0)   # naive UTC, as TimeHub stores times; 09:00 in Paris


@pytest.fixture
def worklog_setup(db, admin, admin_client, make_user, start_jira):
    """Jira with ACME-1..3 imported, and Paula (in Paris) who logs time on them."""
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    paula = make_user("paula@example.com", name="Paula Paris", timezone="Europe/Paris")
    return jira, integration, paula, tasks_by_key(db)


def entry_fields(task: Task, minutes: float = 90, start: datetime = MORNING, description: str = "Boiler") -> EntryFields:
    return EntryFields(started_at=start, ended_at=start + timedelta(minutes=minutes), description=description,
                       task_id=task.id)


def push(integration: Integration) -> int:
    return push_pending(integration.id)


def test_a_completed_entry_becomes_a_worklog_and_follows_edits_moves_and_deletion(db, worklog_setup):
    jira, integration, paula, tasks = worklog_setup
    entry = time_service.create_entry(paula, entry_fields(tasks["ACME-1"]))
    jira.api.clear()
    assert push(integration) == 1
    # A first attempt creates at once: no lookup of earlier attempts' worklogs.
    [call] = rest_calls(jira)
    assert call.startswith("POST issue/") and call.endswith("/worklog")

    [worklog] = jira.worklogs_of("ACME-1")
    assert worklog["timeSpentSeconds"] == 5400
    assert worklog["started"] == "2026-11-25T09:00:00.000+0100"
    assert worklog["comment"]["type"] == "doc"
    assert "Paula Paris" in json.dumps(worklog["comment"]) and "Boiler" in json.dumps(worklog["comment"])

    time_service.update_entry(entry, entry_fields(tasks["ACME-1"], minutes=30, description="Pipes"))
    push(integration)
    [edited] = jira.worklogs_of("ACME-1")
    assert (edited["id"], edited["timeSpentSeconds"]) == (worklog["id"], 1800)
    assert "Pipes" in json.dumps(edited["comment"])

    time_service.update_entry(entry, entry_fields(tasks["BETA-2"], minutes=30))
    push(integration)
    assert jira.worklogs_of("ACME-1") == []
    [moved] = jira.worklogs_of("BETA-2")
    assert moved["timeSpentSeconds"] == 1800 and moved["id"] != worklog["id"]

    time_service.delete_entry(entry)
    push(integration)
    assert jira.worklogs_of("BETA-2") == []
    assert {status for status, _ in outbox(db)} == {"done"}
    assert check_contract(jira) == len(rest_calls(jira))


def test_short_entries_are_skipped_with_the_reason_and_running_timers_never_pushed(db, worklog_setup):
    jira, integration, paula, tasks = worklog_setup
    short = time_service.create_entry(paula, entry_fields(tasks["ACME-1"], minutes=0.5))
    # The person saving it is told at once; a long entry needs no word.
    assert push_notices(db.session, "time_entry", short) == [jira_connector.SHORT_WORKLOG]
    push(integration)
    assert jira.worklogs_of("ACME-1") == []
    [(status, reason)] = outbox(db)
    assert status == "skipped" and "under a minute" in reason

    timer = time_service.start_timer(paula, task_id=tasks["ACME-2"].id, now=MORNING)
    push(integration)
    assert jira.worklogs_of("ACME-2") == [] and len(outbox(db)) == 1   # a running timer queues nothing

    time_service.stop_timer(paula, now=MORNING + timedelta(minutes=5))
    push(integration)
    [stopped] = jira.worklogs_of("ACME-2")
    assert stopped["timeSpentSeconds"] == 300
    assert push_notices(db.session, "time_entry", db.session.get(TimeEntry, timer.id)) == []

    pushed = time_service.create_entry(paula, entry_fields(tasks["ACME-3"], minutes=10, start=MORNING + timedelta(hours=2)))
    push(integration)
    assert len(jira.worklogs_of("ACME-3")) == 1
    time_service.update_entry(pushed, entry_fields(tasks["ACME-3"], minutes=0.5, start=MORNING + timedelta(hours=2)))
    push(integration)                      # shortened below a minute: the worklog goes away
    assert jira.worklogs_of("ACME-3") == []
    assert outbox(db)[-1][0] == "skipped"
    assert check_contract(jira) == len(rest_calls(jira))


def test_a_pushed_entry_that_runs_again_is_taken_off_jira_with_the_reason(db, worklog_setup):
    jira, integration, paula, tasks = worklog_setup
    entry = time_service.create_entry(paula, entry_fields(tasks["ACME-1"]))
    push(integration)
    assert len(jira.worklogs_of("ACME-1")) == 1
    entry.ended_at = None  # running again (its end taken away): no worklog can say how long
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    push(integration)
    assert jira.worklogs_of("ACME-1") == []
    assert outbox(db)[-1] == ("skipped", "Running timers are not pushed.")

def test_a_worklog_whose_answer_was_lost_is_found_again_not_created_twice(db, worklog_setup):
    jira, integration, paula, tasks = worklog_setup
    jira.lose_worklog_answers = 1
    entry = time_service.create_entry(paula, entry_fields(tasks["ACME-1"]))
    assert push(integration) == 0           # no answer: the push waits for another attempt
    assert len(jira.worklogs_of("ACME-1")) == 1   # ... though Jira created the worklog
    retry_now(db)

    assert push(integration) == 1
    [worklog] = jira.worklogs_of("ACME-1")
    assert worklog["timeSpentSeconds"] == 5400
    assert jira.worklog_properties[worklog["id"]] == [{"key": "timehub", "value": {"entry_id": entry.id}}]
    db.session.expire_all()
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.local_kind == "time_entry")).one()
    assert link.external_id == f"{worklog['issueId']}/{worklog['id']}"


def test_a_worklog_deleted_at_jira_is_logged_again_and_an_entry_on_a_deleted_issue_is_skipped(db, worklog_setup):
    jira, integration, paula, tasks = worklog_setup
    first = time_service.create_entry(paula, entry_fields(tasks["ACME-1"]))
    second = time_service.create_entry(paula, entry_fields(tasks["ACME-2"], start=MORNING + timedelta(hours=3)))
    push(integration)
    [worklog] = jira.worklogs_of("ACME-1")
    with httpx2.Client(base_url=jira.site_api_base() + "/rest/api/3",
                       headers={"Authorization": f"Bearer {jira.issue_token()}"}) as someone:
        assert someone.delete(f"/issue/{worklog['issueId']}/worklog/{worklog['id']}").status_code == 204
    jira.delete_issue("ACME-2")

    time_service.update_entry(first, entry_fields(tasks["ACME-1"], minutes=45))
    time_service.update_entry(second, entry_fields(tasks["ACME-2"], minutes=45, start=MORNING + timedelta(hours=3)))
    push(integration)

    [again] = jira.worklogs_of("ACME-1")
    assert again["timeSpentSeconds"] == 2700 and again["id"] != worklog["id"]
    statuses = {item.local_id: (item.status, item.last_error) for item in db.session.scalars(
        select(OutboxItem).where(OutboxItem.status != "done"))}
    assert statuses[second.id] == ("skipped", "The Jira issue this entry is on no longer exists, or TimeHub may "
                                              "no longer see it.")
    assert first.id not in statuses


# -- webhooks ---------------------------------------------------------------------------------------

def test_webhooks_are_registered_refreshed_moved_verified_and_removed(db, admin, admin_client, start_jira,
                                                                     live_app):
    jira = start_jira()
    seeded(jira)
    jira.add_project("GAMMA", "Gamma")
    jira.add_issue("GAMMA", "Gamma 1")
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)

    [hook] = jira.webhooks
    acme, beta, gamma = (jira.projects[key]["id"] for key in ("ACME", "BETA", "GAMMA"))
    assert hook["url"] == f"{live_app}/webhooks/jira/{integration.webhook_token}"
    assert hook["jqlFilter"] == f"project in ({', '.join(sorted([acme, beta]))})"
    assert set(hook["events"]) == {"jira:issue_created", "jira:issue_updated", "jira:issue_deleted"}

    jira.update_issue("ACME-1", summary="Changed, said a webhook", status="Done")
    assert jira.send_webhook("jira:issue_updated", "ACME-1") == 202
    assert process_deliveries(db) == 1
    assert (tasks_by_key(db)["ACME-1"].title, tasks_by_key(db)["ACME-1"].status) == ("Changed, said a webhook", "done")
    first = jira.deliveries[-1]["headers"]["X-Atlassian-Webhook-Identifier"]
    assert jira.send_webhook("jira:issue_updated", "ACME-1", identifier=first) == 200     # a replay
    assert jira.send_webhook("jira:issue_updated", "ACME-1", secret="not-the-secret") == 401
    assert process_deliveries(db) == 0
    jira.delete_issue("BETA-1")
    assert jira.send_webhook("jira:issue_deleted", "BETA-1") == 202
    process_deliveries(db)
    assert tasks_by_key(db)["BETA-1"].archived

    since = len(jira.api.requests)
    sync(integration)                       # far from expiry: nothing to do for the webhook
    assert not [c for c in rest_calls(jira, since) if "webhook" in c]
    # Time passes (no sleeping: both sides' clocks are moved): the webhook is close to its expiry.
    jira.expire_webhooks()
    integration = current(db)
    state = integration.connector_state["webhooks"]
    near = (datetime.now(timezone.utc) + timedelta(days=jira_connector.WEBHOOK_REFRESH_BEFORE_DAYS - 1)).timestamp()
    integration.connector_state = {**integration.connector_state, "webhooks": {**state, "expires": int(near * 1000)}}
    db.session.commit()
    sync(integration)                       # refreshed
    assert "PUT webhook/refresh" in rest_calls(jira, since)
    assert jira.webhooks[0]["expirationDate"] > (datetime.now(timezone.utc) + timedelta(days=20)).timestamp() * 1000
    assert current(db).connector_state["webhooks"]["expires"] == jira.webhooks[0]["expirationDate"]

    integration = current(db)
    allow(db, integration, jira, ["BETA", "GAMMA"])
    sync(integration)                       # the allow-list changed: the webhook follows it
    [moved] = jira.webhooks
    assert moved["id"] != hook["id"] and moved["jqlFilter"] == f"project in ({', '.join(sorted([beta, gamma]))})"
    jira.update_issue("GAMMA-1", summary="Gamma, by webhook")
    assert jira.send_webhook("jira:issue_updated", "GAMMA-1") == 202
    assert jira.send_webhook("jira:issue_updated", "ACME-2") is None    # no longer matched
    process_deliveries(db)
    assert tasks_by_key(db)["GAMMA-1"].title == "Gamma, by webhook"

    assert IntegrationService().disconnect(admin, "jira") is None
    assert jira.webhooks == []
    assert connect(admin_client, "jira").status_code == 302    # connected again: the webhook comes back
    sync(current(db))
    assert [hook["jqlFilter"] for hook in jira.webhooks] == [moved["jqlFilter"]]
    assert check_contract(jira) == len(rest_calls(jira))


def test_a_delivery_stored_before_its_project_left_the_allow_list_archives_its_task(db, admin, admin_client,
                                                                                      start_jira, live_app):
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    jira.update_issue("ACME-1", summary="Changed while ACME was allowed")
    assert jira.send_webhook("jira:issue_updated", "ACME-1") == 202   # stored, not processed yet
    allow(db, current(db), jira, ["BETA"])                           # meanwhile ACME leaves the allow-list
    assert process_deliveries(db) == 1
    tasks = tasks_by_key(db)
    assert tasks["ACME-1"].archived and tasks["ACME-1"].title == "Acme 1"   # not written as a live task
    assert not tasks["BETA-1"].archived


def test_an_issue_without_a_summary_is_named_by_its_key_and_links_to_the_site_once(db, admin, admin_client,
                                                                                    start_jira):
    jira = start_jira()
    jira.add_project("ACME", "Acme")
    jira.add_issue("ACME", "")
    jira.sites[0]["url"] += "/"   # a site URL with a trailing slash, as the address bar gives it
    integration = connect_jira(db, admin, admin_client, jira, ["ACME"])
    sync(integration)
    task = tasks_by_key(db)["ACME-1"]
    assert (task.title, task.external_url) == ("ACME-1", f"{jira.sites[0]['url']}browse/ACME-1")
    assert "//browse" not in task.external_url


def test_emptying_the_allow_list_archives_every_imported_task(db, admin, admin_client, start_jira):
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    allow(db, current(db), jira, [])
    run = sync(current(db))
    assert run.archived == 2 + 6
    assert all(task.archived for task in tasks_by_key(db).values())


def test_an_issue_in_a_status_without_a_category_is_imported_as_to_do(db, admin, admin_client, start_jira):
    jira = start_jira()
    jira.add_project("ACME", "Acme")
    jira.add_status("Parked", "undefined")          # Jira's "No Category"
    jira.add_issue("ACME", "Waiting", status="Parked")
    sync(connect_jira(db, admin, admin_client, jira, ["ACME"]))
    assert tasks_by_key(db)["ACME-1"].status == "todo"


def test_a_webhook_jira_refuses_leaves_the_sync_working_and_says_why(db, admin, admin_client, start_jira, live_app):
    jira = start_jira()
    seeded(jira)
    jira.refuse_webhooks = ["The limit of webhooks was reached.", "Try later."]
    integration = connect_jira(db, admin, admin_client, jira, ["ACME"])
    run = sync(integration)
    assert run.created == 4  # the project and its three issues
    assert current(db).connector_state["webhooks"] == {
        "error": "Jira refused the webhook: The limit of webhooks was reached.; Try later."}
    assert jira.webhooks == []
    # Once Jira takes it, the next sync registers it and the reason goes away.
    jira.refuse_webhooks = []
    sync(current(db))
    [hook] = jira.webhooks
    assert current(db).connector_state["webhooks"]["ids"] == [hook["id"]]
    assert "error" not in current(db).connector_state["webhooks"]


def test_webhooks_verify_with_the_client_secret_from_the_environment_too(db, admin, admin_client, start_jira,
                                                                       live_app, monkeypatch):
    jira = start_jira()
    seeded(jira)
    monkeypatch.setenv("JIRA_CLIENT_ID", jira.oauth.client_id)     # no app saved on the setup page
    monkeypatch.setenv("JIRA_CLIENT_SECRET", jira.oauth.client_secret)
    assert connect(admin_client, "jira").status_code == 302
    integration = current(db)
    allow(db, integration, jira, ["ACME"])
    sync(integration)
    jira.update_issue("ACME-3", summary="Signed with the secret from the environment")
    assert jira.send_webhook("jira:issue_updated", "ACME-3") == 202
    assert jira.send_webhook("jira:issue_updated", "ACME-3", secret="jira-secret-but-wrong") == 401
    jira.add_issue("ACME", "Born in Jira")
    assert jira.send_webhook("jira:issue_created", "ACME-4") == 202
    process_deliveries(db)
    tasks = tasks_by_key(db)
    assert tasks["ACME-3"].title == "Signed with the secret from the environment"
    assert (tasks["ACME-4"].title, tasks["ACME-4"].project.name) == ("Born in Jira", "Acme")


def test_a_revoked_grant_fails_the_sync_and_asks_for_a_reconnect(db, admin, admin_client, start_jira):
    jira = start_jira()
    seeded(jira)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME"])
    sync(integration)
    jira.oauth.expire_access_tokens()       # expired only: refreshed on the way, the sync goes on
    sync(integration)
    assert current(db).status == "active"
    jira.oauth.revoke_all()
    jira.oauth.expire_access_tokens()

    run = run_sync(integration.id)
    assert run.status == "failed" and "Reconnect Jira" in run.error
    assert current(db).status == "needs_reconnect"


def test_pushes_wait_in_the_outbox_while_the_grant_is_dead(db, worklog_setup):
    jira, integration, paula, tasks = worklog_setup
    jira.oauth.revoke_all()
    jira.oauth.expire_access_tokens()
    time_service.create_entry(paula, entry_fields(tasks["ACME-1"]))

    assert push(integration) == 0          # a finished, failed run; no exception out of the job
    db.session.expire_all()
    run = db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
    assert (run.trigger, run.status) == ("push", "failed") and "Reconnect Jira" in run.error
    assert current(db).status == "needs_reconnect"
    assert outbox(db) == [("pending", None)] and jira.worklogs_of("ACME-1") == []


# -- faults ------------------------------------------------------------------------------------------

def imported_state(db) -> dict[str, tuple]:
    return {key: (task.title, task.status, task.project.name, task.archived) for key, task in tasks_by_key(db).items()}


def expected_state(jira: FakeJira, keys: list[str]) -> dict[str, tuple]:
    category = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
    names = {project["id"]: project["name"] for project in jira.projects.values()}
    return {issue["key"]: (issue["summary"], category[jira.statuses[issue["status"]]["statusCategory"]["key"]],
                           names[issue["project_id"]], False)
            for issue in jira.issues.values() if any(issue["key"].startswith(key + "-") for key in keys)}


def test_with_20_percent_faults_import_and_worklogs_end_as_without_and_worklogs_exist_once(
        db, admin, admin_client, make_user, start_jira, monkeypatch):
    monkeypatch.setattr(tuning, "PUSH_MAX_ATTEMPTS", 100)
    jira = start_jira(faults=Faults(rate=0.2, hang=0.05, latency=0.005, retry_after="0.01"))
    seeded(jira, per_project=250)
    for number in range(1, 40, 3):
        jira.update_issue(f"BETA-{number}", status="Done", summary=f"Done {number}")
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])

    for _attempt in range(10):   # a run that ran out of retries is simply run again, as the scheduler does
        if run_sync(integration.id, connector_factory=fast_connector).status == "succeeded":
            break
    assert imported_state(db) == expected_state(jira, ["ACME", "BETA"])
    assert db.session.scalar(select(func.count()).select_from(ExternalLink)) == 500 + 2

    paula = make_user("paula@example.com", name="Paula", timezone="Europe/Paris")
    tasks = tasks_by_key(db)
    keys = ["ACME-1", "ACME-2", "ACME-2", "BETA-5", "BETA-7", "BETA-7", "BETA-7", "ACME-9"] * 3
    entries = [time_service.create_entry(paula, entry_fields(tasks[key], minutes=10 + n,
                                                             start=MORNING + timedelta(hours=n)))
               for n, key in enumerate(keys)]
    jira.lose_worklog_answers = 2             # and two POSTs get through but their answers are lost
    for _round in range(30):
        push_pending(integration.id, connector_factory=fast_connector)
        if not any(status == "pending" for status, _ in outbox(db)):
            break
        retry_now(db)
    assert {status for status, _ in outbox(db)} == {"done"}
    pushed = {key: sorted(w["timeSpentSeconds"] for w in jira.worklogs_of(key)) for key in set(keys)}
    assert pushed == {key: sorted((10 + n) * 60 for n, k in enumerate(keys) if k == key) for key in set(keys)}
    assert sorted(w["id"] for key in set(keys) for w in jira.worklogs_of(key)) == sorted(
        jira.created_worklogs)               # every worklog created is one TimeHub knows: no strays
    assert len(entries) == len(jira.created_worklogs)
    faulted = [r for r in jira.api.requests if r.status in (429, 500, 502, 503, 504)]
    assert len(faulted) >= 3                  # faults really happened: injected ones (recorded 429/5xx) ...
    assert jira.lose_worklog_answers == 0     # ... and the two lost answers (recorded as the 201s the fake wrote)


# -- the shape a delivery must have before it is stored (the reason is in the 422 answer) ----------------

ISSUE = {"id": "10001", "key": "P-1"}
SHAPE_PROBLEMS = [
    ({"issue": [1]}, "jira:issue_updated", "issue is not an object"),
    ({"issue": {"id": True, "key": "P-1"}}, "jira:issue_updated", "issue.id is missing or not an id"),
    ({"issue": {"id": "", "key": "P-1"}}, "jira:issue_updated", "issue.id is missing or not an id"),
    ({"issue": {"id": "1"}}, "jira:issue_updated", "issue.key is missing"),
    ({"issue": {**ISSUE, "fields": "x"}}, "jira:issue_updated", "issue.fields is not an object"),
    ({"issue": {**ISSUE, "fields": {"project": "P"}}}, None, "issue.fields.project is not an object"),
    ({"issue": {**ISSUE, "fields": {"assignee": ["a"]}}}, None, "issue.fields.assignee is not an object"),
    ({"issue": {**ISSUE, "fields": {"status": {"statusCategory": "done"}}}}, None,
     "issue.fields.status.statusCategory is not an object"),
    ({"issue": {**ISSUE, "fields": {"assignee": {"accountId": 7}}}}, None,
     "issue.fields.assignee.accountId is not text"),
    ({"issue": {**ISSUE, "fields": {"status": {"statusCategory": {"key": 2}}}}}, None,
     "issue.fields.status.statusCategory.key is not text"),
    ({"issue": {**ISSUE, "fields": {"updated": 1}}}, None, "issue.fields.updated is not text"),
    ({"issue": {**ISSUE, "fields": {"summary": ["s"]}}}, None, "issue.fields.summary is not text"),
]


@pytest.mark.parametrize("payload, event, problem", SHAPE_PROBLEMS)
def test_a_delivery_of_the_wrong_shape_is_refused_with_the_field_that_is_wrong(payload, event, problem):
    assert jira_connector.JiraConnector.delivery_problem(event, payload) == problem


@pytest.mark.parametrize("payload, event", [
    ({"webhookEvent": "jira:worklog_updated"}, "jira:worklog_updated"),       # no issue: stored, applies nothing
    ({"issue": {"id": 10001}}, "jira:issue_deleted"),                           # a deletion needs no key
    ({"issue": ISSUE}, "jira:issue_updated"),                                   # no fields
    ({"issue": {**ISSUE, "fields": {"summary": "S", "updated": "2026-11-29T09:00:00.000+0100", "project": {"id": "1"},
                                    "status": {"statusCategory": {"key": "done"}}, "assignee": {"accountId": "a"}}}},
     "jira:issue_updated"),
])
def test_deliveries_jira_sends_pass_the_shape_check(payload, event):
    assert jira_connector.JiraConnector.delivery_problem(event, payload) is None


def test_the_site_a_grant_reaches_is_addressed_through_the_gateway_and_offered_by_name():
    assert jira_connector.site_api_base({"cloud_id": "c-1"}, "https://gw.example/") == "https://gw.example/ex/jira/c-1"
    with pytest.raises(PermanentError, match="No Jira site is chosen"):
        jira_connector.site_api_base({}, "https://gw.example")
    unnamed = jira_connector._site_option({"id": "c-1", "url": "https://acme.atlassian.net",
                                           "scopes": ["read:jira-work"]})
    assert (unnamed.key, unnamed.detail, unnamed.account.label) == ("c-1", "https://acme.atlassian.net",
                                                                   "https://acme.atlassian.net")
    assert unnamed.account.settings == {"cloud_id": "c-1", "site_url": "https://acme.atlassian.net",
                                        "site_name": "https://acme.atlassian.net"}
    bare = jira_connector._site_option({"id": "c-3", "name": "Old site"})  # no scopes listed: taken as Jira's
    assert (bare.account.label, bare.detail) == ("Old site", "")
    assert jira_connector._site_option({"id": "c-2", "name": "Wiki", "scopes": ["read:confluence-content.all"]}) \
        is None


def test_the_webhook_line_of_the_status_says_until_when_and_what_failed():
    facts = jira_connector.JiraConnector.status_facts
    until = int(datetime(2026, 12, 30, tzinfo=timezone.utc).timestamp() * 1000)
    assert facts({"webhooks": {"ids": [1], "expires": until}}) == [("Webhooks", "registered, renewed until 2026-12-30")]
    assert facts({"webhooks": {"ids": [1], "expires": until, "error": "Jira answered 500"}}) == [
        ("Webhooks", "registered, renewed until 2026-12-30; the last attempt to update them failed: Jira answered 500")]
    assert facts({}) == [("Webhooks", "registered at the next sync, once projects are chosen")]


@pytest.mark.parametrize("headers, secrets", [
    ({}, {"client_secret": "s"}),                                    # no JWT at all
    ({"Authorization": "Basic dXNlcjpwdw=="}, {"client_secret": "s"}),  # not a bearer token
    ({"Authorization": "Bearer x.y.z"}, {}),                          # no secret to check it with
])
def test_a_delivery_without_a_checkable_jwt_is_401(headers, secrets):
    with pytest.raises(WebhookRejected) as caught:
        jira_connector.JiraConnector.verify_webhook(None, secrets, headers, b"{}", "https://timehub.test/webhooks/j")
    assert (caught.value.status, caught.value.reason) == (401, "no Atlassian JWT")


def test_a_signed_delivery_is_read_and_its_request_hash_and_shape_are_checked():
    from tests.fakes.jira_webhooks import hs256_jwt, webhook_jwt

    url, secrets = "https://timehub.test/webhooks/jira/t", {"client_id": "cid", "client_secret": "s"}
    verify = jira_connector.JiraConnector.verify_webhook
    signed = {"Authorization": f"Bearer {webhook_jwt('cid', 's')}", "X-Atlassian-Webhook-Identifier": "d-1"}
    body = json.dumps({"webhookEvent": "jira:issue_updated"}).encode()
    assert verify(None, secrets, signed, body, url) == WebhookEvent("d-1", "jira:issue_updated")

    def refused(headers, body=body) -> tuple[int, str]:
        with pytest.raises(WebhookRejected) as caught:
            verify(None, secrets, headers, body, url)
        return caught.value.status, caught.value.reason

    assert refused(signed, b"[1]") == (400, "body is not a JSON object")
    assert refused({"Authorization": signed["Authorization"]}) == (400, "X-Atlassian-Webhook-Identifier missing")
    now = int(datetime.now(timezone.utc).timestamp())
    other_request = hs256_jwt({"iss": "cid", "iat": now, "exp": now + 60,
                               "qsh": jwt_hs256.query_hash("POST", url + "-other")}, "s")
    assert refused({**signed, "Authorization": f"Bearer {other_request}"}) == (
        401, "Atlassian JWT refused: made for another request (qsh)")


def test_a_site_listing_that_fails_while_connecting_names_jira_and_its_answer(db, admin, admin_client, start_jira):
    jira = start_jira()
    IntegrationService().save_app_credentials(admin, "jira", {"client_id": jira.oauth.client_id,
                                                              "client_secret": jira.oauth.client_secret})
    jira.sites_unavailable = True

    response = connect(admin_client, "jira")

    assert response.status_code == 502
    assert "Jira answered 503: Service Unavailable. Please try connecting again." in response.get_data(as_text=True)
    assert db.session.scalars(select(Integration).where(Integration.status == "active")).all() == []
