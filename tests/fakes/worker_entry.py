"""A TimeHub background process for tests that need real separate processes.

    python -m tests.fakes.worker_entry worker [--workers N]   consume jobs, like `timehub worker`
    python -m tests.fakes.worker_entry sync INTEGRATION_ID    one foreground sync, like
                                                              `timehub integrations sync`

The app is configured from the environment exactly as the console script's is
(DATABASE_URL, REDIS_URL, TIMEHUB_QUEUE_NAME, TIMEHUB_INSTANCE,
TIMEHUB_ENCRYPTION_KEYS, PAGED_API_BASE). The only difference: the generic
paged fake's connector is plugged into the provider registry, which the real
`timehub` cannot do.

Exit codes of `sync`: 0 the run finished (succeeded or failed, printed),
3 another sync of the integration was running.
"""
from __future__ import annotations

import argparse
import logging
import sys

ALREADY_RUNNING = 3


def _app():
    from app import create_app
    from app.integrations import registry
    from tests.fakes.paged_connector import PagedConnector

    registry._CONNECTORS["paged"] = PagedConnector
    return create_app()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="worker_entry")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker")
    worker.add_argument("--workers", type=int, default=1)
    sync = commands.add_parser("sync")
    sync.add_argument("integration_id", type=int)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(threadName)s %(name)s: %(message)s")
    app = _app()
    if args.command == "worker":
        from app.jobs import run_worker
        print("worker ready", flush=True)
        run_worker(args.workers)  # blocks; SIGINT stops it gracefully, SIGTERM at once
        return 0

    from app.services.sync_service import SyncAlreadyRunning, run_sync
    with app.app_context():
        try:
            run = run_sync(args.integration_id, trigger="manual")
        except SyncAlreadyRunning:
            print("already running", flush=True)
            return ALREADY_RUNNING
        print(f"{run.status} {run.pulled} {run.created}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
