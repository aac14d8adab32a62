"""The daily job keeping idle OAuth connections alive (app.jobs.refresh_idle_tokens), run
as the consumer runs it, against the strict fake authorization server over
real HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sqlalchemy import select

from app import tuning
from app.integrations import oauth, registry
from app.jobs import huey, refresh_idle_tokens
from app.models import Integration, User
from app.services import token_service
from app.services.integration_service import IntegrationService
from tests.fakes.oauth_provider import FakeOAuthProvider

# Both rotate refresh tokens that lapse when idle: Xero after 60 days, QuickBooks after 100.
SLUGS = ("xero", "quickbooks")
DAY = 86400


def callback_url(slug: str) -> str:
    return f"http://localhost/integrations/{slug}/callback"


@pytest.fixture
def fake(app, monkeypatch):
    """One fake authorization server standing in for every slug in SLUGS."""
    with FakeOAuthProvider(redirect_uris=tuple(callback_url(s) for s in SLUGS)) as server:
        server.stand_in_for(monkeypatch, *SLUGS)
        monkeypatch.setattr(tuning, "RETRY_BACKOFF_SECONDS", 0.01)
        yield server


def connect_through(db, fake: FakeOAuthProvider, slug: str, owner: User, *, obtained_days_ago: float = 0) -> Integration:
    """Run the real authorization-code flow against the fake and store the tokens on
    `owner`'s integration for `slug`, as the callback does; then age the token."""
    spec = registry.get_spec(slug)
    provider = oauth.OAuthProvider.build(spec, fake.client_id, fake.client_secret)
    session: dict = {}
    url = oauth.start_authorization(provider, session, user_id=owner.id, redirect_uri=callback_url(slug))
    callback = httpx2.get(url, follow_redirects=False).headers["Location"]
    params = {k: v[-1] for k, v in parse_qs(urlsplit(callback).query).items()}
    pending = oauth.take_pending(session, slug=slug, user_id=owner.id, state=params["state"])
    token = oauth.exchange_code(provider, pending, params["code"])
    integration = IntegrationService()._get_or_create(owner, spec)
    token_service.store_tokens(integration, token)
    if obtained_days_ago:
        integration.credential.payload = {**token.payload(), "obtained_at": int(time.time() - obtained_days_ago * DAY)}
    integration.status = "active"
    integration.account_label = fake.account["email"]
    db.session.commit()
    return integration


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
