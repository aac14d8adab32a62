"""The GitHub connector end to end, over real HTTP to the fake GitHub (tests/fakes/github.py).

The app reaches the fake only through the GITHUB_* endpoint variables and the OAuth app
saved on the setup page; the connection is made through the real OAuth flow. Every REST
request is validated against GitHub's published description (../shared/specs/github.json)
as the fake receives it, and `check_contract` validates the fake's answers too.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.integrations import github as github_connector
from app.models import ExternalLink, Integration, Project, Task, WebhookDelivery
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from app.services.sync_service import run_sync
from bench.sync_noop import WriteCounter
from tests import tracker_harness as harness
from tests.fakes.github import FakeGitHub
from tests.fakes.paged_provider import Faults
from tests.tracker_harness import (  # noqa: F401 (live_app is a fixture)
    connect_oauth,
    fast_connector,
    live_app,
    oauth_fake_fixture,
    process_deliveries,
    set_setting,
    sync,
    tasks_by_key,
)

AT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)

start_github = oauth_fake_fixture(FakeGitHub, "github")


def current(db) -> Integration:
    return harness.current(db, "github")


def connect_github(db, admin, admin_client, fake: FakeGitHub, repos: list[str] | None = None) -> Integration:
    integration = connect_oauth(db, admin, admin_client, "github", fake)
    if repos is not None:
        allow(db, integration, fake, repos)
    return integration


def allow(db, integration: Integration, fake: FakeGitHub, names: list[str]) -> None:
    harness.allow(db, integration, [str(fake.repos[name]["id"]) for name in names])


def calls(fake: FakeGitHub, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path} {r.status}" for r in fake.api.requests[since:]]


def check_contract(fake: FakeGitHub, since: int = 0) -> int:
    """Validate every REST request the app sent and every answer (a 304 has no body to check)."""
    return harness.check_contract("github", fake.api.requests[since:])


def seeded(github: FakeGitHub, per_repo: int = 3) -> None:
    github.add_repo("acme/web")
    github.add_repo("acme/api", private=True)
    for name in ("acme/web", "acme/api"):
        for number in range(per_repo):
            github.add_issue(name, f"{name} {number + 1}", updated=AT + timedelta(minutes=number))


# -- import ------------------------------------------------------------------------------------

def test_a_first_import_of_several_pages_creates_repositories_and_issues_not_pull_requests(
        db, admin, admin_client, make_user, start_github):
    github = start_github()
    ann = make_user("ann@example.com", name="Ann")
    bob = make_user("bob@example.com", name="Bob")
    github.add_user("ann-gh", "ANN@example.com")     # a public e-mail
    github.add_user("hidden")                         # none shown
    github.add_user("mapped")
    for number in range(120):                         # two pages of repositories
        github.add_repo(f"org{number // 60}/repo{number:03d}")
    github.add_repo("acme/web")
    github.add_repo("acme/api", private=True)
    for number in range(230):
        github.add_issue("acme/web", f"Web {number + 1}", updated=AT + timedelta(seconds=number))
    github.add_issue("acme/web", "A pull request", pull_request=True)
    github.add_issue("acme/api", "Closed one", state="closed", assignee="hidden")
    github.add_issue("acme/api", "Ann's", assignee="ann-gh", labels=("in progress",))
    github.add_issue("acme/api", "Mapped", assignee="mapped")
    github.add_issue("org0/repo000", "Never imported")
    integration = connect_github(db, admin, admin_client, github, ["acme/web", "acme/api"])
    set_setting(db, integration, user_map={"mapped": str(bob.id)}, status_map={"label:in progress": "in_progress"})
    github.api.clear()

    run = sync(integration)

    assert (run.created, run.updated, run.archived) == (2 + 233, 0, 0)
    tasks = tasks_by_key(db)
    assert len(tasks) == 233 and "acme/web#231" not in tasks         # the pull request is left out
    assert tasks["acme/web#1"].title == "Web 1" and tasks["acme/web#1"].project.name == "acme/web"
    assert tasks["acme/web#1"].external_url == "https://github.com/acme/web/issues/1"
    assert (tasks["acme/api#1"].status, tasks["acme/api#1"].assignee_id) == ("done", None)
    assert (tasks["acme/api#2"].status, tasks["acme/api#2"].assignee_id) == ("in_progress", ann.id)
    assert tasks["acme/api#3"].assignee_id == bob.id
    repo_pages = github.api.requests_to("/user/repos")
    assert len(repo_pages) == 2 and all(r.args["per_page"] == "100" for r in repo_pages)
    assert len(github.api.requests_to("/repos/acme/web/issues")) == 3   # 100 + 100 + 31
    assert check_contract(github) == len(github.api.requests)
    # The settings page: every repository, the labels and people imported.
    connector = connector_for(current(db))
    assert len(connector.allow_list_options()) == 122
    statuses, users = connector.mapping_tables()
    assert "label:in progress" in {row.remote_id for row in statuses.rows}
    automatic = {row.remote_id: row.automatic for row in users.rows}
    assert automatic["ann-gh"] == "by e-mail (ANN@example.com)" and automatic["hidden"].startswith("unassigned")


def test_an_incremental_import_asks_since_the_newest_change_and_a_no_change_re_sync_is_answered_304(
        db, admin, admin_client, start_github):
    github = start_github()
    seeded(github, per_repo=120)
    integration = connect_github(db, admin, admin_client, github, ["acme/web", "acme/api"])
    sync(integration)
    github.update_issue("acme/web", 5, title="Renamed at GitHub", state="closed", updated=AT + timedelta(hours=3))
    github.rename_repo("acme/api", "acme/backend")
    since = len(github.api.requests)

    run = sync(integration)

    assert (run.created, run.updated, run.archived) == (0, 2, 0)
    tasks = tasks_by_key(db)
    assert (tasks["acme/web#5"].title, tasks["acme/web#5"].status) == ("Renamed at GitHub", "done")
    web = github.api.requests_to("/repos/acme/web/issues")[-1]
    assert web.args["since"] == "2026-11-20T13:59:00Z" and web.args["state"] == "all"
    assert db.session.scalar(select(Project.name).where(Project.name == "acme/backend")) == "acme/backend"

    sync(integration)                         # the first run that asks exactly what it asked before
    stamps = {task.id: task.updated_at for task in db.session.scalars(select(Task))}
    since = len(github.api.requests)
    writes = WriteCounter(db.engine)
    try:
        run = sync(integration)
    finally:
        writes.close()
    assert (run.created, run.updated, run.archived) == (0, 0, 0)
    assert sorted(calls(github, since)) == ["GET /repos/acme/backend/issues 304", "GET /repos/acme/web/issues 304",
                                            "GET /user/repos 304"]
    assert writes.total == 0, dict(writes.by_table)
    assert all(r.headers.get("if-none-match") for r in github.api.requests[since:])
    db.session.expire_all()
    assert {task.id: task.updated_at for task in db.session.scalars(select(Task))} == stamps
    assert check_contract(github) == len(github.api.requests)


def test_deleted_and_transferred_issues_and_removed_repositories_are_archived_by_the_whole_listing(
        db, admin, admin_client, start_github, monkeypatch):
    github = start_github()
    seeded(github)
    github.add_repo("acme/elsewhere")
    integration = connect_github(db, admin, admin_client, github, ["acme/web", "acme/api"])
    sync(integration)
    github.delete_issue("acme/web", 1)
    github.transfer_issue("acme/web", 2, "acme/elsewhere")

    incremental = sync(integration)             # a deletion is not a change GitHub lists
    assert incremental.archived == 0 and not tasks_by_key(db)["acme/web#1"].archived

    monkeypatch.setattr(github_connector, "WHOLE_LISTING_EVERY_HOURS", 0)
    whole = sync(integration)
    tasks = tasks_by_key(db)
    assert whole.archived == 2 and tasks["acme/web#1"].archived and tasks["acme/web#2"].archived
    assert not tasks["acme/web#3"].archived and "acme/elsewhere#1" not in tasks

    github.delete_repo("acme/api")
    sync(integration)
    tasks = tasks_by_key(db)
    assert all(tasks[f"acme/api#{n}"].archived for n in (1, 2, 3))
    assert db.session.scalar(select(Project.archived).where(Project.name == "acme/api"))
    assert check_contract(github) == len(github.api.requests)


def test_the_backfill_window_is_sent_as_since(db, admin, admin_client, start_github):
    github = start_github()
    seeded(github)
    github.add_issue("acme/web", "Old", updated=datetime(2026, 11, 1, tzinfo=timezone.utc))
    integration = connect_github(db, admin, admin_client, github, ["acme/web"])
    set_setting(db, integration, updated_since="2026-11-19")
    sync(integration)
    assert sorted(tasks_by_key(db)) == ["acme/web#1", "acme/web#2", "acme/web#3"]
    assert github.api.requests_to("/repos/acme/web/issues")[-1].args["since"] == "2026-11-19T00:00:00Z"


def test_rate_limits_primary_and_secondary_are_waited_out(db, admin, admin_client, start_github, monkeypatch):
    github = start_github()
    seeded(github)
    integration = connect_github(db, admin, admin_client, github, ["acme/web", "acme/api"])
    github.secondary_limits = 2             # a 429 and a 403, each with Retry-After: 1
    run = run_sync(integration.id, connector_factory=fast_connector)
    assert run.status == "succeeded" and len(tasks_by_key(db)) == 6
    limited = [r for r in github.api.requests if r.status in (403, 429)]
    assert sorted(r.status for r in limited) == [403, 429]
    assert all(r.response_headers.get("retry-after") == "1" for r in limited)
    ok = next(r for r in github.api.requests if r.status == 200)
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(ok.response_headers)

    github.rate_limit = 0                   # the primary limit is used up: 403 with Remaining 0
    github.secondary_limits = 0
    failed = run_sync(integration.id, connector_factory=fast_connector)
    assert failed.status == "failed" and "rate limit" in failed.error.lower()
    assert current(db).status == "active"   # a used-up limit is not a dead grant


def test_a_revoked_grant_fails_the_sync_and_asks_for_a_reconnect(db, admin, admin_client, start_github):
    github = start_github()
    seeded(github)
    integration = connect_github(db, admin, admin_client, github, ["acme/web"])
    sync(integration)
    github.oauth.revoke_all()

    run = run_sync(integration.id)
    assert run.status == "failed" and "Reconnect GitHub" in run.error
    assert current(db).status == "needs_reconnect"


# -- webhooks ------------------------------------------------------------------------------------

def test_repository_webhooks_are_registered_verified_deduplicated_and_removed(
        db, admin, admin_client, start_github, live_app):
    github = start_github()
    seeded(github)
    github.add_repo("acme/other")
    integration = connect_github(db, admin, admin_client, github, ["acme/web", "acme/api"])
    sync(integration)

    address = f"{live_app}/webhooks/github/{integration.webhook_token}"
    assert sorted(github.hooks) == ["acme/api", "acme/web"]
    [hook] = github.hooks["acme/web"]
    secret = IntegrationService().app_record("github").payload["webhook_secret"]
    assert hook["config"] == {"url": address, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
    assert hook["events"] == ["issues"]

    issue = github.update_issue("acme/web", 1, title="Changed, said a webhook", state="closed")
    assert github.send_issue_event("edited", "acme/web", issue) == [202]
    first = github.deliveries[-1]["headers"]["X-GitHub-Delivery"]
    assert github.send_issue_event("edited", "acme/web", issue, delivery=first) == [200]      # a replay
    assert github.send_issue_event("edited", "acme/web", issue, secret="forged") == [401]
    assert github.send_issue_event("edited", "acme/web", issue, body=b"[not json") == [400]
    assert process_deliveries(db) == 1
    task = tasks_by_key(db)["acme/web#1"]
    assert (task.title, task.status) == ("Changed, said a webhook", "done")

    gone = github.delete_issue("acme/api", 2)
    assert github.send_issue_event("deleted", "acme/api", gone) == [202]
    born = github.add_issue("acme/api", "Born at GitHub")
    assert github.send_issue_event("opened", "acme/api", born) == [202]
    process_deliveries(db)
    tasks = tasks_by_key(db)
    assert tasks["acme/api#2"].archived and tasks["acme/api#4"].title == "Born at GitHub"

    since = len(github.api.requests)
    sync(integration)                       # hooks in place: none registered again
    assert not [c for c in calls(github, since) if "/hooks" in c]

    allow(db, current(db), github, ["acme/web"])
    sync(current(db))                       # the allow-list shrank: its hook goes
    assert sorted(name for name, hooks in github.hooks.items() if hooks) == ["acme/web"]

    assert IntegrationService().disconnect(admin, "github") is None
    assert not any(github.hooks.values())
    assert check_contract(github) == len(github.api.requests)


def test_malformed_signed_deliveries_are_refused_or_recorded_as_failed_never_crash(
        db, admin, admin_client, start_github, live_app):
    github = start_github()
    seeded(github)
    integration = connect_github(db, admin, admin_client, github, ["acme/web"])
    sync(integration)
    issue = github.issues["acme/web"][0]
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    assert github.send_issue_event("edited", "acme/web", issue, body=deep)[0] in (400, 202)
    assert github.send_issue_event("edited", "acme/web", issue, body=b"\xff\xfe\x00bad")[0] == 400
    assert github.send_issue_event("edited", "acme/web", issue, body=b'"a string"') == [400]
    wrong_types = json.dumps({"action": "edited", "issue": {"id": "x", "number": [], "title": 5},
                              "repository": {"id": {}, "full_name": 3}}).encode()
    assert github.send_issue_event("edited", "acme/web", issue, body=wrong_types) == [202]
    process_deliveries(db)
    db.session.expire_all()
    failed = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.error.is_not(None))).all()
    assert failed and all(delivery.error for delivery in failed)
    assert tasks_by_key(db)["acme/web#1"].title == "acme/web 1"    # nothing applied from them


# -- faults -------------------------------------------------------------------------------------

def test_with_20_percent_faults_the_import_ends_as_without(db, admin, admin_client, start_github):
    github = start_github(faults=Faults(rate=0.2, hang=0.05, latency=0.005, retry_after="0.01"), fault_seed=1)
    seeded(github, per_repo=250)
    for number in range(1, 40, 3):
        github.update_issue("acme/api", number, state="closed", title=f"Done {number}")
    integration = connect_github(db, admin, admin_client, github, ["acme/web", "acme/api"])

    for _attempt in range(10):   # a run that ran out of retries is simply run again, as the scheduler does
        if run_sync(integration.id, connector_factory=fast_connector).status == "succeeded":
            break
    expected = {f"{name}#{issue['number']}": (issue["title"], "done" if issue["state"] == "closed" else "todo")
                for name in ("acme/web", "acme/api") for issue in github.issues[name]}
    assert {key: (task.title, task.status) for key, task in tasks_by_key(db).items()} == expected
    assert db.session.scalar(select(func.count()).select_from(ExternalLink)) == 500 + 2
    faulted = [r for r in github.api.requests if r.status in (403, 500, 502, 503, 504) or r.status is None]
    assert len(faulted) >= 1                 # faults really happened
