"""pages: the pages people open most, with a team's worth of data stored: N users sharing
M time entries over a year (default 1,000 and 100,000), 20 clients and 200 projects.
p50 and p95 of the server-side time of a request (test client: no network, a real
session and database) for the time page, a month report (the viewer's own, and an
admin's of everyone), /integrations, the calendar's week view and the weekly timesheet."""
from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from datetime import datetime, timedelta

from bench.harness import bench_app, emit, say

PASSWORD = "bench-password-1"
YEAR_START = datetime(2026, 1, 1, 7, 0)
CLIENTS, PROJECTS = 20, 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=1_000, help="accounts (default 1000)")
    parser.add_argument("--entries", type=int, default=100_000, help="time entries over the year (default 100000)")
    parser.add_argument("--requests", type=int, default=100, help="requests per page (default 100)")


def _seed(users: int, entries: int) -> tuple[str, str]:
    """Bulk rows (one password hash for all), the viewer's and the admin's e-mail."""
    from sqlalchemy import insert
    from werkzeug.security import generate_password_hash

    from app.extensions import db
    from app.models import Client, Project, TimeEntry, User

    hashed = generate_password_hash(PASSWORD)
    db.session.execute(insert(User), [
        {"email": f"person{n}@example.com", "name": f"Person {n}", "password_hash": hashed,
         "role": "admin" if n == 0 else "user", "timezone": "Europe/Paris"} for n in range(users)])
    db.session.execute(insert(Client), [{"name": f"Client {n}", "currency": "EUR"} for n in range(CLIENTS)])
    db.session.execute(insert(Project), [{"name": f"Project {n}", "client_id": n % CLIENTS + 1,
                                          "hourly_rate": 80} for n in range(PROJECTS)])
    step = timedelta(days=365) / entries
    for first in range(0, entries, 10_000):
        db.session.execute(insert(TimeEntry), [
            {"user_id": n % users + 1, "project_id": n % PROJECTS + 1, "started_at": YEAR_START + step * n,
             "ended_at": YEAR_START + step * n + timedelta(minutes=45), "description": f"Entry {n}",
             "billable": n % 3 != 0} for n in range(first, min(first + 10_000, entries))])
    db.session.commit()
    return "person1@example.com", "person0@example.com"


class _IsolatedClient:
    """Each request in a fresh app context, as in production: its own `g` (the CSRF
    token, the signed-in user) and its own database session (no identity map carried over)."""

    def __init__(self, app):
        self.app, self.client = app, app.test_client()

    def get(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.post(*args, **kwargs)


def _signed_in(app, email: str):
    client = _IsolatedClient(app)
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.status_code
    return client


def _measure(client, url: str, requests: int, queries: list[int]) -> dict:
    """Wall-clock p50/p95, and what a busy machine does not inflate: the process's CPU time
    per request (p50) and the SQL statements one request sends."""
    assert client.get(url).status_code == 200, url  # warm: templates compiled, caches filled
    times, cpu = [], []
    for _ in range(requests):
        queries[0] = 0
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200, url
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
            "cpu_p50_ms": round(statistics.median(cpu), 1), "queries": queries[0]}


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import event

    from app.extensions import db

    with bench_app() as bench:
        began = time.perf_counter()
        viewer, admin = _seed(args.users, args.entries)
        say(f"{args.users} users, {args.entries} entries stored in {time.perf_counter() - began:.1f} s")
        # The time page lists the last two weeks, so the viewer's "today" is inside the stored year.
        month = "2026-06-15"
        pages = {
            "time_page": (viewer, "/?until=2026-06-30"),
            "month_report": (viewer, f"/reports?period=month&date={month}"),
            "month_report_everyone": (admin, f"/reports?period=month&date={month}&user=all"),
            "integrations": (viewer, "/integrations"),
            "calendar_week": (viewer, "/calendar?week=2026-06-15"),
            "timesheet_week": (viewer, "/timesheet?week=2026-06-15"),
        }
        clients = {email: _signed_in(bench.app, email) for email in {viewer, admin}}
        queries = [0]
        event.listen(db.engine, "before_cursor_execute", lambda *_args: queries.__setitem__(0, queries[0] + 1))
        results = {}
        for name, (email, url) in pages.items():
            results[name] = _measure(clients[email], url, args.requests, queries)
            say(f"{name}: {url} " + ", ".join(f"{key} {value}" for key, value in results[name].items()))
        emit({"users": args.users, "entries": args.entries, "requests": args.requests,
              "load_average": round(os.getloadavg()[0], 2), **results})
