"""`python -m bench <name> [options]`: run one benchmark (see bench/__init__.py)."""
from __future__ import annotations

import argparse
import importlib
import logging

BENCHMARKS = {
    "sync_import": "a first import of N records",
    "sync_noop": "a re-sync with nothing changed",
    "push_rate_limited": "N time entries pushed to a rate-limited provider",
    "webhook_ingest": "signed webhook deliveries over real HTTP",
    "webhook_apply": "stored webhook deliveries applied one by one, against the same records in pages",
    "concurrent_writers": "signed-in clients starting and stopping timers at once",
    "calendar_page": "/calendar's week view with N entries and N calendar events stored",
    "invoice_export": "N issued invoices exported to the fake QuickBooks or Xero, with faults",
    "slack_command": "/timehub answered in the request or through response_url, new and known senders",
    "scale_out": "the same import run by 1 and by N worker processes on PostgreSQL + Redis",
    "pages": "the time page, month reports, /integrations, the calendar week and the timesheet with 1,000 users and 100,000 entries",
    "suite": "every benchmark above, on SQLite and on PostgreSQL + Redis, in one sitting",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description="TimeHub sync engine benchmarks")
    commands = parser.add_subparsers(dest="name", required=True, metavar="name")
    modules = {}
    for name, summary in BENCHMARKS.items():
        modules[name] = importlib.import_module(f"bench.{name}")
        modules[name].add_arguments(commands.add_parser(name, help=summary, description=summary))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    modules[args.name].run(args)


if __name__ == "__main__":
    main()
