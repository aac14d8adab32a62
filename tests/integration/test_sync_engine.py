"""The sync engine against the generic paged fake over loopback HTTP,
on SQLite and PostgreSQL: idempotent pull, resumable pages, push through the
outbox, one running sync per integration."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import event, func, select, text

from app.integrations import registry
from app.integrations.exchange import RemoteRecord
from app.integrations.http import ProviderClient, RetryPolicy
from app.models import (ExternalLink, Integration, IntegrationCredential, OutboxItem, Project, SyncCursor, SyncRun,
                        Task, TimeEntry)
from app.models.base import utcnow
from app.services import sync_service
from app.services.sync_service import SyncAlreadyRunning, record_change, run_sync, start_run
from tests.fakes.paged_connector import PagedConnector
from tests.fakes.paged_provider import Faults, PagedProvider

BOOKKEEPING_TABLES = ("sync_runs", "integrations")


@pytest.fixture
def paged_registered(monkeypatch):
    monkeypatch.setitem(registry._CONNECTORS, "paged", PagedConnector)


def make_integration(db, fake_url: str, monkeypatch, integration_id: int | None = None) -> Integration:
    monkeypatch.setenv("PAGED_API_BASE", fake_url)
    integration = Integration(id=integration_id, provider="paged", is_global=True, status="active", settings={})
    integration.credential = IntegrationCredential(kind="api_key")
    integration.credential.payload = {"token": "paged-token", "webhook_secret": "whsec-test"}
    db.session.add(integration)
    db.session.commit()
    return integration


@pytest.fixture
def fake():
    with PagedProvider(records=250, max_page_size=100) as provider:
        yield provider


@pytest.fixture
def integration(db, fake, monkeypatch, paged_registered):
    return make_integration(db, fake.url, monkeypatch)


def fast_factory(base_url: str, read_timeout: float = 0.25):
    """Short timeouts and backoffs so injected faults cost milliseconds."""
    def factory(integration):
        client = ProviderClient("Paged fake", base_url, auth_headers={"Authorization": "Bearer paged-token"},
                                timeout=httpx2.Timeout(read_timeout, connect=1.0),
                                retry=RetryPolicy(max_attempts=10, backoff_base=0.005, backoff_cap=0.05,
                                                  max_total_wait=30, max_rate_limit_wait=5))
        return PagedConnector(integration, client)
    return factory


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def project_names(db) -> list[str]:
    return sorted(db.session.scalars(select(Project.name)))


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements outside the run's own bookkeeping."""

    def __init__(self, engine):
        self.statements: list[str] = []
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip().split(None, 3)
        if head and head[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            table = (head[2] if head[0].upper() != "UPDATE" else head[1]).strip('"').lower()
            if table not in BOOKKEEPING_TABLES:
                self.statements.append(statement)

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._seen)


def test_first_import_creates_every_record_once_and_saves_the_cursor(db, fake, integration):
    run = run_sync(integration.id)
    assert run.status == "succeeded", run.error
    assert (run.pulled, run.created, run.updated) == (250, 250, 0)
    assert count(db, Project) == 250 and count(db, ExternalLink) == 250
    assert fake.stats.pages == 3  # ceil(250 / 100)
    cursor = db.session.scalars(select(SyncCursor)).one()
    assert '"since": 1700015000' in cursor.cursor
    assert integration.last_sync_status == "succeeded"


def test_progress_is_told_each_committed_page_of_each_stream(db, fake, integration):
    seen = []

    def progress(run, stream, page):
        committed = db.session.scalar(select(func.count()).select_from(ExternalLink))
        seen.append((stream, len(page.records), run.pulled, committed))

    run_sync(integration.id, progress=progress)
    assert seen == [("items", 100, 100, 100), ("items", 100, 200, 200), ("items", 50, 250, 250)]

def test_a_resync_with_nothing_changed_makes_one_request_and_no_writes(db, fake, integration):
    run_sync(integration.id)
    requests_before = fake.stats.requests
    writes = WriteCounter(db.engine)
    try:
        run = run_sync(integration.id)
    finally:
        writes.close()
    assert run.status == "succeeded" and (run.pulled, run.created, run.updated) == (0, 0, 0)
    assert fake.stats.requests - requests_before == 1
    assert writes.statements == []


def test_incremental_sync_updates_changed_and_archives_deleted(db, fake, integration):
    run_sync(integration.id)
    fake.touch("rec-000007", "Renamed at the provider")
    fake.remove("rec-000009")
    run = run_sync(integration.id)
    assert (run.pulled, run.created, run.updated, run.archived) == (2, 0, 1, 1)
    assert "Renamed at the provider" in project_names(db)
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.external_id == "rec-000009")).one()
    assert db.session.get(Project, link.local_id).archived is True
    assert count(db, Project) == 250


def test_with_20_percent_faults_an_import_of_5000_gets_each_record_exactly_once(db, monkeypatch, paged_registered):
    faults = Faults(rate=0.2, retry_after="0.01", latency=0.005, hang=0.4)
    with PagedProvider(records=5000, max_page_size=100, faults=faults, seed=7) as fake:
        integration = make_integration(db, fake.url, monkeypatch)
        run = run_sync(integration.id, connector_factory=fast_factory(fake.url))
        assert run.status == "succeeded", run.error
        assert sum(fake.stats.faults.values()) > 5  # faults really happened
    assert count(db, Project) == 5000
    assert db.session.scalar(select(func.count(func.distinct(ExternalLink.external_id)))) == 5000


def test_an_interrupted_import_resumes_at_the_last_saved_page(db, fake, integration):
    class Crash(Exception):
        pass

    def crashing_factory(integration):
        connector = fast_factory(fake.url)(integration)
        pages = connector.pull

        def pull(stream, cursor, run):
            for number, page in enumerate(pages(stream, cursor, run)):
                if number == 2:
                    raise Crash("the worker died")
                yield page
        connector.pull = pull
        return connector

    with pytest.raises(Crash):
        run_sync(integration.id, connector_factory=crashing_factory)
    assert count(db, Project) == 200  # two pages committed with their cursor
    requests_before = fake.stats.requests
    run = run_sync(integration.id)
    assert run.created == 50 and count(db, Project) == 250
    assert fake.stats.requests - requests_before == 1  # only the missing page was fetched


def test_one_running_sync_per_integration(db, integration):
    start_run(db.session, integration, "manual")
    with pytest.raises(SyncAlreadyRunning):
        start_run(db.session, integration, "schedule")
    with pytest.raises(SyncAlreadyRunning):
        run_sync(integration.id)


def test_a_connection_that_pulls_nothing_does_not_hide_the_next_ones_from_the_scheduler(db, fake, monkeypatch,
                                                                                        paged_registered):
    slack = Integration(provider="slack", is_global=True, status="active", settings={})  # sends, never pulls
    db.session.add(slack)
    db.session.commit()
    pulling = make_integration(db, fake.url, monkeypatch)  # after it in the table
    work = sync_service.due_work()
    assert ("sync", pulling.id) in work and ("sync", slack.id) not in work


def test_a_run_whose_worker_died_is_closed_and_no_longer_blocks(db, fake, integration):
    dead = start_run(db.session, integration, "schedule")
    dead.heartbeat_at = None
    dead.started_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    assert ("sync", integration.id) in sync_service.due_work()
    run = run_sync(integration.id)
    assert run.status == "succeeded"
    db.session.refresh(dead)
    assert dead.status == "failed" and "stopped" in dead.error


def test_a_run_that_has_not_reported_yet_counts_from_its_start_and_still_holds_the_integration(db, integration):
    quiet = start_run(db.session, integration, "schedule")
    quiet.heartbeat_at = None  # no report yet: its start is what counts
    db.session.commit()
    assert not sync_service.is_stale(quiet)
    assert sync_service.running_trigger(integration.id) == "schedule"  # what the sync page shows
    assert ("sync", integration.id) not in sync_service.due_work()
    with pytest.raises(SyncAlreadyRunning):
        start_run(db.session, integration, "schedule")
    db.session.refresh(quiet)
    assert quiet.status == "running"

def test_provider_errors_fail_the_run_with_the_providers_message(db, integration, monkeypatch, paged_registered):
    monkeypatch.setenv("PAGED_API_BASE", "http://127.0.0.1:9")  # nothing listens there
    run = run_sync(integration.id, connector_factory=fast_factory("http://127.0.0.1:9"))
    assert run.status == "failed" and "Paged fake" in run.error
    assert integration.last_sync_status == "failed"


# -- push -----------------------------------------------------------------------


def finished_entry(db, user, description="Writing the report", minutes=90) -> TimeEntry:
    entry = TimeEntry(user_id=user.id, description=description, started_at=utcnow() - timedelta(minutes=minutes),
                      ended_at=utcnow())
    db.session.add(entry)
    db.session.flush()
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    return entry


def test_push_creates_then_updates_then_deletes_the_remote_copy(db, fake, integration, user):
    entry = finished_entry(db, user)
    assert sync_service.push_pending(integration.id) == 1
    remote = fake.created[0]
    assert remote["title"] == "Writing the report" and remote["seconds"] == 5400
    entry.description = "Writing the final report"
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    sync_service.push_pending(integration.id)
    assert len(fake.created) == 1 and fake.created[0]["title"] == "Writing the final report"
    record_change(db.session, "time_entry", entry, "delete")
    db.session.delete(entry)
    db.session.commit()
    sync_service.push_pending(integration.id)
    assert fake.created == []
    assert count(db, ExternalLink) == 0
    assert db.session.scalar(select(func.count()).where(OutboxItem.status != "done")) == 0


def test_running_timers_are_never_queued(db, integration, user):
    entry = TimeEntry(user_id=user.id, description="timer", started_at=utcnow())
    db.session.add(entry)
    db.session.flush()
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    assert count(db, OutboxItem) == 0


def test_pushes_wait_in_the_outbox_while_no_worker_runs(db, fake, integration, user):
    for number in range(3):
        finished_entry(db, user, f"entry {number}")
    assert fake.created == []  # nothing happens until a job runs
    assert [job for job, _ in sync_service.due_work()].count("push") == 0  # a sync is due first: it pushes too
    run = run_sync(integration.id)
    assert run.pushed == 3 and sorted(r["title"] for r in fake.created) == ["entry 0", "entry 1", "entry 2"]
    finished_entry(db, user, "entry 3")  # the sync is not due again yet: the scheduler pushes it alone
    assert ("push", integration.id) in sync_service.due_work()
    assert ("sync", integration.id) not in sync_service.due_work()


def test_a_push_that_keeps_failing_stops_and_can_be_retried(db, integration, user, monkeypatch):
    entry = finished_entry(db, user)
    dead_end = fast_factory("http://127.0.0.1:9")
    monkeypatch.setattr(sync_service.tuning, "PUSH_MAX_ATTEMPTS", 2)
    for _ in range(2):
        db.session.execute(OutboxItem.__table__.update().values(next_attempt_at=utcnow()))
        sync_service.push_pending(integration.id, connector_factory=dead_end)
    item = db.session.scalars(select(OutboxItem)).one()
    db.session.refresh(item)
    assert item.status == "failed" and item.attempts == 2 and "Paged fake" in item.last_error
    first, last = db.session.scalars(select(SyncRun).where(SyncRun.trigger == "push").order_by(SyncRun.id))
    assert (first.failed, last.failed) == (0, 1)  # the run that gave up on it counts it; the first retries
    other = Integration(provider="jira", is_global=True, status="active", settings={})  # its failures are its own
    db.session.add(other)
    db.session.flush()
    others = OutboxItem(integration_id=other.id, local_kind="time_entry", local_id=entry.id, action="upsert",
                        status="failed", attempts=2)
    db.session.add(others)
    db.session.commit()
    assert sync_service.retry_failed(db.session, integration.id) == 1
    db.session.refresh(item)
    db.session.refresh(others)
    assert item.status == "pending" and item.attempts == 0 and entry.id == item.local_id
    assert (others.status, others.attempts) == ("failed", 2)


def test_a_push_that_breaks_inside_closes_its_run_and_keeps_the_change(db, integration, user):
    finished_entry(db, user)

    def broken(integration):
        raise RuntimeError("a bug, not the provider")

    with pytest.raises(RuntimeError):
        sync_service.push_pending(integration.id, connector_factory=broken)
    run = db.session.scalars(select(SyncRun).where(SyncRun.trigger == "push")).one()
    db.session.refresh(run)
    assert (run.status, run.error) == ("failed", "internal error (RuntimeError)")
    assert db.session.scalars(select(OutboxItem.status)).all() == ["pending"]  # sent by a later push

def test_the_time_service_writes_outbox_rows_in_the_same_transaction(db, fake, integration, user):
    """Timer, manual entry, edit and delete all reach the provider through the outbox."""
    from app.services import time_service
    from app.services.time_service import EntryFields

    # Started a while ago: a timer stopped within a minute is discarded, not pushed.
    timer = time_service.start_timer(user, description="timer running", now=utcnow() - timedelta(minutes=30))
    assert count(db, OutboxItem) == 0  # a running timer is never pushed
    time_service.stop_timer(user)
    start = utcnow() - timedelta(hours=3)
    typed = time_service.create_entry(user, EntryFields(started_at=start, ended_at=start + timedelta(hours=1),
                                                        description="typed in"))
    assert count(db, OutboxItem) == 2
    sync_service.push_pending(integration.id)
    assert sorted(r["title"] for r in fake.created) == ["timer running", "typed in"]
    time_service.update_entry(typed, EntryFields(started_at=start, ended_at=start + timedelta(hours=2),
                                                 description="typed in, longer"))
    time_service.delete_entry(timer)
    sync_service.push_pending(integration.id)
    assert [(r["title"], r["seconds"]) for r in fake.created] == [("typed in, longer", 7200)]


def test_clients_and_invoices_are_queued_for_accounting_integrations(db, integration, admin, admin_client,
                                                                    monkeypatch):
    """Saving a client or an invoice writes its outbox row in the same transaction."""
    from app.integrations.capabilities import Pushes
    from app.models import Client, Project
    from app.services import invoice_service
    from app.services.invoice_service import InvoiceRequest
    from tests.conftest import post_form

    class AccountingFake(PagedConnector):
        push_kinds = frozenset({"client", "invoice"})
        wants_push = classmethod(Pushes.wants_push.__func__)

    monkeypatch.setitem(registry._CONNECTORS, "paged", AccountingFake)
    response = post_form(admin_client, "/clients/new", {"name": "Acme", "currency": "EUR"}, page="/clients/new")
    assert response.status_code == 302
    client = db.session.scalars(select(Client)).one()
    project = Project(name="Site", client_id=client.id, hourly_rate=100)
    db.session.add(project)
    db.session.flush()
    start = utcnow() - timedelta(days=1)
    db.session.add(TimeEntry(user_id=admin.id, project_id=project.id, started_at=start,
                             ended_at=start + timedelta(hours=2), billable=True))
    db.session.commit()
    invoice = invoice_service.create_invoice(InvoiceRequest(client_id=client.id, start=start.date(),
                                                            end=utcnow().date(), issue_date=utcnow().date()))
    invoice_service.move_to(invoice, "issued")
    queued = [(item.local_kind, item.local_id, item.action) for item in
              db.session.scalars(select(OutboxItem).order_by(OutboxItem.id))]
    assert queued == [("client", client.id, "upsert"), ("invoice", invoice.id, "upsert"),
                      ("invoice", invoice.id, "upsert")]


def test_connections_send_calls_to_the_connected_site_tenant_or_company(db, admin, monkeypatch):
    """Where a connector's calls go comes from the admin's setup and what the connection learnt."""
    from app.services.connections import connector_for

    def connected(provider: str, facts: dict) -> Integration:
        integration = Integration(provider=provider, is_global=True, status="active", connection_facts=facts)
        integration.credential = IntegrationCredential(kind="oauth2")
        integration.credential.payload = {"access_token": "a", "refresh_token": "r", "expires_at": 4_102_444_800}
        db.session.add(integration)
        db.session.commit()
        return integration

    monkeypatch.setenv("JIRA_API_BASE", "http://127.0.0.1:9/atlassian")
    jira = connector_for(connected("jira", {"cloud_id": "c-1"}))
    assert str(jira.client._http.base_url) == "http://127.0.0.1:9/atlassian/ex/jira/c-1/"
    xero = connector_for(connected("xero", {"tenant_id": "t-1"}))
    assert xero.client._http.headers["xero-tenant-id"] == "t-1"
    books = connector_for(connected("quickbooks", {"realm_id": "123", "environment": "sandbox-quickbooks"}))
    assert str(books.client._http.base_url) == "https://sandbox-quickbooks.api.intuit.com/v3/company/123/"
    from app.services.integration_service import IntegrationService
    IntegrationService().save_app_credentials(admin, "gitlab", {"base_url": "https://git.example.org",
                                                                 "client_id": "i", "client_secret": "s"})
    gitlab_integration = IntegrationService().integration_for(admin, "gitlab")
    gitlab_integration.credential = IntegrationCredential(kind="oauth2")
    gitlab_integration.credential.payload = {"access_token": "a", "refresh_token": "r", "expires_at": 4_102_444_800}
    db.session.commit()
    gitlab = connector_for(gitlab_integration)
    assert str(gitlab.client._http.base_url) == "https://git.example.org/api/v4/"


@pytest.mark.slow  # 1,000 pushes through injected faults: over a minute on a busy machine
def test_with_20_percent_faults_a_push_of_1000_entries_creates_each_exactly_once(db, user, monkeypatch,
                                                                                 paged_registered):
    """Timeouts and resets after the provider did the work are the hard case: only the
    outbox id, sent as an idempotency key, keeps the retry from creating a second copy."""
    faults = Faults(rate=0.2, retry_after="0.01", latency=0.002, hang=0.12)
    with PagedProvider(records=0, faults=faults, seed=11) as fake:
        integration = make_integration(db, fake.url, monkeypatch)
        start = utcnow() - timedelta(days=2)
        entries = [TimeEntry(user_id=user.id, description=f"entry {n:04d}", started_at=start,
                             ended_at=start + timedelta(minutes=30)) for n in range(1000)]
        db.session.add_all(entries)
        db.session.flush()
        for entry in entries:
            record_change(db.session, "time_entry", entry, "upsert")
        db.session.commit()
        pushed = 0
        for _ in range(5):  # items whose attempts ran out of retries wait for the next run
            db.session.execute(OutboxItem.__table__.update().values(next_attempt_at=utcnow()))
            db.session.commit()
            pushed += sync_service.push_pending(integration.id, connector_factory=fast_factory(fake.url, 0.06))
        assert sum(fake.stats.faults.values()) > 50
        titles = [record["title"] for record in fake.created]
    assert pushed == 1000
    assert sorted(titles) == [f"entry {n:04d}" for n in range(1000)]
    assert db.session.scalar(select(func.count()).select_from(ExternalLink)) == 1000


# -- bulk page writes -------------------------------------------------------------


class StatementCounter:
    """Counts the statements sent to the database by their first word and table."""

    def __init__(self, engine):
        self.seen: list[tuple[str, str]] = []
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        verb = words[0].upper()
        table = (words[1] if verb == "UPDATE" else words[2] if verb in ("INSERT", "DELETE") else "").strip('"')
        self.seen.append((verb, table.lower()))

    def count(self, verb: str, table: str | None = None) -> int:
        return sum(1 for v, t in self.seen if v == verb and (table is None or t == table))

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._seen)


def project_record(number: int, version: int, name: str | None = None, deleted: bool = False) -> RemoteRecord:
    return RemoteRecord("project", f"p-{number}", str(version), {} if deleted else {"name": name or f"P {number}"},
                        deleted=deleted, version_order=int)


def task_record(number: int, project: int, assignee: dict | None = None) -> RemoteRecord:
    fields = {"title": f"Task {number}", "status": "todo", "external_key": f"T-{number}"}
    if assignee is not None:
        fields["assignee"] = assignee
    return RemoteRecord("task", f"t-{number}", "1", fields, parent_id=f"p-{project}")


def test_a_page_of_100_new_records_takes_one_insert_per_table_and_column_set(db, integration, user):
    projects = [project_record(number, 1) for number in range(2)]
    # Two column sets of tasks: with an assignee field (half of them the user, by e-mail) and without.
    tasks = [task_record(number, number % 2, {"email": user.email.upper(), "user_id": None} if number % 2 else None)
             for number in range(98)]
    counter = StatementCounter(db.engine)
    try:
        result = sync_service.apply_records(db.session, integration.id, projects + tasks)
    finally:
        counter.close()
    db.session.commit()
    assert result.created == 100
    assert counter.count("INSERT", "projects") == 1
    assert counter.count("INSERT", "tasks") == 2          # one per column set, not one per task
    assert counter.count("INSERT", "external_links") == 2  # one per kind
    assert counter.count("UPDATE") == 0
    # The page's look-ups included; on PostgreSQL each INSERT of rows draws its ids first (sync_writes).
    id_draws = 3 if db.engine.dialect.name == "postgresql" else 0
    assert len(counter.seen) <= 12 + id_draws
    # every link names the row made of its own record (ids paired with their rows, in order)
    for link in db.session.scalars(select(ExternalLink).where(ExternalLink.local_kind == "task")):
        task = db.session.get(Task, link.local_id)
        number = int(link.external_id.removeprefix("t-"))
        assert (task.title, task.external_key) == (f"Task {number}", f"T-{number}")
        assert task.assignee_id == (user.id if number % 2 else None)
        project_link = db.session.scalars(select(ExternalLink).where(
            ExternalLink.local_kind == "project", ExternalLink.local_id == task.project_id)).one()
        assert project_link.external_id == f"p-{number % 2}"


def test_a_page_of_existing_records_is_updated_with_one_statement_per_column_set(db, integration):
    sync_service.apply_records(db.session, integration.id, [project_record(n, 1) for n in range(100)])
    db.session.commit()
    counter = StatementCounter(db.engine)
    try:
        result = sync_service.apply_records(db.session, integration.id,
                                            [project_record(n, 2, f"Renamed {n}") for n in range(100)])
    finally:
        counter.close()
    db.session.commit()
    assert result.updated == 100
    assert counter.count("UPDATE", "projects") == 1 and counter.count("UPDATE", "external_links") == 1
    assert counter.count("INSERT") == 0
    assert project_names(db) == sorted(f"Renamed {n}" for n in range(100))


def test_a_page_mixing_new_and_existing_records_keeps_the_newer_version(db, integration):
    sync_service.apply_records(db.session, integration.id,
                               [project_record(1, 5, "One v5"), project_record(2, 5, "Two v5"),
                                project_record(3, 5, "Three v5"), project_record(6, 5, "Six v5"),
                                project_record(7, 5, "Seven v5")])
    db.session.commit()
    result = sync_service.apply_records(db.session, integration.id, [
        project_record(1, 3, "One v3"),            # older than stored: ignored
        project_record(7, 4, "Seven v4"),          # older too
        project_record(2, 7, "Two v7"),            # newer: updated
        project_record(4, 1, "Four v1"),           # new
        project_record(5, 9, "Five v9"), project_record(5, 8, "Five v8"),  # twice in the page: the newer counts
        project_record(3, 6, deleted=True),        # deleted at the provider: archived
        project_record(6, 6, deleted=True),        # and another
        project_record(9, 1, deleted=True),        # deleted before it was ever imported: nothing to do
    ])
    db.session.commit()
    # Each count counts every record (not just whether there was one).
    assert (result.created, result.updated, result.archived, result.unchanged) == (2, 1, 2, 2)
    rows = {link.external_id: (db.session.get(Project, link.local_id), link.remote_version)
            for link in db.session.scalars(select(ExternalLink))}
    assert {key: (project.name, version) for key, (project, version) in rows.items()} == {
        "p-1": ("One v5", "5"), "p-2": ("Two v7", "7"), "p-3": ("Three v5", "5"),
        "p-4": ("Four v1", "1"), "p-5": ("Five v9", "9"), "p-6": ("Six v5", "5"), "p-7": ("Seven v5", "5")}
    assert rows["p-3"][0].archived is True and rows["p-6"][0].archived is True and count(db, Project) == 7
    # a re-run of the same page changes nothing more
    again = sync_service.apply_records(db.session, integration.id, [project_record(2, 7, "Two v7"),
                                                                    project_record(4, 1, "Four v1")])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_a_dry_run_lists_a_deleted_record_as_an_archive_and_archives_nothing(db, integration):
    from app.services.sync_plan import DryRun
    sync_service.apply_records(db.session, integration.id, [project_record(1, 5, "One v5")])
    db.session.commit()
    plan = DryRun()
    result = sync_service.apply_records(db.session, integration.id, [project_record(1, 6, deleted=True)], plan)
    db.session.rollback()  # as the preview ends: whatever the dry run touched is dropped
    assert result.archived == 1 and dict(plan.ids) == {("project", "archive"): {"p-1"}}
    assert not db.session.scalars(select(Project)).one().archived


def test_a_project_and_a_task_with_the_same_remote_id_stay_apart(db, integration):
    """Jira numbers projects and issues from 10000 each: the same id names two records of two kinds."""
    project = RemoteRecord("project", "10000", "1", {"name": "Acme"}, version_order=int)
    task = RemoteRecord("task", "10000", "1", {"title": "Boiler", "status": "todo", "external_key": "ACME-1"},
                        parent_id="10000")
    other = RemoteRecord("project", "10001", "1", {"name": "Beta"}, version_order=int)
    sync_service.apply_records(db.session, integration.id, [other, project, task])  # local ids differ by kind
    db.session.commit()
    renamed = sync_service.apply_records(db.session, integration.id, [replace(task, version="2", fields={
        **task.fields, "title": "Boiler, renamed"})])
    db.session.commit()
    assert (renamed.created, renamed.updated) == (0, 1)
    assert db.session.execute(select(Project.name, Task.title).join(Task, Task.project_id == Project.id)).all() \
        == [("Acme", "Boiler, renamed")]


def test_a_record_whose_local_copy_was_deleted_is_created_again_and_relinked(db, integration):
    sync_service.apply_records(db.session, integration.id, [project_record(1, 1, "First")])
    db.session.commit()
    link = db.session.scalars(select(ExternalLink)).one()
    db.session.delete(db.session.get(Project, link.local_id))
    db.session.commit()
    result = sync_service.apply_records(db.session, integration.id, [project_record(1, 2, "Back")])
    db.session.commit()
    assert result.created == 1
    link = db.session.scalars(select(ExternalLink)).one()  # the same link, pointing at the new row
    assert db.session.get(Project, link.local_id).name == "Back" and link.remote_version == "2"


def test_postgresql_plans_each_execution_for_its_own_values(db):
    """A generic plan made while the tables were small turned a 100,000-record import's link
    look-ups into sequential scans (tuning.DATABASE_SESSION_OPTIONS)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    assert db.session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
