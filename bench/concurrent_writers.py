"""concurrent_writers: N signed-in clients start and stop their timers as fast as they
can, over real HTTP, against TimeHub served threaded by werkzeug (as `timehub serve`
does) on the benchmark's database (SQLite, or PostgreSQL with DATABASE_URL).

Goal: no 5xx at all (SQLite writers wait their turn: app/sqlite_writes.py), and the
data consistent afterwards: every user has at most one running timer, and as many
entries as timer starts were answered with a redirect. The load comes from another
process (bench/writer_load.py), so clients do not compete with the server's GIL.
"""
from __future__ import annotations

import argparse
import multiprocessing
from collections import Counter

from bench.harness import bench_app, emit, say
from bench.webhook_ingest import _percentile, _serve
from bench.writer_load import generate_load

PASSWORD = "bench writer password"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=50, help="concurrent signed-in clients (default 50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send (default 30)")


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import TimeEntry, User
    from app.services.user_service import create_user

    from app.services import time_service

    # The clients start and stop timers milliseconds apart; TimeHub discards a timer stopped
    # within a minute, so keep every one here, to count them.
    time_service.MIN_TIMER_SECONDS = 0
    with bench_app() as bench:
        emails = [f"writer{number}@bench.example" for number in range(args.clients)]
        create_user(email="admin@bench.example", password=PASSWORD, admin=True)
        for email in emails:
            create_user(email=email, password=PASSWORD)
        db.session.remove()
        server = _serve(bench.app)
        try:
            say(f"{args.clients} clients starting and stopping timers for {args.seconds:g} s "
                f"on 127.0.0.1:{server.server_port}")
            context = multiprocessing.get_context("spawn")
            results = context.Queue()
            loader = context.Process(target=generate_load, args=("127.0.0.1", server.server_port,
                                                                  [(email, PASSWORD) for email in emails],
                                                                  args.seconds, results))
            loader.start()
            report = results.get(timeout=args.seconds + 300)
            loader.join()
        finally:
            server.shutdown()

        outcomes = report["outcomes"]
        statuses = Counter(str(status) for _, _, status, _ in outcomes)
        server_errors = sum(count for status, count in statuses.items() if not status.isdigit() or int(status) >= 500)
        latencies = sorted(ms for _, action, status, ms in outcomes if action in ("start", "stop"))
        starts = Counter(client for client, action, status, _ in outcomes if action == "start" and status == 302)
        users = {user.email: user.id for user in db.session.scalars(select(User))}
        entries = dict(db.session.execute(select(TimeEntry.user_id, func.count()).group_by(TimeEntry.user_id)).all())
        running = dict(db.session.execute(select(TimeEntry.user_id, func.count())
                                          .where(TimeEntry.ended_at.is_(None)).group_by(TimeEntry.user_id)).all())
        consistent = all(entries.get(users[email], 0) == starts[number] and running.get(users[email], 0) <= 1
                         for number, email in enumerate(emails))
        say(f"{len(outcomes)} requests in {report['elapsed']:.1f} s; answers {dict(statuses)}; consistent: {consistent}")
        emit({
            "backend": db.engine.dialect.name,
            "clients": args.clients,
            "requests": len(outcomes),
            "requests_per_s": round(len(outcomes) / report["elapsed"], 1),
            "server_errors": server_errors,
            "p50_ms": round(_percentile(latencies, 0.50), 1),
            "p95_ms": round(_percentile(latencies, 0.95), 1),
            "consistent": consistent,
        })
        if server_errors or not consistent:
            raise SystemExit("server errors or inconsistent data: see the JSON line")
