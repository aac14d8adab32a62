"""The engine's generic sync-settings mechanisms, on SQLite and PostgreSQL: whole
listings that archive what they no longer mention, allow-list and backfill
settings, re-applying everything after the settings change, pushes a provider
must not receive (PushSkipped), changes queued for records pushed before, and
how a task's assignee is found.

The engine is what is under test, so the connectors here are scripted: they
yield the pages a provider's listing would produce, into real database rows.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.integrations import registry
from app.integrations.capabilities import AllowList
from app.integrations.exchange import PushSkipped, RemoteRecord, SettingToggle, SyncPage
from app.models import ExternalLink, Integration, OutboxItem, Project, SyncCursor, Task, TimeEntry
from app.models.base import utcnow
from app.services import sync_service
from app.services.sync_service import record_change, run_sync, settings_changed
from tests.fakes.paged_connector import PagedConnector


class ChoosingConnector(PagedConnector, AllowList):
    """The paged connector with an allow-list of its items."""

    allow_list_label = "Items"

    def allow_list_options(self) -> list:
        return []


class ScriptedConnector(ChoosingConnector):
    """Serves `listing(connector, cursor)` as its one stream and remembers the cursors it was given."""

    def __init__(self, integration, listing):
        super().__init__(integration, client=None)
        self.listing = listing
        self.cursors: list[str | None] = []

    def pull(self, stream: str, cursor: str | None, run):
        self.cursors.append(cursor)
        yield from self.listing(self, cursor)


def scripted(listing):
    """A connector factory for run_sync; `.last` is the connector of the latest run."""
    def factory(integration):
        factory.last = ScriptedConnector(integration, listing)
        return factory.last
    return factory


def project(external_id: str, version: str = "v1") -> RemoteRecord:
    return RemoteRecord("project", external_id, version, {"name": f"Project {external_id}"})


def task(external_id: str, version: str = "v1", parent: str = "p1", **fields) -> RemoteRecord:
    return RemoteRecord("task", external_id, version, {"title": f"Task {external_id}", **fields}, parent_id=parent)


def whole_listing(records: list[RemoteRecord], kind: str, cursor: str | None, per_page: int = 2):
    """A provider listing every live record of `kind`, `per_page` at a time; the cursor
    "page:N" resumes at page N (and so does not start the listing again)."""
    pages = [records[i:i + per_page] for i in range(0, len(records), per_page)] or [[]]
    start = int(cursor.removeprefix("page:")) if cursor else 0
    for number in range(start, len(pages)):
        last = number == len(pages) - 1
        yield SyncPage(pages[number], None if last else f"page:{number + 1}", listing_starts=number == 0,
                       listing_complete=kind if last else None, total=len(records))


@pytest.fixture
def integration(db, monkeypatch):
    monkeypatch.setitem(registry._CONNECTORS, "paged", PagedConnector)
    row = Integration(provider="paged", is_global=True, status="active", settings={})
    db.session.add(row)
    db.session.commit()
    return row


def local(db, model, external_id: str):
    """The local row linked to `external_id`, fresh from the database."""
    db.session.expire_all()
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.external_id == external_id)).one()
    return db.session.get(model, link.local_id)


def archived_projects(db) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(ExternalLink.external_id).join(
        Project, Project.id == ExternalLink.local_id).where(
        ExternalLink.local_kind == "project", Project.archived.is_(True))))


# -- whole listings ---------------------------------------------------------------


def test_a_whole_listing_archives_what_it_no_longer_lists_and_restores_what_returns(db, integration):
    listed = ["p1", "p2", "p3"]
    factory = scripted(lambda _c, cursor: whole_listing([project(i) for i in listed], "project", cursor))
    typed_here = Project(name="Made in TimeHub")  # no link: no listing can archive it
    db.session.add(typed_here)
    db.session.commit()

    run = run_sync(integration.id, connector_factory=factory)
    assert (run.status, run.created, run.archived) == ("succeeded", 3, 0)

    listed[:] = ["p1", "p3"]  # p2 deleted at the provider, or moved out of the allow-list
    run = run_sync(integration.id, connector_factory=factory)
    assert (run.created, run.updated, run.archived) == (0, 0, 1)
    assert archived_projects(db) == ["p2"]

    listed[:] = ["p1", "p2", "p3"]  # back, with the version it had: restored all the same
    run = run_sync(integration.id, connector_factory=factory)
    assert (run.created, run.updated, run.archived) == (0, 1, 0)
    assert archived_projects(db) == []
    assert db.session.get(Project, typed_here.id).archived is False


def test_a_listing_resumed_after_a_crash_archives_nothing_and_the_next_whole_one_does(db, integration):
    listed = [project(f"p{n}") for n in range(1, 7)]
    factory = scripted(lambda _c, cursor: whole_listing(listed, "project", cursor))
    run_sync(integration.id, connector_factory=factory)

    class WorkerDied(Exception):
        pass

    def first_page_then_crash(_connector, cursor):
        yield next(whole_listing(listed, "project", cursor))
        raise WorkerDied

    with pytest.raises(WorkerDied):
        run_sync(integration.id, connector_factory=scripted(first_page_then_crash))
    db.session.expire_all()
    assert db.session.scalars(select(SyncCursor.cursor)).one() == "page:1"

    del listed[-1]  # p6 vanished meanwhile: the resumed part cannot tell, p1 and p2 were listed before it
    run = run_sync(integration.id, connector_factory=factory)
    assert factory.last.cursors == ["page:1"]
    assert (run.status, run.pulled, run.archived) == ("succeeded", 3, 0)
    assert archived_projects(db) == []

    run = run_sync(integration.id, connector_factory=factory)  # from the start: a whole listing
    assert factory.last.cursors == [None]
    assert run.archived == 1 and archived_projects(db) == ["p6"]


def test_a_whole_task_listing_restores_an_archived_task_whose_version_did_not_change(db, integration):
    tasks = [task("t1"), task("t2")]
    factory = scripted(lambda _c, cursor: [SyncPage([project("p1")], None),
                                           *whole_listing(tasks, "task", cursor, per_page=5)])
    run_sync(integration.id, connector_factory=factory)
    del tasks[1]
    assert run_sync(integration.id, connector_factory=factory).archived == 1
    assert local(db, Task, "t2").archived is True
    tasks.append(task("t2"))  # same version "v1" as when it was archived
    run = run_sync(integration.id, connector_factory=factory)
    assert run.updated == 1 and local(db, Task, "t2").archived is False


# -- settings the connectors read ----------------------------------------------------


def connector_with(settings: dict | None, connector_class=ChoosingConnector):
    return connector_class(Integration(provider="paged", is_global=True, settings=settings), None)


def test_allow_list_and_backfill_settings():
    nothing_chosen = connector_with({})
    assert nothing_chosen.allowed_ids is None and nothing_chosen.is_allowed("anything")
    assert connector_with(None).allowed_ids is None
    assert nothing_chosen.backfill_since is None

    chosen = connector_with({"allow_list": ["10", 20], "updated_since": "2026-03-01"})
    assert chosen.allowed_ids == frozenset({"10", "20"})
    assert chosen.is_allowed(20) and chosen.is_allowed("10") and not chosen.is_allowed("30")
    assert chosen.backfill_since == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert chosen.backfill_since.date() == date(2026, 3, 1)

    assert connector_with({"allow_list": []}).allowed_ids == frozenset()
    assert connector_with({"updated_since": ""}).backfill_since is None

    class LargeSites(ChoosingConnector):
        allow_all_until_chosen = False

    cautious = connector_with({}, LargeSites)
    assert cautious.allowed_ids == frozenset() and not cautious.is_allowed("10")
    assert connector_with({"allow_list": ["10"]}, LargeSites).is_allowed("10")


def test_toggles_read_the_setting_or_their_default():
    class Toggled(PagedConnector):
        setting_toggles = (SettingToggle("push_time", "Push time"), SettingToggle("notify", "Notify", default=False))

    assert connector_with({}, Toggled).toggle("push_time") is True
    assert connector_with({}, Toggled).toggle("notify") is False
    assert connector_with({"push_time": False, "notify": True}, Toggled).toggle("push_time") is False
    assert connector_with({"notify": True}, Toggled).toggle("notify") is True


def test_the_allow_list_narrowed_and_whole_listings_archive_what_left_it(db, integration):
    remote = ["p1", "p2", "p3"]

    def allowed_projects(connector, cursor):
        yield from whole_listing([project(i) for i in remote if connector.is_allowed(i)], "project", cursor)

    factory = scripted(allowed_projects)
    assert run_sync(integration.id, connector_factory=factory).created == 3
    integration.settings = {"allow_list": ["p1", "p3"]}
    settings_changed(db.session, integration)
    run = run_sync(integration.id, connector_factory=factory)
    assert run.archived == 1 and archived_projects(db) == ["p2"]


def test_after_settings_change_the_next_sync_starts_over_and_reapplies_unchanged_versions(db, integration):
    """A status mapping changed on the settings page: the records themselves did not change
    (same versions), yet their tasks must take the new status."""
    def mapped(connector, cursor):
        status_map = connector.integration.settings.get("status_map", {})
        yield SyncPage([project("p1"), task("t1", status=status_map.get("In review", "todo"))], "after-v1")

    factory = scripted(mapped)
    run_sync(integration.id, connector_factory=factory)
    assert local(db, Task, "t1").status == "todo"

    integration.settings = {"status_map": {"In review": "done"}}
    db.session.commit()
    run = run_sync(integration.id, connector_factory=factory)
    assert factory.last.cursors == ["after-v1"]
    assert run.updated == 0 and local(db, Task, "t1").status == "todo"  # same versions: skipped

    settings_changed(db.session, integration)
    db.session.expire_all()
    assert db.session.scalars(select(SyncCursor.cursor)).all() == [None]
    assert db.session.scalars(select(ExternalLink.remote_version)).all() == [None, None]
    run = run_sync(integration.id, connector_factory=factory)
    assert factory.last.cursors == [None]
    assert run.updated == 1 and local(db, Task, "t1").status == "done"
    assert db.session.scalars(select(ExternalLink.remote_version)).all() == ["v1", "v1"]


# -- push ------------------------------------------------------------------------------


class MinutePusher(PagedConnector):
    """Pushes time entries unless the connection's toggle says no; an entry under a
    minute must not be at the provider (as Jira refuses such worklogs)."""

    setting_toggles = (SettingToggle("push_time", "Push time"),)
    remote: dict[str, int] = {}

    @classmethod
    def wants_push(cls, integration, kind, record, links) -> bool:
        return super().wants_push(integration, kind, record, links) and cls(integration, None).toggle("push_time")

    def push(self, request, run):
        entry, external_id = request.record, request.external_id
        seconds = int(entry.duration.total_seconds())
        if seconds < 60:
            self.remote.pop(external_id, None)
            raise PushSkipped("Entries shorter than a minute are not sent.")
        external_id = external_id or f"worklog-{entry.id}"
        self.remote[external_id] = seconds
        return external_id

    def delete_remote(self, kind, external_id, run):
        del self.remote[external_id]


@pytest.fixture
def pusher(integration, monkeypatch):
    monkeypatch.setitem(registry._CONNECTORS, "paged", MinutePusher)
    monkeypatch.setattr(MinutePusher, "remote", {})
    return MinutePusher


def save_entry(db, entry: TimeEntry) -> TimeEntry:
    db.session.add(entry)
    db.session.flush()
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    return entry


def push(integration) -> int:
    return sync_service.push_pending(integration.id, connector_factory=lambda i: MinutePusher(i, None))


def test_a_push_skipped_by_the_connector_is_marked_skipped_with_its_reason_and_unlinks(db, integration, pusher,
                                                                                     user):
    start = utcnow() - timedelta(hours=2)
    entry = save_entry(db, TimeEntry(user_id=user.id, description="review", started_at=start,
                                     ended_at=start + timedelta(minutes=30)))
    assert push(integration) == 1 and pusher.remote == {f"worklog-{entry.id}": 1800}

    entry.ended_at = start + timedelta(seconds=40)
    save_entry(db, entry)
    assert push(integration) == 1  # handled: nothing to retry
    assert pusher.remote == {}
    db.session.expire_all()
    skipped = db.session.scalars(select(OutboxItem).order_by(OutboxItem.id.desc())).first()
    assert (skipped.status, skipped.last_error, skipped.attempts) == (
        "skipped", "Entries shorter than a minute are not sent.", 0)
    assert db.session.scalars(select(ExternalLink)).all() == []
    assert push(integration) == 0  # a skipped change is not pending

    entry.ended_at = start + timedelta(minutes=5)  # long enough again: a new remote copy
    save_entry(db, entry)
    assert push(integration) == 1 and pusher.remote == {f"worklog-{entry.id}": 300}


def test_a_record_pushed_before_is_queued_even_when_the_connector_no_longer_wants_it(db, integration, pusher,
                                                                                    user):
    start = utcnow() - timedelta(hours=2)
    pushed = save_entry(db, TimeEntry(user_id=user.id, description="pushed", started_at=start,
                                      ended_at=start + timedelta(minutes=30)))
    push(integration)
    integration.settings = {"push_time": False}
    db.session.commit()

    never_pushed = save_entry(db, TimeEntry(user_id=user.id, description="new", started_at=start,
                                            ended_at=start + timedelta(minutes=10)))
    pushed.description = "edited after the toggle went off"
    save_entry(db, pushed)
    queued = db.session.scalars(select(OutboxItem.local_id).where(OutboxItem.status == "pending")).all()
    assert queued == [pushed.id]  # the edit may have to remove or change the remote copy
    assert never_pushed.id not in queued

    integration.status = "needs_reconnect"  # inactive connections get nothing queued
    db.session.commit()
    save_entry(db, pushed)
    assert db.session.scalars(select(OutboxItem.local_id).where(OutboxItem.status == "pending")).all() == [pushed.id]


def test_while_pushing_a_connector_finds_the_remote_ids_of_local_records(db, integration, pusher, user):
    """A worklog goes under the issue its entry's task came from: the engine's LinkLookup says which."""
    run_sync(integration.id, connector_factory=scripted(lambda _c, _cursor: [
        SyncPage([project("p1"), task("ISSUE-7")], None)]))
    issue = local(db, Task, "ISSUE-7")
    start = utcnow() - timedelta(hours=1)
    under_issue = save_entry(db, TimeEntry(user_id=user.id, task_id=issue.id, started_at=start,
                                           ended_at=start + timedelta(minutes=20)))
    loose = save_entry(db, TimeEntry(user_id=user.id, started_at=start, ended_at=start + timedelta(minutes=20)))
    found = {}

    class IssueWorklogs(MinutePusher):
        def push(self, request, run):
            found[request.record.id] = run.links.external_id("task", request.record.task_id)
            return super().push(request, run)

    sync_service.push_pending(integration.id, connector_factory=lambda i: IssueWorklogs(i, None))
    assert found == {under_issue.id: "ISSUE-7", loose.id: None}


# -- assignees -----------------------------------------------------------------------------


def test_task_assignees_by_hand_then_by_email_else_unassigned(db, integration, make_user):
    ann = make_user("ann@example.com")
    bob = make_user("bob@example.com")
    tasks = [
        task("by-email", assignee={"email": "Ann@Example.COM", "user_id": None}),
        task("by-hand", assignee={"email": "ann@example.com", "user_id": bob.id}),
        task("chosen-user-gone", assignee={"email": "ann@example.com", "user_id": 999_999}),
        task("unknown", assignee={"email": "someone@elsewhere.example", "user_id": None}),
        task("no-email", assignee={"email": None, "user_id": None}),
        task("unassigned", assignee=None),
        task("not-told"),
    ]
    factory = scripted(lambda _c, _cursor: [SyncPage([project("p1"), *tasks], None)])
    run_sync(integration.id, connector_factory=factory)
    assignees = {external_id: local(db, Task, external_id).assignee_id for external_id in (
        "by-email", "by-hand", "chosen-user-gone", "unknown", "no-email", "unassigned", "not-told")}
    assert assignees == {"by-email": ann.id, "by-hand": bob.id, "chosen-user-gone": ann.id, "unknown": None,
                         "no-email": None, "unassigned": None, "not-told": None}

    # A record without the "assignee" field leaves the assignee alone; one with None clears it.
    tasks[:] = [task("by-email", "v2", title="Renamed"), task("by-hand", "v2", assignee=None)]
    assert run_sync(integration.id, connector_factory=factory).updated == 2
    renamed = local(db, Task, "by-email")
    assert (renamed.title, renamed.assignee_id) == ("Renamed", ann.id)
    assert local(db, Task, "by-hand").assignee_id is None
