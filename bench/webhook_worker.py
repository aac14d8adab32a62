"""webhook_ingest --worker: a `timehub worker` process applying the deliveries while they
arrive, and the figures of that (how far behind it was when the load stopped, how long
it took to catch up, how many runs it took).

Worker process: `python -m bench.webhook_worker` (what webhook_ingest starts), the paged
fake registered as a provider, on the benchmark's database and queue (the environment).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from bench.harness import register_paged_fake, say
from bench.scale_out import REPOSITORY, tails, wait_for_consumers

DRAIN_TIMEOUT_SECONDS = 600


@contextmanager
def worker_process(bench, env: dict) -> Iterator[tuple[subprocess.Popen, object]]:
    """One worker process (one job at a time, no scheduler), up and consuming, and its log
    file; stopped afterwards."""
    log = bench.instance / "webhook-worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bench.webhook_worker"], cwd=REPOSITORY,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_consumers([process], [log])
        yield process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def waiting(integration_id: int) -> int:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import WebhookDelivery

    db.session.rollback()  # a fresh snapshot: the worker writes from its own process
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.integration_id == integration_id, WebhookDelivery.processed_at.is_(None)))


def drain(integration_id: int, process: subprocess.Popen, log_path) -> float:
    """Seconds until the worker has processed every stored delivery of the integration."""
    started = time.perf_counter()
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while waiting(integration_id):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"webhook_ingest: the worker did not catch up\n{tails([log_path])}")
        time.sleep(0.05)
    return time.perf_counter() - started


def applied_figures(integration_id: int, accepted: set[str], behind: int, drain_s: float, load_s: float) -> dict:
    """What the worker made of the accepted deliveries: `behind` of them waiting when the load
    of `load_s` seconds stopped, all processed `drain_s` later; applied without an error or
    not, and in how many runs."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import SyncRun, WebhookDelivery

    applied = set(db.session.scalars(select(WebhookDelivery.delivery_id).where(
        WebhookDelivery.integration_id == integration_id, WebhookDelivery.processed_at.is_not(None),
        WebhookDelivery.error.is_(None))))
    runs = db.session.scalar(select(func.count()).select_from(SyncRun).where(
        SyncRun.integration_id == integration_id, SyncRun.trigger == "webhook"))
    figures = {"behind_at_end": behind, "drain_s": round(drain_s, 2), "applied": len(accepted & applied),
               "not_applied": len(accepted - applied), "apply_runs": runs,
               "applied_per_s": round(len(accepted & applied) / (load_s + drain_s), 1)}
    say(f"the worker: {behind} deliveries waiting when the load stopped, all processed {drain_s:.2f} s later; "
        f"{figures['applied']} of {len(accepted)} accepted ones applied in {runs} runs")
    return figures


def serve() -> None:
    from app import create_app
    from app.jobs import run_worker

    # The consumer's INFO lines say when it is up (wait_for_consumers waits for "Huey consumer started").
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    register_paged_fake(os.environ["PAGED_API_BASE"])
    create_app()
    run_worker(1, scheduler=False)


if __name__ == "__main__":
    serve()
