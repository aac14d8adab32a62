"""sync_noop: a re-sync when nothing changed at the provider.

Imports the fake's records once, then syncs again and counts the requests
the second run makes and the rows it writes. The run's own bookkeeping
(its sync_runs row, the integration's last-sync fields) is not counted:
every run writes those by design.
"""
from __future__ import annotations

import argparse
from collections import Counter

from sqlalchemy import event

from bench.harness import (
    bench_app,
    emit,
    jira_fake,
    jira_rest_requests,
    make_jira_integration,
    make_paged_integration,
    register_paged_fake,
    say,
    make_tracker_integration,
    tracker_fake,
    tracker_requests,
)

BOOKKEEPING_TABLES = frozenset({"sync_runs", "integrations"})
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements per table, bookkeeping tables aside."""

    def __init__(self, engine):
        self.by_table: Counter[str] = Counter()
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        words = statement.split(None, 3)
        verb = words[0].upper() if words else ""
        if verb not in WRITE_VERBS or len(words) < 2:
            return
        table = (words[1] if verb == "UPDATE" else words[2]).strip('"').lower()
        if table not in BOOKKEEPING_TABLES:
            self.by_table[table] += 1

    @property
    def total(self) -> int:
        return sum(self.by_table.values())

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=1_000, help="records imported first (default 1000)")
    parser.add_argument("--provider", default=None, choices=("paged", "jira", "jira_datacenter", "asana", "trello", "github", "gitlab"),
                        help="a provider's fake through the real connector; default: the generic paged fake")


def run(args: argparse.Namespace) -> None:
    from bench import jira_datacenter, task_trackers
    if args.provider in task_trackers.PROVIDERS:
        task_trackers.run_noop(args)
        return
    if args.provider == jira_datacenter.SLUG:
        jira_datacenter.run_noop(args)
        return
    if args.provider == "jira":
        run_jira(args)
        return
    if args.provider in ("github", "gitlab"):
        with bench_app(), tracker_fake(args.provider, args.records, unlimited=True) as fake:
            # GitHub: the run after the whole listing stores each repository's ETag for the
            # `since` it will ask again; the measured run is answered 304 throughout.
            measure_resync(make_tracker_integration(args.provider, fake).id, lambda: tracker_requests(fake),
                           warm_up=args.provider == "github")
        return
    from tests.fakes.paged_provider import PagedProvider

    with bench_app(), PagedProvider(records=args.records, max_page_size=100) as fake:
        register_paged_fake(fake.url)
        measure_resync(make_paged_integration().id, lambda: fake.stats.requests)


def run_jira(args: argparse.Namespace) -> None:
    """Import N Jira issues, then sync again with nothing changed at Jira: the re-sync lists
    the projects (renames and removals show up there) and asks JQL for what changed since."""
    with bench_app(), jira_fake(args.records, unlimited=True) as fake:
        measure_resync(make_jira_integration(fake).id, lambda: jira_rest_requests(fake))


def measure_resync(integration_id: int, requests_so_far, warm_up: bool = False,
                   min_requests: int | None = None) -> None:
    """Import everything, then sync again and emit the second run's requests and writes
    (and `min_requests`, the fewest a re-sync can make, when the caller knows it)."""
    from app.extensions import db
    from app.services.sync_service import run_sync

    first = run_sync(integration_id)
    if first.status != "succeeded":
        raise SystemExit(f"sync_noop: the first import failed: {first.error}")
    say(f"first import: {first.created} records in {requests_so_far()} requests")
    if warm_up:
        before = requests_so_far()
        if run_sync(integration_id).status != "succeeded":
            raise SystemExit("sync_noop: the warm-up re-sync failed")
        say(f"warm-up re-sync: {requests_so_far() - before} requests")
    requests_before = requests_so_far()
    writes = WriteCounter(db.engine)
    try:
        second = run_sync(integration_id)
    finally:
        writes.close()
    if second.status != "succeeded":
        raise SystemExit(f"sync_noop: the re-sync failed: {second.error}")
    say(f"re-sync: pulled {second.pulled}, created {second.created}, updated {second.updated}, archived "
        f"{second.archived}; writes by table: {dict(writes.by_table) or 'none'}")
    result = {"requests": requests_so_far() - requests_before, "writes": writes.total}
    emit(result if min_requests is None else {**result, "min_requests": min_requests})
