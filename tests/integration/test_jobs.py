"""The background jobs on a real Huey queue, consumed inside this process:
SQLite storage always, Redis storage too when REDIS_URL is set; the database
is SQLite and, with DATABASE_URL, PostgreSQL (see conftest).

The consumer here is the one `make run` starts in the web process
(start_in_process_consumer). Its scheduler runs `schedule_due_work` as soon as
it starts and every minute after, so tests that want one job alone mark the
integration as synced a moment ago."""
from __future__ import annotations

import json
import logging
import os
import secrets
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from huey.signals import SIGNAL_COMPLETE
from sqlalchemy import func, select

from app import jobs
from app.models import ExternalLink, Integration, IntegrationCredential, OutboxItem, Project, SyncRun, WebhookDelivery
from app.models.base import utcnow
from app.services.sync_service import start_run
from tests.fakes.paged_connector import sign
from tests.fakes.paged_provider import Faults, PagedProvider
from tests.integration.test_sync_engine import finished_entry, paged_registered  # noqa: F401
from tests.integration.test_sync_engine import make_integration as make_paged_integration

REDIS_URL = os.environ.get("REDIS_URL")
RECORDS = 250


@pytest.fixture(params=["sqlite_queue", "redis_queue"])
def queue(request, app):
    """The app's Huey queue on the storage this test runs with (a per-test queue name,
    flushed by the `app` fixture)."""
    if request.param == "redis_queue" and not REDIS_URL:
        pytest.skip("REDIS_URL is not set: the Redis queue is tested only where a Redis server is configured")
    app.config["REDIS_URL"] = REDIS_URL if request.param == "redis_queue" else None
    jobs.init_app(app)
    return jobs.huey


@pytest.fixture
def fake():
    with PagedProvider(records=RECORDS, max_page_size=100) as provider:
        yield provider


def make_integration(db, fake_url: str, monkeypatch) -> Integration:
    """The global paged integration, with an id no other test's database uses: the
    Redis rate limiter's key is provider + integration id alone, so the integration
    #1 of every test (and of every installation on that Redis) would share one budget,
    and the slot a killed worker leaves behind would follow into the next test."""
    return make_paged_integration(db, fake_url, monkeypatch, integration_id=secrets.randbelow(10**9) + 10**6)


@pytest.fixture
def integration(db, fake, monkeypatch, paged_registered):  # noqa: F811
    return make_integration(db, fake.url, monkeypatch)


# -- helpers ----------------------------------------------------------------------


@contextmanager
def consumer(workers: int = 2):
    """An in-process consumer for the block; on leaving it waits for jobs in flight."""
    running = jobs.start_in_process_consumer(workers=workers)
    try:
        yield running
    finally:
        running.stop(graceful=True)


def wait_until(db, condition, what: str, timeout: float = 30.0, explain=lambda: "") -> None:
    """Poll the database (a fresh view each time) until `condition()` holds;
    `explain()` tells what was going on when it does not."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # end our snapshot: see what the workers committed
        if condition():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{explain()}")
        time.sleep(0.05)


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def runs(db, integration_id: int | None = None) -> list[SyncRun]:
    query = select(SyncRun).order_by(SyncRun.started_at)
    if integration_id is not None:
        query = query.where(SyncRun.integration_id == integration_id)
    return list(db.session.scalars(query))


def no_run_in_progress(db) -> bool:
    return count(db, SyncRun, SyncRun.status == "running") == 0


def assert_imported_exactly_once(db, records: int = RECORDS) -> None:
    assert count(db, Project) == records
    assert count(db, ExternalLink) == records
    assert db.session.scalar(select(func.count(func.distinct(ExternalLink.external_id)))) == records


def assert_one_run_imported_everything(all_runs: list[SyncRun], records: int = RECORDS) -> None:
    """Had two runs overlapped, both would have started from the empty cursor and pulled.
    (Run timestamps are no witness: a run's started_at is taken before its insert waits
    for the previous run's final commit.)"""
    assert sorted((r.pulled, r.created) for r in all_runs if r.pulled) == [(records, records)], \
        [(r.id, r.trigger, r.status, r.pulled, r.created) for r in all_runs]


def synced_a_moment_ago(db, integration: Integration) -> None:
    """Keep the scheduler from queueing a sync of its own for this integration."""
    integration.last_sync_at = utcnow()
    db.session.commit()


def task_calls(queue) -> list[tuple[str, tuple]]:
    return sorted((task.name, tuple(task.args)) for task in queue.pending())


# -- the three jobs, end to end --------------------------------------------------------


def test_a_queued_sync_imports_in_the_in_process_consumer_and_records_its_trigger(db, queue, fake, integration):
    synced_a_moment_ago(db, integration)  # only the manual sync below, no scheduled one beside it
    jobs.sync_integration(integration.id, trigger="manual")
    assert task_calls(queue) == [("sync_integration", (integration.id,))]
    assert count(db, Project) == 0  # enqueued, not run: no consumer yet

    with consumer():
        wait_until(db, lambda: [r.status for r in runs(db)] == ["succeeded"], "the manual sync to finish")
    db.session.rollback()
    run = runs(db)[0]
    assert (run.trigger, run.pulled, run.created, run.error) == ("manual", RECORDS, RECORDS, None)
    assert_imported_exactly_once(db)
    assert db.session.get(Integration, integration.id).last_sync_status == "succeeded"


def test_a_queued_push_sends_the_outbox_in_the_in_process_consumer(db, queue, fake, integration, user):
    synced_a_moment_ago(db, integration)
    for number in range(3):
        finished_entry(db, user, f"entry {number}")
    jobs.push_outbox(integration.id)

    with consumer():
        wait_until(db, lambda: count(db, OutboxItem, OutboxItem.status == "pending") == 0, "the outbox to empty")
    db.session.rollback()
    assert sorted(item["title"] for item in fake.created) == ["entry 0", "entry 1", "entry 2"]
    assert count(db, OutboxItem, OutboxItem.status == "done") == 3
    assert count(db, ExternalLink, ExternalLink.local_kind == "time_entry") == 3
    assert all(run.pulled == 0 for run in runs(db))  # a push job pulls nothing


def test_a_webhook_delivery_is_processed_by_the_queued_job(client, db, queue, integration):
    synced_a_moment_ago(db, integration)
    body = json.dumps({"item": {"id": "rec-hook", "title": "From a webhook", "updated_at": 1_800_000_000}}).encode()
    response = client.post(f"/webhooks/paged/{integration.webhook_token}", data=body, headers={
        "X-Paged-Signature": sign("whsec-test", body), "X-Paged-Delivery": "delivery-1",
        "X-Paged-Event": "item.updated", "Content-Type": "application/json"})
    assert response.status_code == 202
    response.close()  # as a server does once the answer is sent: that enqueues the job
    assert [name for name, _ in task_calls(queue)] == ["process_webhook"]
    assert count(db, Project) == 0

    with consumer():
        wait_until(db, lambda: count(db, WebhookDelivery, WebhookDelivery.processed_at.is_not(None)) == 1,
                   "the delivery to be processed")
    db.session.rollback()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.error is None
    assert db.session.scalars(select(Project.name)).one() == "From a webhook"
    assert db.session.scalars(select(ExternalLink.external_id)).one() == "rec-hook"


# -- the periodic scheduler -----------------------------------------------------------


def add_paged_integration(db, owner, *, last_sync_minutes_ago: int | None, settings: dict | None = None) -> int:
    """A per-user connection to the paged fake (one per user is allowed)."""
    integration = Integration(provider="paged", is_global=False, user_id=owner.id, status="active",
                              settings=settings or {})
    integration.credential = IntegrationCredential(kind="api_key")
    integration.credential.payload = {"token": "paged-token"}
    if last_sync_minutes_ago is not None:
        integration.last_sync_at = utcnow() - timedelta(minutes=last_sync_minutes_ago)
    db.session.add(integration)
    db.session.commit()
    return integration.id


def test_the_scheduler_queues_syncs_that_are_due_by_each_integrations_interval(db, queue, make_user,
                                                                               paged_registered):  # noqa: F811
    never_synced = add_paged_integration(db, make_user(), last_sync_minutes_ago=None)
    recent = add_paged_integration(db, make_user(), last_sync_minutes_ago=5)           # default: every 15 min
    stale = add_paged_integration(db, make_user(), last_sync_minutes_ago=20)
    every_2_min = add_paged_integration(db, make_user(), last_sync_minutes_ago=5,
                                        settings={"sync_interval_minutes": 2})
    hourly = add_paged_integration(db, make_user(), last_sync_minutes_ago=30, settings={"sync_interval_minutes": 60})
    disabled = add_paged_integration(db, make_user(), last_sync_minutes_ago=None)
    db.session.get(Integration, disabled).status = "disabled"
    db.session.commit()

    jobs.schedule_due_work.call_local()  # the periodic task's body, as the consumer runs it

    assert task_calls(queue) == sorted(("sync_integration", (integration_id,))
                                       for integration_id in (never_synced, stale, every_2_min))
    assert all(task.kwargs == {} for task in queue.pending())  # trigger: the default, "schedule"
    assert recent and hourly  # synced within their interval: nothing queued for them


def test_the_scheduler_queues_a_push_for_an_integration_that_is_not_due_to_sync(db, queue, integration, user):
    synced_a_moment_ago(db, integration)
    jobs.schedule_due_work.call_local()
    assert task_calls(queue) == []
    finished_entry(db, user)
    # The change's commit queued its push at once...
    assert task_calls(queue) == [("push_outbox", (integration.id,))]
    # ...and were that job lost, the scheduler queues it again.
    queue.flush()
    jobs.schedule_due_work.call_local()
    assert task_calls(queue) == [("push_outbox", (integration.id,))]


def test_a_started_consumer_runs_the_scheduler_which_syncs_only_what_is_due(db, queue, fake, integration, make_user):
    recent = add_paged_integration(db, make_user(), last_sync_minutes_ago=5)
    with consumer():
        wait_until(db, lambda: [r.status for r in runs(db, integration.id)] == ["succeeded"],
                   "the scheduled sync to finish")
    db.session.rollback()
    assert [r.trigger for r in runs(db)] == ["schedule"]  # nothing for the recently synced one
    assert runs(db, recent) == []
    assert_imported_exactly_once(db)


# -- the queue stopped, then back -----------------------------------------------------


def test_pushes_wait_in_the_outbox_while_the_queue_is_stopped_and_go_out_once_when_it_is_back(
        db, queue, fake, integration, user):
    synced_a_moment_ago(db, integration)
    titles = [f"entry {number:02d}" for number in range(20)]
    for title in titles:
        finished_entry(db, user, title)  # each commit queues a push of the integration
    jobs.push_outbox(integration.id)  # and "Sync now" / the scheduler queued more before any worker came

    assert fake.created == []
    assert count(db, OutboxItem, OutboxItem.status == "pending") == len(titles)
    assert [name for name, _ in task_calls(queue)] == ["push_outbox"] * (len(titles) + 1)

    with consumer():
        wait_until(db, lambda: count(db, OutboxItem, OutboxItem.status == "pending") == 0, "the outbox to empty")
        wait_until(db, lambda: queue.pending_count() == 0, "the queue to drain")
    db.session.rollback()
    assert sorted(item["title"] for item in fake.created) == titles  # each exactly once
    assert count(db, OutboxItem, OutboxItem.status == "done") == len(titles)
    assert count(db, ExternalLink, ExternalLink.local_kind == "time_entry") == len(titles)


# -- one running sync per integration, with several worker threads -----------------------


@pytest.fixture
def slow_fake(monkeypatch, paged_registered):  # noqa: F811
    """Every request takes 0.2 s: a sync of 3 pages lasts long enough for the others to collide."""
    with PagedProvider(records=RECORDS, max_page_size=100,
                       faults=Faults(rate=1.0, kinds=("latency",), latency=0.2)) as provider:
        yield provider


def test_worker_threads_asked_to_sync_one_integration_at_once_never_run_it_twice(db, queue, slow_fake, monkeypatch,
                                                                                caplog):
    integration = make_integration(db, slow_fake.url, monkeypatch)
    for _ in range(4):
        jobs.sync_integration(integration.id, trigger="manual")
    caplog.set_level(logging.INFO, logger="app.jobs")

    with consumer(workers=4):
        wait_until(db, lambda: queue.pending_count() == 0 and count(db, Project) == RECORDS
                   and no_run_in_progress(db), "the queued syncs to be done")
    db.session.rollback()
    skipped = [r for r in caplog.records if "already running; skipped" in r.getMessage()]
    assert skipped, "no worker met the running sync: the test did not exercise the collision"
    assert slow_fake.stats.max_in_flight == 1  # never two imports talking to the provider at once
    assert all(r.status == "succeeded" for r in runs(db))
    assert_one_run_imported_everything(runs(db))
    assert_imported_exactly_once(db)


def test_push_jobs_running_at_once_send_each_entry_once_and_all_succeed(db, queue, fake, integration, user, caplog):
    synced_a_moment_ago(db, integration)
    titles = [f"entry {number:02d}" for number in range(40)]
    for title in titles:
        finished_entry(db, user, title)
    for _ in range(4):
        jobs.push_outbox(integration.id)
    caplog.set_level(logging.INFO)

    with consumer(workers=4):
        wait_until(db, lambda: queue.pending_count() == 0
                   and count(db, OutboxItem, OutboxItem.status == "pending") == 0, "the pushes to be done")
    db.session.rollback()
    assert sorted(item["title"] for item in fake.created) == titles
    assert count(db, ExternalLink, ExternalLink.local_kind == "time_entry") == len(titles)
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []


def test_push_jobs_and_a_sync_of_the_same_integration_share_the_work_without_errors(db, queue, fake, integration,
                                                                                   user, caplog):
    """A sync (which pushes too) and push jobs queued together: whichever holds the
    integration sends the entries, each exactly once; the others step aside.
    (Whether the sync itself ran is the next test's subject.)"""
    synced_a_moment_ago(db, integration)  # the jobs below, and no scheduled ones
    titles = [f"entry {number:02d}" for number in range(20)]
    for title in titles:
        finished_entry(db, user, title)
    jobs.push_outbox(integration.id)
    jobs.sync_integration(integration.id, trigger="manual")
    jobs.push_outbox(integration.id)
    caplog.set_level(logging.INFO)

    with consumer(workers=3):
        wait_until(db, lambda: queue.pending_count() == 0 and no_run_in_progress(db)
                   and count(db, OutboxItem, OutboxItem.status == "pending") == 0, "the sync and the pushes")
    db.session.rollback()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert sorted(item["title"] for item in fake.created) == titles
    assert count(db, OutboxItem, OutboxItem.status == "done") == len(titles)
    assert count(db, ExternalLink, ExternalLink.local_kind == "time_entry") == len(titles)
    assert all(r.status == "succeeded" for r in runs(db))


def test_a_sync_asked_for_after_a_settings_change_runs_once_the_running_pull_is_done(db, queue, fake, integration):
    """The running pull may have read the old settings: the sync the settings page queued
    is not dropped as "already running" (as a second "Sync now" is), it runs after."""
    synced_a_moment_ago(db, integration)
    pull = start_run(db.session, integration, "manual")
    executed = []

    def record_completion(signal, task, *args):
        executed.append(task.name)
    queue.signal(SIGNAL_COMPLETE)(record_completion)
    try:
        jobs.sync_integration(integration.id, trigger="manual", after_running=True)
        with consumer():
            wait_until(db, lambda: "sync_integration" in executed, "the worker to try the sync")
            assert [r.id for r in runs(db) if r.status == "succeeded"] == []
            pull.status, pull.finished_at = "succeeded", utcnow()
            db.session.commit()
            wait_until(db, lambda: any(r.trigger == "manual" and r.status == "succeeded" and r.id != pull.id
                                       for r in runs(db)), "the sync to run after the pull", timeout=30)
    finally:
        queue.disconnect_signal(record_completion)
    assert_imported_exactly_once(db)


def test_a_sync_that_meets_a_push_in_progress_runs_once_the_push_is_done(db, queue, fake, integration):
    synced_a_moment_ago(db, integration)
    push = start_run(db.session, integration, "push")  # a push job holds the integration
    executed = []

    def record_completion(signal, task, *args):
        executed.append(task.name)
    queue.signal(SIGNAL_COMPLETE)(record_completion)
    try:
        jobs.sync_integration(integration.id, trigger="manual")
        with consumer():
            wait_until(db, lambda: "sync_integration" in executed, "the worker to try the sync")
            push.status, push.finished_at = "succeeded", utcnow()
            db.session.commit()
            # Rescheduled SYNC_AFTER_PUSH_DELAY_SECONDS later; the bound leaves room for a loaded
            # machine's sync, and is still far below the next scheduled sync (synced a moment ago).
            wait_until(db, lambda: any(r.trigger == "manual" and r.status == "succeeded" for r in runs(db)),
                       "the sync to run after the push", timeout=30)
    finally:
        queue.disconnect_signal(record_completion)
    assert_imported_exactly_once(db)
