"""calendar_page: /calendar's week view rendered for a user with N time entries and N
calendar events (suggestions) in the database, spread over a year; p50 and p95 of the
server-side time of a request (test client: no network, a real session and database)."""
from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import datetime, timedelta

from bench.harness import bench_app, emit, say


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=10_000, help="entries and events each (default 10000)")
    parser.add_argument("--requests", type=int, default=200, help="week views rendered (default 200)")
    parser.add_argument("--users", type=int, default=1,
                        help="people the entries and events are shared out among (default 1: all are the "
                             "viewer's, about 190 entries and 190 events a week)")


def run(args: argparse.Namespace) -> None:
    from app.extensions import db
    from app.models import CalendarEvent, CalendarEventPerson, TimeEntry
    from app.services.user_service import create_user

    with bench_app() as bench:
        user = create_user(email="page@example.com", password="bench-password-1", name="Page",
                           timezone="Europe/Paris")
        owners = [user.id] + [create_user(email=f"other{n}@example.com", password="bench-password-1").id
                              for n in range(1, args.users)]
        start = datetime(2026, 1, 1, 7, 0)
        step = timedelta(days=365) / args.records
        db.session.bulk_save_objects([TimeEntry(user_id=owners[n % len(owners)], started_at=start + step * n,
                                                ended_at=start + step * n + timedelta(minutes=40),
                                                description=f"Entry {n}") for n in range(args.records)])
        events = [CalendarEvent(title=f"Event {n}", starts_at=start + step * n + timedelta(minutes=50),
                                ends_at=start + step * n + timedelta(minutes=80)) for n in range(args.records)]
        db.session.add_all(events)
        db.session.flush()
        db.session.bulk_save_objects([CalendarEventPerson(event_id=e.id, user_id=owners[n % len(owners)])
                                     for n, e in enumerate(events)])
        db.session.commit()
        client = bench.app.test_client()
        login = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)
        client.post("/login", data={"email": "page@example.com", "password": "bench-password-1", "csrf_token": token})
        weeks = [(start + timedelta(days=7 * n)).date().isoformat() for n in range(52)]
        assert client.get(f"/calendar?week={weeks[10]}").status_code == 200
        say(f"{args.records} entries and {args.records} events; rendering {args.requests} week views")
        times = []
        for n in range(args.requests):
            began = time.perf_counter()
            response = client.get(f"/calendar?week={weeks[n % len(weeks)]}")
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
        times.sort()
        emit({"records": args.records, "users": args.users, "requests": args.requests,
              "p50_ms": round(statistics.median(times), 1),
              "p95_ms": round(times[int(len(times) * 0.95) - 1], 1)})
