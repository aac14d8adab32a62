"""Background jobs on Huey and the periodic scheduler.

Storage: a SQLite file under the instance folder by default, Redis when
REDIS_URL is set. `make run` consumes jobs inside the web process
(`start_in_process_consumer`); at scale `timehub worker` runs consumers as
separate processes on any number of machines.

Job functions stay thin: they open an app context and call a service.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from pathlib import Path

from flask import Flask
from huey import Huey, crontab
from huey.consumer import Consumer
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from redis import ConnectionPool

from app import tuning
from app.extensions import db
from app.mailer import MailError
from app.services import session_service, work_queue
from app.services.sync_service import SyncAlreadyRunning, due_work, push_pending, run_sync, running_trigger
from app.services.token_service import refresh_idle_connections
from app.services import account_links, command_service, notification_service, sync_preview, webhook_processing

log = logging.getLogger(__name__)

# Storage is chosen by init_app(); until then nothing can be enqueued by accident.
huey = Huey("timehub", results=False, utc=True, storage_class=MemoryStorage)
_app: Flask | None = None


def init_app(app: Flask) -> None:
    global _app
    _app = app
    # Several TimeHub installations may share one Redis: each keeps its own queue name.
    huey.name = app.config["TIMEHUB_QUEUE_NAME"]
    if app.config.get("REDIS_URL"):
        timeout = tuning.QUEUE_REDIS_TIMEOUT_SECONDS
        pool = ConnectionPool.from_url(app.config["REDIS_URL"], socket_connect_timeout=timeout, socket_timeout=timeout)
        huey.storage_class, huey.storage_kwargs = RedisStorage, {"connection_pool": pool}
    else:
        path = Path(app.config["INSTANCE_PATH"]) / "jobs.db"
        huey.storage_class, huey.storage_kwargs = SqliteStorage, {"filename": str(path)}
    huey.storage = huey.create_storage()
    app.extensions["timehub.jobs"] = huey
    work_queue.install(HueyWorkQueue())


class HueyWorkQueue:
    """The services' WorkQueue port on Huey: calling a task enqueues it."""

    def sync(self, integration_id: int, trigger: str, after_running: bool = False) -> None:
        # after_running only when asked: the queued job of every other sync stays as it was.
        sync_integration(integration_id, trigger=trigger, **({"after_running": True} if after_running else {}))

    def push(self, integration_id: int) -> None:
        push_outbox(integration_id)

    def notify(self, integration_id: int) -> None:
        deliver_notifications(integration_id)

    def preview(self, integration_id: int) -> None:
        preview_sync(integration_id)

    def password_reset(self, email: str, base_url: str) -> None:
        send_password_reset(email, base_url)

    def command(self, integration_id: int, remote_user_id: str, text: str, reply_url: str) -> None:
        answer_command(integration_id, remote_user_id, text, reply_url)


def in_app_context(fn):
    """Run a job body inside the Flask app that configured the queue."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if _app is None:
            raise RuntimeError("jobs.init_app() has not been called in this process")
        with _app.app_context():
            return fn(*args, **kwargs)
    return run


class InProcessConsumer(Consumer):
    """A consumer living in the web process: the server owns the signal handlers."""

    def _set_signal_handlers(self):
        pass


def start_in_process_consumer(workers: int = 2) -> Consumer:
    consumer = InProcessConsumer(huey, workers=workers, worker_type="thread", periodic=True, max_delay=2.0)
    consumer.start()
    return consumer


def run_worker(workers: int, scheduler: bool = True) -> None:
    """Blocking consumer for `timehub worker` (its own process, its own signals).
    With many workers, one scheduler is enough: the others pass scheduler=False."""
    huey.create_consumer(workers=workers, worker_type="thread", periodic=scheduler).run()


# -- the jobs ----------------------------------------------------------------


@huey.task(name="sync_integration")
@in_app_context
def sync_integration(integration_id: int, trigger: str = "schedule", after_running: bool = False) -> None:
    try:
        # Deliveries and pushes hold the integration for milliseconds: wait for them in
        # place, looking more often than webhook jobs do, so a backlog of deliveries does
        # not starve the pull (issue 17). A pull holding it is not waited for.
        when_free(integration_id, lambda: run_sync(integration_id, trigger=trigger),
                  tuning.SYNC_BRIEF_WAIT_SECONDS, tuning.SYNC_BRIEF_POLL_SECONDS)
    except SyncAlreadyRunning:
        if running_trigger(integration_id) in ("push", "webhook"):
            # These hold the integration only briefly: pull right after instead of dropping the sync.
            sync_integration.schedule((integration_id,), {"trigger": trigger, "after_running": after_running},
                                      delay=tuning.SYNC_AFTER_PUSH_DELAY_SECONDS)
        elif after_running:
            # Asked for after a settings change: the running pull may have read the old ones
            # (or half of each), so this one runs once it is done instead of being dropped.
            sync_integration.schedule((integration_id,), {"trigger": trigger, "after_running": True},
                                      delay=tuning.SYNC_AFTER_RUNNING_RETRY_SECONDS)
        else:
            log.info("sync of integration %s already running; skipped", integration_id)


@huey.task(name="push_outbox")
@in_app_context
def push_outbox(integration_id: int) -> None:
    push_pending(integration_id)


@huey.task(name="preview_sync")
@in_app_context
def preview_sync(integration_id: int) -> None:
    sync_preview.run_preview(integration_id)


@huey.task(name="process_webhook")
@in_app_context
def process_webhook(delivery_ids: int | list[int], attempt: int = 0) -> None:
    """Process stored deliveries (one id, or a batch from WebhookEnqueuer) in the order
    they were stored, each integration's as one run with its other waiting deliveries
    (webhook_processing.runs_for); ones already processed (a duplicate job, or one whose
    deliveries an earlier job took along) are skipped. `attempt`: how often this batch
    already found a pull holding its integration."""
    ids = [delivery_ids] if isinstance(delivery_ids, int) else delivery_ids
    batches = list(webhook_processing.unprocessed_by_integration(ids).items())
    for position, (integration_id, batch) in enumerate(batches):
        try:
            for run in webhook_processing.runs_for(integration_id, batch):
                when_free(integration_id,
                          functools.partial(webhook_processing.process_deliveries, integration_id, run),
                          tuning.WEBHOOK_BRIEF_WAIT_SECONDS, tuning.WEBHOOK_BRIEF_POLL_SECONDS)
        except SyncAlreadyRunning:
            # A pull holds the integration: the rest come back later, later each time.
            rest = sorted(delivery_id for _, later in batches[position:] for delivery_id in later)
            process_webhook.schedule((rest,), {"attempt": attempt + 1}, delay=webhook_retry_delay(attempt))
            return


def webhook_retry_delay(attempt: int) -> float:
    return min(tuning.WEBHOOK_RETRY_BASE_SECONDS * 2 ** attempt, tuning.WEBHOOK_RETRY_CAP_SECONDS)


BRIEF_HOLDERS = ("webhook", "push")


def when_free(integration_id: int, work, wait: float, poll: float):
    """Run `work` (which takes the integration's run lock); while a brief holder has it,
    look again every `poll` seconds (a read, not another insert) for up to `wait` seconds.
    Raises SyncAlreadyRunning when a pull holds the integration or the wait is over."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return work()
        except SyncAlreadyRunning:
            db.session.rollback()
            while True:
                holder = running_trigger(integration_id)
                db.session.rollback()  # the next look sees the holder's commits
                if holder is None:
                    break  # free: try again
                if holder not in BRIEF_HOLDERS or time.monotonic() > deadline:
                    raise
                time.sleep(poll)


class WebhookEnqueuer:
    """Hands accepted delivery ids to the queue with one queue insert per burst.

    The request that finds no enqueue in progress enqueues its own id at once (the
    intake calls this once its answer is sent). Ids accepted while an enqueue is in
    progress wait; a background thread enqueues them together.
    Every id is stored in the database before it gets here, so ids still waiting
    when the process dies are not lost: the scheduler's due_work re-enqueues
    deliveries left unprocessed (tuning.WEBHOOK_REENQUEUE_AFTER_SECONDS)."""

    def __init__(self, enqueue):
        self._enqueue = enqueue  # called with a list of delivery ids
        self._lock = threading.Lock()
        self._waiting: list[int] = []
        self._busy = False
        self._pid = os.getpid()

    def add(self, delivery_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's state means nothing here
                self._waiting, self._busy, self._pid = [], False, os.getpid()
            self._waiting.append(delivery_id)
            if self._busy:
                return  # the enqueue in progress takes it next
            self._busy = True
        self._enqueue_waiting()
        with self._lock:
            if not self._waiting:
                self._busy = False
                return
        threading.Thread(target=self._drain, name="webhook-enqueuer", daemon=True).start()

    def _drain(self) -> None:
        while True:
            time.sleep(tuning.WEBHOOK_ENQUEUE_LINGER_SECONDS)  # let a burst gather into one job
            self._enqueue_waiting()
            with self._lock:
                if not self._waiting:
                    self._busy = False
                    return

    def _enqueue_waiting(self) -> None:
        with self._lock:
            batch = self._waiting[:tuning.WEBHOOK_ENQUEUE_BATCH_MAX]
            del self._waiting[:len(batch)]
        if not batch:
            return
        try:
            self._enqueue(batch)
        except Exception:  # noqa: BLE001 - any queue failure: the deliveries are stored, the scheduler enqueues them
            log.warning("could not enqueue %s webhook deliveries; the scheduler will", len(batch))


webhook_enqueuer = WebhookEnqueuer(lambda ids: process_webhook(ids[0] if len(ids) == 1 else ids))


@huey.periodic_task(crontab(minute="*"), name="schedule_due_work")
@in_app_context
def schedule_due_work() -> None:
    """Every minute: enqueue syncs that are due, pushes that wait, deliveries not yet processed."""
    work = due_work()
    for job, argument in work:
        if job != "webhook":
            {"sync": sync_integration, "push": push_outbox}[job](argument)
    # Forgotten deliveries go in batches: one job per delivery would be thousands of jobs
    # after a long import held their integration (and every worker's scheduler runs this).
    forgotten = [argument for job, argument in work if job == "webhook"]
    for start in range(0, len(forgotten), tuning.WEBHOOK_ENQUEUE_BATCH_MAX):
        batch = forgotten[start:start + tuning.WEBHOOK_ENQUEUE_BATCH_MAX]
        process_webhook(batch[0] if len(batch) == 1 else batch)


@huey.task(name="deliver_notifications")
@in_app_context
def deliver_notifications(integration_id: int) -> None:
    """Post an integration's waiting notifications; after a 429 or a 5xx, come back when
    the provider allows (the rows are in the database: a lost job only delays them)."""
    _posted, wait = notification_service.deliver(integration_id)
    if wait is not None:
        deliver_notifications.schedule((integration_id,), delay=wait)


@huey.task(name="answer_command")
@in_app_context
def answer_command(integration_id: int, remote_user_id: str, text: str, reply_url: str) -> None:
    """A chat command whose answer could not wait: run it, post the answer to its reply URL.
    Not retried: the sender can type it again, and a command must not run twice."""
    command_service.answer_later(integration_id, remote_user_id, text, reply_url)


@huey.periodic_task(crontab(minute="*"), name="schedule_notifications")
@in_app_context
def schedule_notifications() -> None:
    """Every minute: queue the summaries that fell due, deliver what waits."""
    notification_service.queue_summaries()
    for integration_id in notification_service.due_integrations():
        deliver_notifications(integration_id)


@huey.task(name="send_password_reset")
@in_app_context
def send_password_reset(email: str, base_url: str) -> None:
    """Queued for every address asked about, known or not, so the page answers alike
    in content and in time; only an active account gets a mail."""
    try:
        account_links.send_reset_mail(email, base_url)
    except MailError as exc:
        log.warning("password reset mail not sent: %s", exc)


@huey.periodic_task(crontab(minute="23", hour="3"), name="refresh_idle_tokens")
@in_app_context
def refresh_idle_tokens() -> dict[int, str]:
    """Daily: refresh OAuth connections whose refresh tokens would lapse unused
    (Xero, QuickBooks, Atlassian), so an idle connection never silently dies."""
    outcomes = refresh_idle_connections()
    failed = {integration_id: outcome for integration_id, outcome in outcomes.items() if outcome != "refreshed"}
    if outcomes:
        log.info("Idle token refresh: %s refreshed, %s failed", len(outcomes) - len(failed), len(failed))
    for integration_id, outcome in failed.items():
        log.warning("Idle token refresh of integration %s failed: %s", integration_id, outcome)
    return outcomes


@huey.periodic_task(crontab(minute="51", hour="3"), name="purge_processed_deliveries")
@in_app_context
def purge_processed_deliveries() -> int:
    """Daily: delete webhook deliveries processed more than tuning.WEBHOOK_KEEP_DAYS ago."""
    return webhook_processing.purge_processed()


@huey.periodic_task(crontab(minute="41", hour="3"), name="purge_expired_sessions")
@in_app_context
def purge_expired_sessions() -> int:
    """Daily: delete sign-in sessions past their 30 days (sign-in purges them too)."""
    purged = session_service.purge_expired()
    db.session.commit()
    return purged
