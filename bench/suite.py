"""Every benchmark, on SQLite and on PostgreSQL + Redis, in one sitting (issue 17: figures taken
together, so they compare). Each run is `python -m bench <name> ...` in a process of its own
(as a user would start it), its last stdout line kept; the result is one JSON object with the
machine and every run. `--quick` runs the same plan at sizes that take seconds (to check the
plan itself), `--only` some benchmarks, `--stacks` one stack.

PLAN names every benchmark of bench/__main__.BENCHMARKS but this one (a test holds it to that),
so a new benchmark cannot be left out of the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.harness import emit, say

POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/15"
STACKS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Run:
    name: str
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()      # replaces `args` under --quick
    stacks: tuple[str, ...] = STACKS


PLAN: tuple[Run, ...] = (
    Run("sync_import", ("--records", "10000"), ("--records", "300")),
    Run("sync_import", ("--records", "100000"), ("--records", "600")),
    Run("sync_import", ("--provider", "jira", "--records", "10000", "--unlimited"),
        ("--provider", "jira", "--records", "300", "--unlimited")),
    Run("sync_import", ("--provider", "jira", "--records", "100000", "--unlimited"),
        ("--provider", "jira", "--records", "600", "--unlimited")),
    Run("sync_import", ("--provider", "jira_datacenter", "--records", "10000", "--unlimited"),
        ("--provider", "jira_datacenter", "--records", "300", "--unlimited")),
    Run("sync_import", ("--provider", "google_calendar", "--records", "10000"),
        ("--provider", "google_calendar", "--records", "300")),
    Run("sync_import", ("--provider", "outlook_calendar", "--records", "10000"),
        ("--provider", "outlook_calendar", "--records", "300")),
    *(Run("sync_import", ("--provider", tracker, "--records", "10000"), ("--provider", tracker, "--records", "300"))
      for tracker in ("asana", "trello", "github", "gitlab")),
    Run("sync_noop", ("--records", "1000"), ("--records", "100")),
    Run("sync_noop", ("--provider", "jira", "--records", "10000"), ("--provider", "jira", "--records", "300")),
    Run("push_rate_limited", ("--entries", "1000", "--limit", "50"), ("--entries", "50", "--limit", "50")),
    Run("webhook_ingest", ("--seconds", "10"), ("--seconds", "1")),  # the embedded server
    Run("webhook_ingest", ("--seconds", "10", "--server", "gunicorn"), ("--seconds", "1", "--server", "gunicorn")),
    Run("webhook_ingest", ("--seconds", "10", "--worker"), ("--seconds", "1", "--worker")),  # applied as they arrive
    Run("webhook_apply", ("--deliveries", "300"), ("--deliveries", "20")),
    Run("concurrent_writers", ("--clients", "50", "--seconds", "30"), ("--clients", "5", "--seconds", "2")),
    Run("calendar_page", ("--records", "10000"), ("--records", "200", "--requests", "10")),  # all the viewer's
    Run("calendar_page", ("--records", "10000", "--users", "20"), ("--records", "200", "--requests", "10",
                                                                   "--users", "20")),  # a person's week
    Run("invoice_export", ("--provider", "xero", "--invoices", "500"), ("--provider", "xero", "--invoices", "10")),
    Run("invoice_export", ("--provider", "quickbooks", "--invoices", "500"),
        ("--provider", "quickbooks", "--invoices", "10")),
    Run("slack_command", (), ("--senders", "5", "--entries", "20")),
    Run("pages", (), ("--users", "20", "--entries", "500", "--requests", "5")),
    Run("scale_out", ("--records", "100000", "--integrations", "3", "--workers", "1,3"),
        ("--records", "900", "--integrations", "3", "--workers", "1,3"), stacks=("postgresql",)),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="every run at a size that takes seconds")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these benchmarks")
    parser.add_argument("--stacks", default=",".join(STACKS), help="sqlite,postgresql (default both)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", POSTGRESQL_URL),
                        help="the PostgreSQL server of the postgresql stack")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", REDIS_URL),
                        help="the Redis server of the postgresql stack")


def environment(stack: str, args) -> dict[str, str]:
    """The benchmark's environment: no server named (SQLite, in-process queue) or both."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    if stack == "postgresql":
        env.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url)
    return env


def run_one(run: Run, stack: str, args) -> dict:
    """One benchmark process; its result, or why it gave none."""
    argv = [sys.executable, "-m", "bench", run.name, *(run.quick if args.quick else run.args)]
    say(f"{stack}: {' '.join(argv[2:])}")
    started = time.monotonic()
    done = subprocess.run(argv, env=environment(stack, args), capture_output=True, text=True)
    entry = {"bench": run.name, "args": argv[3:], "stack": stack, "wall_s": round(time.monotonic() - started, 1)}
    lines = done.stdout.strip().splitlines()
    try:
        if done.returncode != 0 or not lines:
            raise ValueError(f"exit code {done.returncode}")
        entry["result"] = json.loads(lines[-1])
    except ValueError as exc:
        entry["error"] = f"{exc}: {done.stderr.strip().splitlines()[-1:] or lines[-1:]}"
    return entry


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def run(args) -> None:
    stacks = [stack for stack in args.stacks.split(",") if stack in STACKS]
    chosen = [r for r in PLAN if not args.only or r.name in args.only]
    result = {"machine": machine(), "quick": args.quick, "runs": []}
    for stack in stacks:  # one stack after the other: the second never shares the machine with the first
        for planned in chosen:
            if stack in planned.stacks:
                result["runs"].append(run_one(planned, stack, args))
    result["failed"] = sum("error" in entry for entry in result["runs"])
    emit(result)
    if result["failed"]:
        sys.exit(1)
