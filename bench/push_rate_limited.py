"""push_rate_limited: N finished time entries pushed through the outbox to a
fake that enforces R requests per second (429 beyond it).

The client is built the way every provider's is (app.services.connections):
with the project's limiter set to the provider's limit, which the benchmark
declares as exactly the fake's limit (a LocalLimiter, or a RedisLimiter
when REDIS_URL is set). The achieved rate is
entries over the whole push, the first window's burst included.
"""
from __future__ import annotations

import argparse
import time
from datetime import timedelta

from bench.harness import bench_app, emit, make_paged_integration, register_paged_fake, say

WINDOW_SECONDS = 1.0  # the limit is per second, like connector_for's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=1_000, help="finished time entries to push (default 1000)")
    parser.add_argument("--limit", type=int, default=50, help="requests per second the fake allows (default 50)")


def _queue_entries(count: int) -> None:
    """Finished entries, each with its outbox row written in the same transaction."""
    from app.extensions import db
    from app.models import TimeEntry
    from app.models.base import utcnow
    from app.services.sync_service import record_change
    from app.services.user_service import create_user

    user = create_user(email="bench@example.com", password="push run passphrase 123")
    end = utcnow()
    for number in range(count):
        started = end - timedelta(minutes=30 * (number + 1))
        entry = TimeEntry(user_id=user.id, description=f"Bench entry {number}", started_at=started,
                          ended_at=started + timedelta(minutes=25))
        db.session.add(entry)
        db.session.flush()
        record_change(db.session, "time_entry", entry, "upsert")
        db.session.commit()


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import OutboxItem
    from app.services.sync_service import push_pending
    from tests.fakes.paged_provider import PagedProvider

    with bench_app(), PagedProvider(records=0, rate_limit=(args.limit, WINDOW_SECONDS)) as fake:
        register_paged_fake(fake.url, requests_per_second=args.limit)
        integration = make_paged_integration()
        _queue_entries(args.entries)
        queued = db.session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending"))
        say(f"{queued} outbox rows queued; pushing at most {args.limit} requests/s "
            f"(about {args.entries / args.limit:.0f} s)")
        started = time.perf_counter()
        pushed = push_pending(integration.id)
        seconds = time.perf_counter() - started
        remote = len(fake.created)
        if pushed != args.entries or remote != args.entries:
            raise SystemExit(f"sync push_rate_limited: {pushed} pushed, {remote} at the provider, "
                             f"of {args.entries} entries")
        say(f"pushed {pushed} entries in {seconds:.2f} s; the fake saw {fake.stats.requests} requests, "
            f"{fake.stats.rate_limited} refused with 429; after the first window's burst of {args.limit}: "
            f"about {max(pushed - args.limit, 0) / seconds:.1f}/s")
        emit({
            "entries": pushed,
            "limit_per_s": args.limit,
            "achieved_per_s": round(pushed / seconds, 1),
            "responses_429": fake.stats.rate_limited,
        })
