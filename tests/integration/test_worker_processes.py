"""Background workers as separate processes (tests/fakes/worker_entry.py, which
is `timehub worker` with the paged fake's connector plugged in), sharing the
database and the queue with this test: SQLite or PostgreSQL, a SQLite or Redis
queue (see test_jobs.py for the `queue` fixture)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app import jobs
from app.models import ExternalLink, Integration, IntegrationCredential, Project, SyncCursor, SyncRun, WebhookDelivery
from app.models.base import utcnow
from app.services import sync_service
from app.services.sync_service import SyncAlreadyRunning, run_sync
from tests.fakes.paged_provider import Faults, PagedProvider
from tests.integration.test_jobs import (  # noqa: F401  (queue, paged_registered: fixtures)
    assert_imported_exactly_once,
    assert_one_run_imported_everything,
    count,
    make_integration,
    no_run_in_progress,
    paged_registered,
    queue,
    runs,
    wait_until,
)

REPOSITORY = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # real worker processes, started and killed


class Workers:
    """Worker processes started by one test; whatever is still alive at the end is killed."""

    def __init__(self, app, api_base: str, logs: Path):
        self.env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                    "TIMEHUB_INSTANCE": app.config["INSTANCE_PATH"],
                    "TIMEHUB_QUEUE_NAME": app.config["TIMEHUB_QUEUE_NAME"], "PAGED_API_BASE": api_base}
        self.env.pop("REDIS_URL", None)
        if app.config.get("REDIS_URL"):
            self.env["REDIS_URL"] = app.config["REDIS_URL"]
        self.logs = logs
        self.started: list[tuple[subprocess.Popen, Path]] = []
        self.dump_stacks_on_failure: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        """The test worker: `timehub worker` with the paged fake's connector plugged in."""
        process = self.start_command(sys.executable, "-m", "tests.fakes.worker_entry", *args)
        self.dump_stacks_on_failure.append(process)
        return process

    def start_command(self, *argv: str) -> subprocess.Popen:
        log = self.logs / f"worker-{len(self.started) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, cwd=REPOSITORY, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.started.append((process, log))
        return process

    def stop(self, process: subprocess.Popen) -> None:
        """SIGINT: the consumer finishes the jobs it is running, then exits."""
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, self.output()

    def output(self) -> str:
        for process in self.dump_stacks_on_failure:
            if process.poll() is None:
                process.send_signal(signal.SIGUSR1)  # worker_entry prints its threads' stacks
        time.sleep(0.5)
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log in self.started)

    def skipped_as_already_running(self) -> int:
        return sum(log.read_text().count("already running; skipped") for _, log in self.started)

    def kill_all(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def state(db, job_queue) -> str:
    """What a timed-out wait shows: the runs and the jobs still queued."""
    lines = [f"run {r.id} {r.trigger} {r.status} pulled={r.pulled} created={r.created} error={r.error}"
             for r in runs(db)]
    return "\n".join(lines + [f"queued: {[task.name for task in job_queue.pending()]}", ""])


@pytest.fixture
def slow_fake():
    """Every request takes 0.3 s, so a sync lasts long enough for other workers to collide with it."""
    with PagedProvider(records=250, max_page_size=100,
                       faults=Faults(rate=1.0, kinds=("latency",), latency=0.3)) as provider:
        yield provider


@pytest.fixture
def workers(app, queue, slow_fake, tmp_path):  # noqa: F811
    started = Workers(app, slow_fake.url, tmp_path)
    yield started
    started.kill_all()


def test_worker_processes_asked_to_sync_one_integration_at_once_never_run_it_twice(
        db, queue, slow_fake, workers, monkeypatch, paged_registered):  # noqa: F811
    integration = make_integration(db, slow_fake.url, monkeypatch)
    for _ in range(4):
        jobs.sync_integration(integration.id, trigger="manual")

    first, second = workers.start("--workers", "2"), workers.start("--workers", "2")
    wait_until(db, lambda: queue.pending_count() == 0 and count(db, Project) == 250 and no_run_in_progress(db),
               "the queued syncs to be done",
               explain=lambda: state(db, queue) + workers.output())
    workers.stop(first)
    workers.stop(second)

    db.session.rollback()
    assert workers.skipped_as_already_running() >= 1, workers.output()
    assert slow_fake.stats.max_in_flight == 1, workers.output()  # never two imports at the provider at once
    assert all(r.status == "succeeded" for r in runs(db)), workers.output()
    assert_one_run_imported_everything(runs(db), 250)
    assert_imported_exactly_once(db, 250)


def test_a_worker_killed_mid_import_is_resumed_by_the_next_run_without_loss_or_duplicates(
        db, queue, app, tmp_path, monkeypatch, paged_registered):  # noqa: F811
    records = 1000  # ten pages of 100, each answered after 0.25 s
    with PagedProvider(records=records, max_page_size=100,
                       faults=Faults(rate=1.0, kinds=("latency",), latency=0.25)) as fake:
        integration = make_integration(db, fake.url, monkeypatch)
        workers = Workers(app, fake.url, tmp_path)
        try:
            jobs.sync_integration(integration.id, trigger="manual")
            victim = workers.start()
            wait_until(db, lambda: count(db, ExternalLink) >= 200 and count(db, SyncCursor) == 1,
                       "the first pages to be committed",
                       explain=lambda: state(db, queue) + workers.output())
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(timeout=10) == -signal.SIGKILL

            db.session.rollback()
            dead = db.session.scalars(select(SyncRun)).one()
            committed = count(db, Project)
            assert dead.status == "running" and 200 <= committed < records
            assert count(db, ExternalLink) == committed and dead.created == committed  # pages are all-or-nothing

            # Until its heartbeat is stale the dead run still holds the integration:
            # it is indistinguishable from a slow live worker.
            with pytest.raises(SyncAlreadyRunning):
                run_sync(integration.id)
            db.session.execute(update(SyncRun).where(SyncRun.id == dead.id).values(
                heartbeat_at=utcnow() - timedelta(seconds=sync_service.tuning.SYNC_STALE_AFTER_SECONDS + 1)))
            db.session.commit()

            fake.faults = Faults()  # the rest of the import at full speed
            jobs.sync_integration(integration.id, trigger="manual")
            successor = workers.start()
            wait_until(db, lambda: count(db, SyncRun, SyncRun.status == "succeeded") >= 1
                       and queue.pending_count() == 0 and no_run_in_progress(db), "the next run to finish",
                       explain=lambda: state(db, queue) + workers.output())
            workers.stop(successor)
        finally:
            workers.kill_all()

    db.session.rollback()
    dead, resumed, *later = runs(db)
    assert dead.status == "failed" and "stopped" in dead.error
    assert resumed.status == "succeeded", workers.output()
    assert (resumed.pulled, resumed.created) == (records - committed, records - committed)  # from the saved page on
    assert all(r.status == "succeeded" and r.created == 0 for r in later)
    assert_imported_exactly_once(db, records)


def test_the_timehub_worker_command_consumes_this_installations_queue(db, queue, app, tmp_path):  # noqa: F811
    """The real console script, configured only by the environment, takes the job this app queued."""
    integration = Integration(provider="trello", is_global=True, status="active", settings={},
                              last_sync_at=utcnow())  # not due: the worker's scheduler queues nothing of its own
    integration.credential = IntegrationCredential(kind="api_key")
    integration.credential.payload = {"api_key": "k" * 32, "token": "t" * 64}
    db.session.add(integration)
    db.session.flush()
    delivery = WebhookDelivery(integration_id=integration.id, delivery_id="d-1", event="updateCard", body="{}")
    db.session.add(delivery)
    db.session.commit()
    jobs.process_webhook(delivery.id)

    workers = Workers(app, "http://127.0.0.1:9", tmp_path)
    workers.env["TRELLO_API_BASE"] = "http://127.0.0.1:9"  # nothing listens: no call may leave this machine
    try:
        worker = workers.start_command(str(Path(sys.executable).with_name("timehub")), "worker", "--workers", "1")
        wait_until(db, lambda: db.session.get(WebhookDelivery, delivery.id).processed_at is not None
                   and queue.pending_count() == 0, "the worker to process the delivery",
                   explain=lambda: state(db, queue) + workers.output())
        workers.stop(worker)  # SIGINT: a clean exit
    finally:
        workers.kill_all()
