"""`timehub worker` for tests against the generic paged fake:

    python -m tests.fakes.worker_entry [--workers N]

The app is configured from the environment exactly as the console script's is
(DATABASE_URL, REDIS_URL, TIMEHUB_QUEUE_NAME, TIMEHUB_INSTANCE,
TIMEHUB_ENCRYPTION_KEYS, PAGED_API_BASE, PAGED_B_API_BASE). The only difference: the paged
fake's connectors are plugged into the provider registry, which the real
`timehub` cannot do. SIGINT stops it gracefully (jobs in flight finish),
SIGTERM at once; SIGUSR1 prints every thread's stack.
"""
from __future__ import annotations

import argparse
import faulthandler
import logging
import signal
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.worker_entry")
    parser.add_argument("--workers", type=int, default=1, help="worker threads in this process")
    args = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # a test that times out asks where every thread is
    # The job module logs what the tests look for ("already running; skipped").
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(threadName)s %(name)s: %(message)s")

    from app import create_app
    from app.integrations import registry
    from app.jobs import run_worker
    from tests.fakes.paged_connector import PAGED_CONNECTORS

    registry._CONNECTORS.update(PAGED_CONNECTORS)  # "paged" and the second provider "paged_b"
    create_app()  # configures the queue (app.jobs.init_app) the worker consumes
    run_worker(args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
