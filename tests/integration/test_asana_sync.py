"""The Asana connector end to end, over real HTTP to the fake Asana (tests/fakes/asana.py).

The app reaches the fake only through the ASANA_* endpoint variables and the OAuth app
saved on the setup page; the connection goes through the real OAuth flow. Every request
the connector sends is checked against Asana's API description by the fake itself.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import tuning
from app.integrations import asana as asana_connector
from app.models import ExternalLink, Integration, Project
from app.services import time_service
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from app.services.sync_service import push_pending, run_sync, settings_changed
from app.services.time_service import EntryFields
from bench.sync_noop import WriteCounter
from tests import tracker_harness as harness
from tests.fakes.asana import FakeAsana
from tests.fakes.paged_provider import Faults
from tests.oauth_steps import connect
from tests.tracker_harness import (  # noqa: F401 (live_app is a fixture)
    FAST_RETRIES,
    connect_oauth,
    live_app,
    oauth_fake_fixture,
    outbox,
    process_deliveries,
    retry_now,
    sync,
    tasks_by_remote_id,
)

start_asana = oauth_fake_fixture(FakeAsana, "asana")


def current(db) -> Integration:
    return harness.current(db, "asana")


def connect_asana(db, admin, admin_client, fake: FakeAsana, projects=None) -> Integration:
    integration = connect_oauth(db, admin, admin_client, "asana", fake)
    assert integration.connection_facts["workspace_gid"] == fake.workspace["gid"]
    if projects is not None:
        allow(db, integration, projects)
    return integration


def allow(db, integration, projects) -> None:
    harness.allow(db, integration, [p["gid"] for p in projects])


def calls(fake: FakeAsana, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path.removeprefix('/api/1.0/')}" for r in fake.requests[since:]]


@pytest.fixture
def seeded(start_asana):
    asana = start_asana()
    ann = asana.add_user("Ann Asana", "ann@example.com")
    acme, beta, other = asana.add_project("Acme"), asana.add_project("Beta"), asana.add_project("Other")
    return asana, ann, acme, beta, other


# -- import ----------------------------------------------------------------------------------

def test_a_first_import_of_several_pages_creates_projects_and_tasks(db, admin, admin_client, make_user, seeded):
    asana, ann, acme, beta, other = seeded
    make_user("ann@example.com", name="Ann")
    many = [asana.add_task(acme, f"Acme {n}") for n in range(250)]
    doing = asana.add_task(beta, "In the works", section="Doing", assignee=ann)
    done = asana.add_task(beta, "Finished", completed=True)
    asana.add_task(other, "Not synced")
    integration = connect_asana(db, admin, admin_client, asana, [acme, beta])
    since = len(asana.requests)

    run = sync(integration)
    tasks = tasks_by_remote_id(db)
    assert len(tasks) == 252 and run.created == 2 + 252
    assert (tasks[doing["gid"]].status, tasks[doing["gid"]].assignee.email) == ("in_progress", "ann@example.com")
    assert tasks[done["gid"]].status == "done" and tasks[many[0]["gid"]].status == "todo"
    assert tasks[many[0]["gid"]].project.name == "Acme"
    assert tasks[many[0]["gid"]].external_url == f"https://app.asana.com/0/{acme['gid']}/{many[0]['gid']}"
    made = calls(asana, since)
    assert made.count(f"GET projects/{acme['gid']}/tasks") == 3 and made.count(f"GET projects/{beta['gid']}/tasks") == 1
    # Projects once, the workspace's users once (for e-mails), then per project a sync token and its
    # pages; the daily time tracking check.
    assert len(made) == 1 + 1 + (1 + 3) + (1 + 1) + 1
    task_calls = [r for r in asana.requests[since:] if r.path.endswith("/tasks")]
    assert all(r.args["limit"] == "100" and r.args["opt_fields"] == asana_connector.TASK_FIELDS for r in task_calls)


def test_an_incremental_sync_follows_events_and_a_quiet_one_writes_nothing(db, admin, admin_client, seeded):
    asana, ann, acme, beta, other = seeded
    first, second, third = (asana.add_task(acme, name) for name in ("First", "Second", "Third"))
    fourth = asana.add_task(beta, "Fourth")
    integration = connect_asana(db, admin, admin_client, asana, [acme, beta])
    sync(integration)

    since = len(asana.requests)
    writes = WriteCounter(db.engine)
    try:
        run = sync(integration)
    finally:
        writes.close()
    assert (run.created, run.updated, run.archived) == (0, 0, 0) and writes.total == 0, writes.by_table
    assert calls(asana, since) == ["GET workspaces/%s/projects" % asana.workspace["gid"], "GET events", "GET events"]

    asana.update_task(first, name="First, renamed", completed=True)
    asana.update_task(second, section="Doing")
    asana.delete_task(third)
    asana.remove_from_project(fourth, beta)
    new = asana.add_task(beta, "Born later")
    since = len(asana.requests)
    run = sync(integration)
    tasks = tasks_by_remote_id(db)
    assert (tasks[first["gid"]].title, tasks[first["gid"]].status) == ("First, renamed", "done")
    assert tasks[second["gid"]].status == "in_progress"
    assert tasks[third["gid"]].archived and tasks[fourth["gid"]].archived
    assert tasks[new["gid"]].title == "Born later" and run.created == 1
    assert [c for c in calls(asana, since) if "tasks" in c] == ["GET tasks", "GET tasks"]   # modified_since
    assert all("modified_since" in r.args for r in asana.requests[since:] if r.path.endswith("/tasks"))

    asana.rename_section(acme, "To do", "Done already")    # a section renamed: the project is listed again
    sync(integration)
    assert tasks_by_remote_id(db)[many_gid := first["gid"]].status == "done" and many_gid


def test_an_expired_sync_token_starts_a_new_full_listing(db, admin, admin_client, seeded):
    asana, ann, acme, beta, other = seeded
    kept, dropped = asana.add_task(acme, "Kept"), asana.add_task(acme, "Dropped")
    integration = connect_asana(db, admin, admin_client, asana, [acme])
    sync(integration)
    asana.expire_sync_tokens()
    with asana._lock:   # gone without an event anyone will see: only a whole listing notices
        del asana.tasks[dropped["gid"]]
    asana.update_task(kept, name="Kept, renamed")
    asana.events.clear()
    since = len(asana.requests)
    sync(integration)                       # 412: the project is listed again at once ...
    assert tasks_by_remote_id(db)[kept["gid"]].title == "Kept, renamed"
    assert [r.status for r in asana.requests[since:] if r.path.endswith("/events")][0] == 412
    sync(current(db))                       # ... and the next sync is a whole listing, which archives
    assert tasks_by_remote_id(db)[dropped["gid"]].archived


def test_the_mappings_win(db, admin, admin_client, make_user, seeded):
    asana, ann, acme, beta, other = seeded
    hal = make_user("hal@example.com", name="Hal")
    hidden = asana.add_user("Hidden", None)
    task = asana.add_task(acme, "Mapped", assignee=hidden)
    integration = connect_asana(db, admin, admin_client, asana, [acme])
    tables = {t.setting: t for t in connector_for(integration).mapping_tables()}
    people = {row.label: row.automatic for row in tables["user_map"].rows}
    assert people["Ann Asana"] == "by e-mail (ann@example.com)" and people["Hidden"].startswith("unassigned")
    integration.settings = {**integration.settings, "user_map": {hidden["gid"]: str(hal.id)},
                            "status_map": {"open": "in_progress"}}
    settings_changed(db.session, integration)
    sync(integration)
    assert (tasks_by_remote_id(db)[task["gid"]].assignee_id, tasks_by_remote_id(db)[task["gid"]].status) == (hal.id, "in_progress")


def test_each_section_seen_gets_a_status_row_and_a_mapped_section_wins(db, admin, admin_client, seeded):
    asana, ann, acme, beta, other = seeded
    review = asana.add_project("Review board", sections=("Backlog", "Waiting for QA"))
    backlog = asana.add_task(review, "Not yet", section="Backlog")
    waiting = asana.add_task(review, "With QA", section="Waiting for QA")
    doing = asana.add_task(acme, "Under way", section="Doing")
    asana.add_task(other, "Not synced", section="Done")
    integration = connect_asana(db, admin, admin_client, asana, [acme, review])
    assert [row.remote_id for row in connector_for(integration).mapping_tables()[0].rows] == ["completed", "open"]
    sync(integration)

    rows = {row.label: row for row in connector_for(current(db)).mapping_tables()[0].rows}
    assert {label: row.automatic for label, row in rows.items() if "/" in label} == {
        "Acme / Doing": "In progress", "Review board / Backlog": "To do", "Review board / Waiting for QA": "To do"}
    assert tasks_by_remote_id(db)[waiting["gid"]].status == "todo"
    integration = current(db)
    integration.settings = {**integration.settings, "status_map": {
        rows["Review board / Waiting for QA"].remote_id: "in_progress", "open": "done"}}
    settings_changed(db.session, integration)
    sync(integration)
    tasks = tasks_by_remote_id(db)
    assert tasks[waiting["gid"]].status == "in_progress"              # its section's choice wins
    assert (tasks[backlog["gid"]].status, tasks[doing["gid"]].status) == ("done", "done")   # the open tasks' one


def test_settings_saved_while_a_pull_runs_reach_every_task_of_the_next_sync(db, admin, admin_client, seeded):
    """The admin ticks a project while the connect-time pull is between its streams (CI's
    Asana browser test met this): that pull keeps the settings it started with, and its cursor
    commits do not undo the save's "read everything again", so the sync the page queued
    lists the new project's tasks instead of asking only for events since."""
    asana, ann, acme, beta, other = seeded
    boiler, fence = asana.add_task(acme, "Fix the boiler"), asana.add_task(acme, "Paint the fence")
    integration_id = connect_asana(db, admin, admin_client, asana).id     # nothing chosen yet

    def admin_saves_acme(run, stream, page):
        if stream == "projects" and page.listing_complete:          # from the page's own session
            with Session(db.engine) as page_session:
                saved = page_session.get(Integration, integration_id)
                saved.settings = {**(saved.settings or {}), "allow_list": [acme["gid"]]}
                settings_changed(page_session, saved)

    first = run_sync(integration_id, progress=admin_saves_acme)
    assert first.status == "succeeded" and tasks_by_remote_id(db) == {}    # it pulled with no project
    sync(current(db))                                                      # the one the page queued
    assert {task.title for task in tasks_by_remote_id(db).values()} == {boiler["name"], fence["name"]}


def test_a_mapping_saved_while_a_pull_runs_is_applied_to_every_task_by_the_next_sync(db, admin, admin_client,
                                                                                      seeded):
    """The running pull applies the tasks with the mapping it started with, and its cursor
    would have the next sync ask only for changes: the engine asks again for a whole listing."""
    asana, ann, acme, beta, other = seeded
    tasks = [asana.add_task(acme, name) for name in ("Fix the boiler", "Paint the fence")]
    integration_id = connect_asana(db, admin, admin_client, asana, [acme]).id

    def admin_maps_open_to_in_progress(run, stream, page):
        if stream == "projects" and page.listing_complete:
            with Session(db.engine) as page_session:
                saved = page_session.get(Integration, integration_id)
                saved.settings = {**saved.settings, "status_map": {"open": "in_progress"}}
                settings_changed(page_session, saved)

    assert run_sync(integration_id, progress=admin_maps_open_to_in_progress).status == "succeeded"
    assert {task.status for task in tasks_by_remote_id(db).values()} == {"todo"}   # the mapping it began with
    sync(current(db))
    imported = tasks_by_remote_id(db)
    assert [imported[task["gid"]].status for task in tasks] == ["in_progress", "in_progress"]


# -- push ------------------------------------------------------------------------------------

MORNING = datetime(2026, 11, 25, 23, 30)   # naive UTC; already the 26th in Tokyo


@pytest.fixture
def pushing(db, admin, admin_client, make_user, seeded):
    asana, ann, acme, beta, other = seeded
    one, two = asana.add_task(acme, "One"), asana.add_task(beta, "Two")
    integration = connect_asana(db, admin, admin_client, asana, [acme, beta])
    sync(integration)
    tomo = make_user("tomo@example.com", name="Tomo", timezone="Asia/Tokyo")
    tasks = tasks_by_remote_id(db)
    return asana, integration, tomo, tasks[one["gid"]], tasks[two["gid"]], one, two, acme, beta


def fields(task, minutes=90, start=MORNING) -> EntryFields:
    return EntryFields(started_at=start, ended_at=start + timedelta(minutes=minutes), description="Work",
                       task_id=task.id)


def test_entries_become_time_tracking_entries_and_follow_edits_moves_and_deletion(db, pushing):
    asana, integration, tomo, task_one, task_two, one, two, acme, beta = pushing
    entry = time_service.create_entry(tomo, fields(task_one))
    assert push_pending(integration.id) == 1
    [sent] = asana.entries_of(one)
    assert (sent["duration_minutes"], sent["entered_on"], sent["attributable_to"]) == (90, "2026-11-26", acme["gid"])

    time_service.update_entry(entry, fields(task_one, minutes=30))
    push_pending(integration.id)
    [edited] = asana.entries_of(one)
    assert (edited["gid"], edited["duration_minutes"]) == (sent["gid"], 30)

    time_service.update_entry(entry, fields(task_two, minutes=30))
    push_pending(integration.id)
    assert asana.entries_of(one) == [] and len(asana.entries_of(two)) == 1

    time_service.delete_entry(entry)
    push_pending(integration.id)
    assert asana.entries == {} and {status for status, _ in outbox(db)} == {"done"}


def test_a_lost_answer_does_not_create_a_second_entry(db, pushing):
    asana, integration, tomo, task_one, task_two, one, two, acme, beta = pushing
    asana.lose_entry_answers = 1
    time_service.create_entry(tomo, fields(task_one))
    assert push_pending(integration.id) == 0
    assert len(asana.entries_of(one)) == 1
    retry_now(db)
    assert push_pending(integration.id) == 1
    [entry] = asana.entries_of(one)
    assert len(asana.created_entries) == 1
    db.session.expire_all()
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.local_kind == "time_entry")).one()
    assert link.external_id == f"{one['gid']}/{entry['gid']}"


def test_a_workspace_without_time_tracking_says_so_once_and_sends_nothing(db, admin, admin_client, make_user,
                                                                         start_asana):
    asana = start_asana(time_tracking=False)
    acme = asana.add_project("Acme")
    task = asana.add_task(acme, "One")
    integration = connect_asana(db, admin, admin_client, asana, [acme])
    sync(integration)
    facts = dict(asana_connector.AsanaConnector.status_facts(current(db).connector_state))
    assert facts["Time tracking"] == asana_connector.NO_TIME_TRACKING
    page = admin_client.get(f"/integrations/{integration.id}").get_data(as_text=True)
    assert page.count(asana_connector.NO_TIME_TRACKING) == 1
    tomo = make_user("tomo@example.com", timezone="Asia/Tokyo")
    time_service.create_entry(tomo, fields(tasks_by_remote_id(db)[task["gid"]]))
    since = len(asana.requests)
    push_pending(integration.id)
    [(status, reason)] = outbox(db)
    assert status == "skipped" and reason == asana_connector.NO_TIME_TRACKING
    assert calls(asana, since) == []          # known from the check: not even tried, never retried


def test_a_402_on_push_is_not_sent_not_retried(db, pushing):
    asana, integration, tomo, task_one, *_ = pushing
    asana.time_tracking = False              # the plan changed since the last check
    time_service.create_entry(tomo, fields(task_one))
    push_pending(integration.id)
    [(status, reason)] = outbox(db)
    assert status == "skipped" and "no time tracking" in reason


# -- webhooks ---------------------------------------------------------------------------------

def test_webhooks_handshake_verify_deduplicate_and_go_on_disconnect(db, admin, admin_client, live_app, seeded):
    asana, ann, acme, beta, other = seeded
    task = asana.add_task(acme, "Hooked")
    integration = connect_asana(db, admin, admin_client, asana, [acme, beta])
    sync(integration)
    address = f"{live_app}/webhooks/asana/{integration.webhook_token}"
    assert sorted(h["resource"] for h in asana.webhooks.values()) == sorted([acme["gid"], beta["gid"]])
    assert all(h["target"] == address for h in asana.webhooks.values())
    state = current(db).connector_state["webhooks"]
    hook = next(h for h in asana.webhooks.values() if h["resource"] == acme["gid"])
    assert hook["secret"] not in json.dumps(state)              # kept encrypted

    asana.update_task(task, name="Renamed, said a webhook", completed=True)
    events = [asana.task_event(task)]
    assert asana.deliver(hook, events).status_code == 202
    assert asana.deliver(hook, events).status_code == 200       # the same delivery again
    assert asana.deliver(hook, events, signature="0" * 64).status_code == 401
    deep = b'{"events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    for malformed in (b'{"events": "x"}', b"[1]", b'{"events": [1]}', b"\xff\xfe", deep):
        assert asana.deliver(hook, body=malformed).status_code == 400
    assert process_deliveries(db) == 1
    assert (tasks_by_remote_id(db)[task["gid"]].title, tasks_by_remote_id(db)[task["gid"]].status) == \
        ("Renamed, said a webhook", "done")
    asana.delete_task(task)
    assert asana.deliver(hook, [asana.task_event(task, "deleted")]).status_code == 202
    process_deliveries(db)
    assert tasks_by_remote_id(db)[task["gid"]].archived

    assert IntegrationService().disconnect(admin, "asana") is None
    assert asana.webhooks == {}


# -- failures ---------------------------------------------------------------------------------

def test_a_revoked_grant_fails_the_sync_and_asks_for_a_reconnect(db, admin, admin_client, seeded):
    asana, ann, acme, *_ = seeded
    integration = connect_asana(db, admin, admin_client, asana, [acme])
    sync(integration)
    asana.oauth.revoke_all()
    asana.oauth.expire_access_tokens()
    run = run_sync(integration.id)
    assert run.status == "failed" and "Reconnect Asana" in run.error
    assert current(db).status == "needs_reconnect"


def test_with_20_percent_faults_import_and_pushes_end_as_without(db, admin, admin_client, make_user, start_asana,
                                                                monkeypatch):
    monkeypatch.setattr(tuning, "PUSH_MAX_ATTEMPTS", 100)
    asana = start_asana(faults=Faults(rate=0.2, hang=0.05, latency=0.005, retry_after="0.01"))
    acme, beta = asana.add_project("Acme"), asana.add_project("Beta")
    made = [asana.add_task(acme if n % 2 else beta, f"Task {n}", completed=n % 5 == 0) for n in range(300)]
    integration = connect_asana(db, admin, admin_client, asana, [acme, beta])
    fast = lambda i: connector_for(i, retry=FAST_RETRIES)  # noqa: E731
    for _attempt in range(10):
        if run_sync(integration.id, connector_factory=fast).status == "succeeded":
            break
    tasks = tasks_by_remote_id(db)
    assert {gid: (t.title, t.status) for gid, t in tasks.items()} == {
        t["gid"]: (t["name"], "done" if t["completed"] else "todo") for t in made}

    tomo = make_user("tomo@example.com", timezone="Asia/Tokyo")
    entries = [time_service.create_entry(tomo, fields(tasks[made[n % 7]["gid"]], minutes=10 + n,
                                                      start=MORNING + timedelta(hours=n))) for n in range(15)]
    asana.lose_entry_answers = 2
    for _round in range(30):
        push_pending(integration.id, connector_factory=fast)
        if not any(status == "pending" for status, _ in outbox(db)):
            break
        retry_now(db)
    assert {status for status, _ in outbox(db)} == {"done"}
    assert sorted(e["duration_minutes"] for e in asana.entries.values()) == [10 + n for n in range(15)]
    assert len(asana.created_entries) == len(entries) == len(asana.entries)
    assert len([f for f in asana.faults_struck if f != "latency"]) >= 3     # faults really happened
    assert db.session.scalar(select(func.count()).select_from(Project)) == 2


# -- connecting --------------------------------------------------------------------------------

def test_several_workspaces_wait_for_the_admin_to_choose(db, admin, admin_client, start_asana):
    from tests.conftest import post_form

    asana = start_asana()
    second = asana.add_workspace("Second Workspace")
    IntegrationService().save_app_credentials(admin, "asana", {"client_id": asana.oauth.client_id,
                                                               "client_secret": asana.oauth.client_secret})
    response = connect(admin_client, "asana")
    assert response.status_code == 302 and response.headers["Location"] == "/integrations/asana/choose"
    page = admin_client.get("/integrations/asana/choose").get_data(as_text=True)
    assert "Acme Workspace" in page and "Second Workspace" in page
    response = post_form(admin_client, "/integrations/asana/choose", {"account": second["gid"]},
                         page="/integrations/asana/choose")
    assert response.status_code == 302
    integration = current(db)
    assert integration.status == "active"
    assert (integration.connection_facts["workspace_gid"], integration.connection_facts["asana_user_gid"]) == \
        (second["gid"], asana.me["gid"])
    project = asana.add_project("In the second", workspace=second)
    allow(db, integration, [project])
    asana.add_task(project, "Second's task")
    sync(integration)
    assert [t.title for t in tasks_by_remote_id(db).values()] == ["Second's task"]


def test_an_archived_or_unchosen_project_is_archived_with_its_tasks(db, admin, admin_client, seeded):
    asana, ann, acme, beta, other = seeded
    a, b = asana.add_task(acme, "A"), asana.add_task(beta, "B")
    integration = connect_asana(db, admin, admin_client, asana, [acme, beta])
    sync(integration)
    allow(db, current(db), [acme])
    sync(current(db))
    assert tasks_by_remote_id(db)[b["gid"]].archived and not tasks_by_remote_id(db)[a["gid"]].archived
    acme["archived"] = True
    sync(current(db))
    db.session.expire_all()
    assert db.session.scalars(select(Project).where(Project.name == "Acme")).one().archived
    assert tasks_by_remote_id(db)[a["gid"]].archived
