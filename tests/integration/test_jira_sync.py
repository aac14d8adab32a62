"""The Jira connector end to end, over real HTTP to the fake Jira Cloud (tests/fakes/jira.py).

The app reaches the fake only through the settings an admin has: the JIRA_* endpoint
variables and the OAuth app saved on the setup page; the connection is made through
the real OAuth flow (consent, site, encrypted tokens). Every Jira REST request the
connector sends is validated against Atlassian's API description (tests/contract.py).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app import tuning
from app.models import Integration, Project, Task
from app.services.integration_service import IntegrationService
from app.services.sync_service import run_sync, settings_changed
from tests.contract import Contract
from tests.fakes.jira import FakeJira
from tests.oauth_steps import connect

CALLBACK = "http://localhost/integrations/jira/callback"


# -- set-up: a fake Jira reached through the endpoint settings, connected through OAuth ---------------

@pytest.fixture
def start_jira(app, monkeypatch):
    """start_jira(**FakeJira options) -> a running fake the app is pointed at (JIRA_* variables)."""
    fakes = []

    def start(**options) -> FakeJira:
        fake = FakeJira(redirect_uris=(CALLBACK,), **options).__enter__()
        fakes.append(fake)
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        return fake

    yield start
    for fake in fakes:
        fake.__exit__(None, None, None)


def connect_jira(db, admin, admin_client, fake: FakeJira, projects: list[str] | None = None) -> Integration:
    """Save the OAuth app as the setup page does, connect through the real OAuth flow, and
    allow `projects` (keys) as the settings page would."""
    IntegrationService().save_app_credentials(admin, "jira", {"client_id": fake.oauth.client_id,
                                                              "client_secret": fake.oauth.client_secret})
    response = connect(admin_client, "jira")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    integration = current(db)
    assert integration.status == "active" and integration.settings["cloud_id"] == fake.sites[0]["id"]
    assert fake.oauth.client_secret not in (integration.credential.ciphertext or "")
    if projects is not None:
        allow(db, integration, fake, projects)
    return integration


def current(db) -> Integration:
    db.session.expire_all()
    return IntegrationService().integration_for(None, "jira")


def allow(db, integration: Integration, fake: FakeJira, keys: list[str]) -> None:
    """What the settings page does when the admin saves the allow-list."""
    ids = [fake.projects[key]["id"] for key in keys]
    integration.settings = {**(integration.settings or {}), "allow_list": ids}
    settings_changed(db.session, integration)


def set_setting(db, integration: Integration, **values) -> None:
    integration.settings = {**(integration.settings or {}), **values}
    settings_changed(db.session, integration)


def sync(integration: Integration):
    run = run_sync(integration.id)
    assert run.status == "succeeded", run.error
    return run


def check_contract(fake: FakeJira, since: int = 0) -> int:
    """Validate every Jira REST request the app sent (and the fake's answers); the number checked."""
    contract = Contract.for_provider("jira", server_url=fake.site_api_base())
    checked = 0
    for recorded in fake.api.requests[since:]:
        if recorded.path.startswith(contract.base_path + "/"):
            contract.check_request(recorded)
            contract.check_response(recorded)
            checked += 1
    return checked


def rest_calls(fake: FakeJira, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path.split('/rest/api/3/')[-1]}" for r in fake.api.requests[since:]
            if "/rest/api/3/" in r.path]


def tasks_by_key(db) -> dict[str, Task]:
    db.session.expire_all()
    return {task.external_key: task for task in db.session.scalars(select(Task))}


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
    assert f'updated >= "2026/11/20 04:{2 - tuning.JIRA_JQL_OVERLAP_MINUTES:02d}"' in search["jql"]
    assert check_contract(jira, since) == len(rest_calls(jira, since))


def test_a_re_sync_with_nothing_changed_makes_two_requests_and_writes_nothing(db, admin, admin_client, start_jira):
    jira = start_jira(time_zone="Europe/Berlin")
    seeded(jira, per_project=120)
    integration = connect_jira(db, admin, admin_client, jira, ["ACME", "BETA"])
    sync(integration)
    sync(integration)  # the first incremental run (its JQL overlap re-reads the newest minutes)
    stamps = {task.id: task.updated_at for task in db.session.scalars(select(Task))}
    since = len(jira.api.requests)

    run = sync(integration)

    assert (run.created, run.updated, run.archived) == (0, 0, 0)
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

    monkeypatch.setattr(tuning, "JIRA_WHOLE_LISTING_EVERY_HOURS", 0)
    whole = sync(integration)
    assert whole.archived == 2
    tasks = tasks_by_key(db)
    assert tasks["ACME-1"].archived and tasks["ACME-2"].archived
    assert not any(task.archived for key, task in tasks.items() if key not in ("ACME-1", "ACME-2"))

    monkeypatch.setattr(tuning, "JIRA_WHOLE_LISTING_EVERY_HOURS", 24)
    allow(db, integration, jira, ["BETA"])   # ACME leaves the allow-list
    narrowed = sync(integration)
    projects = projects_by_name(db)
    assert projects["Acme"].archived and not projects["Beta"].archived
    tasks = tasks_by_key(db)
    assert all(task.archived for key, task in tasks.items() if key.startswith("ACME"))
    assert not any(task.archived for key, task in tasks.items() if key.startswith("BETA"))
    assert narrowed.archived == 1 + 1   # the project and ACME-3 (the other two were archived already)
    assert check_contract(jira) == len(rest_calls(jira))
