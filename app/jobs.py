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
from pathlib import Path

from flask import Flask
from huey import Huey, crontab
from huey.consumer import Consumer
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from app import tuning

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
        huey.storage_class, huey.storage_kwargs = RedisStorage, {"url": app.config["REDIS_URL"]}
    else:
        path = Path(app.config["INSTANCE_PATH"]) / "jobs.db"
        huey.storage_class, huey.storage_kwargs = SqliteStorage, {"filename": str(path)}
    huey.storage = huey.create_storage()
    app.extensions["timehub.jobs"] = huey


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
def sync_integration(integration_id: int, trigger: str = "schedule") -> None:
    from app.services.sync_service import SyncAlreadyRunning, run_sync, running_trigger
    try:
        run_sync(integration_id, trigger=trigger)
    except SyncAlreadyRunning:
        if running_trigger(integration_id) in ("push", "webhook"):
            # These hold the integration only briefly: pull right after instead of dropping the sync.
            sync_integration.schedule((integration_id,), {"trigger": trigger}, delay=tuning.SYNC_AFTER_PUSH_DELAY_SECONDS)
        else:
            log.info("sync of integration %s already running; skipped", integration_id)


@huey.task(name="push_outbox")
@in_app_context
def push_outbox(integration_id: int) -> None:
    from app.services.sync_service import push_pending
    push_pending(integration_id)


@huey.task(name="process_webhook")
@in_app_context
def process_webhook(delivery_id: int) -> None:
    from app.services.sync_service import SyncAlreadyRunning
    from app.services.webhook_service import process_delivery
    try:
        process_delivery(delivery_id)
    except SyncAlreadyRunning:
        # A pull, push or another delivery holds the integration: try again shortly.
        process_webhook.schedule((delivery_id,), delay=tuning.SYNC_AFTER_PUSH_DELAY_SECONDS)


@huey.periodic_task(crontab(minute="*"), name="schedule_due_work")
@in_app_context
def schedule_due_work() -> None:
    """Every minute: enqueue syncs that are due, pushes that wait, deliveries not yet processed."""
    from app.services.sync_service import due_work
    for job, argument in due_work():
        {"sync": sync_integration, "push": push_outbox, "webhook": process_webhook}[job](argument)


@huey.periodic_task(crontab(minute="23", hour="3"), name="refresh_idle_tokens")
@in_app_context
def refresh_idle_tokens() -> dict[int, str]:
    """Daily: refresh OAuth connections whose refresh tokens would lapse unused
    (Xero, QuickBooks, Atlassian), so an idle connection never silently dies."""
    from app.services.token_service import refresh_idle_connections
    outcomes = refresh_idle_connections()
    failed = {integration_id: outcome for integration_id, outcome in outcomes.items() if outcome != "refreshed"}
    if outcomes:
        log.info("Idle token refresh: %s refreshed, %s failed", len(outcomes) - len(failed), len(failed))
    for integration_id, outcome in failed.items():
        log.warning("Idle token refresh of integration %s failed: %s", integration_id, outcome)
    return outcomes
