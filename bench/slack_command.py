"""slack_command: how long /timehub takes to answer (Slack gives up after 3 s), and how long
the deferred work takes to reach the fake's response_url.

N Slack users, each a TimeHub user by e-mail, send `/timehub status` (signed as Slack signs it)
through the app's WSGI stack (Flask's test client: no network between Slack and TimeHub, the
Slack Web API is the loopback fake). First as new senders (the answer is "working on it"; the
job asks users.info and posts to response_url), then again as known senders (answered in the
request). Then `/timehub today` for a user with E entries today (always deferred).
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from bench.harness import bench_app, emit, say

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
SLACK_LIMIT_MS = 3000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--senders", type=int, default=50, help="Slack users sending commands (default 50)")
    parser.add_argument("--entries", type=int, default=500, help="entries today for /timehub today (default 500)")


def _connect(fake):
    from app.extensions import db
    from app.integrations.oauth import TokenSet
    from app.models import Integration, ProviderApp
    from app.services import token_service

    provider_app = ProviderApp(provider="slack", client_id="bench-client")
    provider_app.payload = {"client_secret": "bench-secret", "signing_secret": SECRET}
    integration = Integration(provider="slack", is_global=True, status="active", settings={})
    token_service.store_tokens(integration, TokenSet(access_token=TOKEN))
    db.session.add_all([provider_app, integration])
    db.session.commit()
    return integration


def _run_jobs(huey) -> tuple[int, float]:
    """Execute every queued answer_command job here, as a worker would: (how many, seconds)."""
    ran, started = 0, time.perf_counter()
    while (task := huey.dequeue()) is not None:
        if task.name == "answer_command":
            huey.execute(task)
            ran += 1
    return ran, time.perf_counter() - started


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def run(args: argparse.Namespace) -> None:
    import os

    from app.extensions import db
    from app.models.base import utcnow
    from app.services import time_service
    from app.services.user_service import create_user
    from tests.fakes.slack import FakeSlack, signed_command

    with FakeSlack(rate_limits=False) as fake, bench_app() as bench:
        os.environ["SLACK_API_BASE"] = fake.api_base
        fake.tokens[TOKEN] = {"chat:write", "commands", "users:read", "users:read.email"}
        integration = _connect(fake)
        address = f"/commands/slack/{integration.webhook_token}"
        users = []
        for number in range(args.senders):
            user = create_user(email=f"person{number}@example.com", password="bench password 1", name=f"P{number}")
            fake.add_user(f"U{number:08d}", user.email, user.name)
            users.append(user)
        first_user_id = users[0].id
        db.session.close()  # the requests and jobs use sessions of their own; hold no lock here
        client, huey = bench.app.test_client(), bench.app.extensions["timehub.jobs"]

        def send(text: str, user_id: str) -> tuple[float, str]:
            headers, body = signed_command(SECRET, text=text, user_id=user_id, response_url=fake.response_url())
            started = time.perf_counter()
            answer = client.post(address, data=body, headers=headers)
            elapsed = time.perf_counter() - started
            # The test client's request shares this app context, and so its session: end it, as
            # the end of a real request's own app context would.
            db.session.remove()
            return elapsed, answer.get_json()["text"]

        say(f"{args.senders} new senders: /timehub status")
        new = [send("status", f"U{n:08d}") for n in range(args.senders)]
        deferred_jobs, deferred_seconds = _run_jobs(huey)
        say(f"{deferred_jobs} deferred answers posted in {deferred_seconds:.2f} s")
        known = [send("status", f"U{n:08d}") for n in range(args.senders)]
        known_inline = sum(not text.startswith("Working on it") for _, text in known)

        from app.models import User
        person = db.session.get(User, first_user_id)
        start = utcnow().replace(hour=0, minute=5, second=0, microsecond=0)
        for number in range(args.entries):
            begin = start + timedelta(minutes=(2 * number) % (18 * 60), seconds=number % 60)
            time_service.create_entry(person, time_service.EntryFields(started_at=begin,
                                                                       ended_at=begin + timedelta(minutes=1)))
        db.session.commit()
        db.session.close()
        today_request, _ = send("today", "U00000000")
        today_jobs, today_seconds = _run_jobs(huey)
        latencies = [seconds for seconds, _ in new + known] + [today_request]
        emit({
            "senders": args.senders, "entries_today": args.entries,
            "new_sender_p50_ms": _ms([s for s, _ in new], 0.5), "new_sender_p99_ms": _ms([s for s, _ in new], 0.99),
            "known_sender_p50_ms": _ms([s for s, _ in known], 0.5),
            "known_sender_p99_ms": _ms([s for s, _ in known], 0.99),
            "known_answered_in_request": known_inline,
            "deferred_answer_mean_ms": round(deferred_seconds / max(deferred_jobs, 1) * 1000, 1),
            "today_request_ms": round(today_request * 1000, 1),
            "today_job_ms": round(today_seconds / max(today_jobs, 1) * 1000, 1),
            "max_request_ms": round(max(latencies) * 1000, 1),
            "over_3s": sum(seconds * 1000 > SLACK_LIMIT_MS for seconds in latencies),
            "replies": len(fake.replies), "users_info_calls": len(fake.calls("users.info")),
            "mean_ms": round(statistics.mean(latencies) * 1000, 1),
        })
