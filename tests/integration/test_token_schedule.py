"""The daily job keeping idle OAuth connections alive (app.jobs.refresh_idle_tokens), run
as the consumer runs it, against the strict fake authorization server over
real HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import tuning
from app.jobs import huey, refresh_idle_tokens
from app.models import Integration
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.oauth_steps import callback_url, connect_through

# Both rotate refresh tokens that lapse when idle: Xero after 60 days, QuickBooks after 100.
SLUGS = ("xero", "quickbooks")


@pytest.fixture
def fake(app, monkeypatch):
    """One fake authorization server standing in for every slug in SLUGS."""
    with FakeOAuthProvider(redirect_uris=tuple(callback_url(s) for s in SLUGS)) as server:
        server.stand_in_for(monkeypatch, *SLUGS)
        monkeypatch.setattr(tuning, "RETRY_BACKOFF_SECONDS", 0.01)
        yield server


def stored_refresh_token(db, integration_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Integration, integration_id).credential.payload["refresh_token"]


def test_a_worker_that_loads_the_jobs_module_knows_the_job():
    # A fresh interpreter: this test module's own import must not be what registers it.
    listing = subprocess.run(
        [sys.executable, "-c", "from app.jobs import huey; print(*huey._registry._registry, sep='\\n')"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert huey._registry.task_to_string(refresh_idle_tokens.task_class) in listing.stdout.split()


def test_the_scheduler_runs_the_job_once_a_day():
    start = datetime(2026, 3, 1)
    minutes = [start + timedelta(minutes=m) for m in range(2 * 24 * 60)]
    due = [moment for moment in minutes
           if any(task.name == refresh_idle_tokens.name for task in huey.read_periodic(moment))]
    assert len(due) == 2 and due[1] - due[0] == timedelta(days=1)


def test_an_idle_connection_is_refreshed_and_a_fresh_one_is_left_alone(db, fake, admin):
    idle = connect_through(db, fake, "xero", admin, obtained_days_ago=31)         # past half of Xero's 60 days
    fresh = connect_through(db, fake, "quickbooks", admin, obtained_days_ago=10)  # far from QuickBooks' 100
    idle_before, fresh_before = stored_refresh_token(db, idle.id), stored_refresh_token(db, fresh.id)

    outcomes = refresh_idle_tokens.call_local()  # the periodic task's body, as the consumer runs it

    assert outcomes == {idle.id: "refreshed"}
    assert fake.counts["refresh_token"] == 1
    idle_after = stored_refresh_token(db, idle.id)
    assert idle_after != idle_before and fake.grant_for(idle_after) is not None  # the rotated one is kept
    assert stored_refresh_token(db, fresh.id) == fresh_before
    # Refreshed now, so it is young again: the next day's run leaves it alone.
    assert refresh_idle_tokens.call_local() == {}
    assert fake.counts["refresh_token"] == 1


def test_a_dead_grant_is_marked_for_reconnect_without_stopping_the_others(db, fake, admin):
    dead = connect_through(db, fake, "xero", admin, obtained_days_ago=40)
    fake.revoke_all()
    alive = connect_through(db, fake, "quickbooks", admin, obtained_days_ago=60)

    outcomes = refresh_idle_tokens.call_local()

    assert outcomes[alive.id] == "refreshed"
    assert "invalid_grant" in outcomes[dead.id]
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Integration.id, Integration.status)).all())
    assert statuses == {dead.id: "needs_reconnect", alive.id: "active"}
    # Nobody keeps hammering a dead grant: it is skipped from now on.
    refresh_idle_tokens.call_local()
    assert fake.counts["refresh_token"] == 2
