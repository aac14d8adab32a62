"""sync_import for the calendar providers: a first import of N events spread over the past
year from the fake Google Calendar (one user's primary calendar) or the fake Graph (the
team calendar), through the real connector and engine, then a re-read with nothing changed.

Reports requests against the fewest possible (one per largest page: Google 2,500 events,
Graph as many as `Prefer: odata.maxpagesize` is granted, 1,000 in the fake) and, for the
re-read, its requests (one per calendar) and database writes (none but the new cursor).
"""
from __future__ import annotations

import math
import os
import secrets
import time
from datetime import datetime, timedelta, timezone

from bench.harness import UNREACHED_REQUESTS_PER_SECOND, current_rss_mb, emit, peak_rss_mb, say

CALENDAR_PROVIDERS = ("google_calendar", "outlook_calendar")
SETUP_CALLS = 0  # neither lists calendars when the default one is read


def _token(oauth, scope: str, email: str) -> str:
    """A live access token of a fresh grant of the fake authorization server, as after connecting."""
    from tests.fakes.oauth_provider import _Grant

    with oauth._lock:
        grant = _Grant(id=len(oauth._grants) + 1, client_id=oauth.client_id, scope=scope,
                       refresh_token=secrets.token_urlsafe(32), account_email=email)
        oauth._grants[grant.id] = grant
        return oauth._issue(grant, include_refresh=True)["access_token"]


def _integration(slug: str, fake, token: str, user=None):
    import time as clock

    from app.extensions import db
    from app.integrations.oauth import TokenSet
    from app.models import Integration, ProviderApp
    from app.services import token_service

    provider_app = ProviderApp(provider=slug, client_id=fake.oauth.client_id)
    provider_app.payload = {"client_secret": fake.oauth.client_secret}
    db.session.add(provider_app)
    integration = Integration(provider=slug, is_global=user is None, user_id=user.id if user else None,
                              status="active", settings={})
    token_service.store_tokens(integration, TokenSet(access_token=token, expires_at=int(clock.time()) + 3600))
    db.session.add(integration)
    db.session.commit()
    return integration


def run(args, slug: str) -> None:
    from app.extensions import db
    from app.integrations import ratelimit
    from app.services.sync_service import run_sync
    from app.services.user_service import create_user
    from bench.harness import bench_app
    from bench.sync_noop import WriteCounter

    records = args.records
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    step = timedelta(days=360) / max(records, 1)
    with bench_app():
        if args.unlimited:
            ratelimit.overrides[slug] = ratelimit.RateLimit(UNREACHED_REQUESTS_PER_SECOND, 1.0)
        if slug == "google_calendar":
            from app.integrations.google_calendar import EVENT_PAGE_SIZE as largest
            from tests.fakes.google_calendar import FakeGoogleCalendar, at

            fake_cm = FakeGoogleCalendar(redirect_uris=("http://127.0.0.1/cb",))
        else:
            from app.integrations.outlook_calendar import DELTA_PAGE_SIZE as largest
            from tests.fakes.graph_calendar import FakeGraphCalendar

            fake_cm = FakeGraphCalendar(redirect_uris=("http://127.0.0.1/cb",))
        with fake_cm as fake:
            for name, value in fake.env().items():
                os.environ[name] = value
            if slug == "google_calendar":
                email = "bench@gmail.example"
                for n in range(records):
                    start = now - timedelta(days=360) + step * n
                    fake.add_event(email, f"Event {n}", at(start.isoformat()),
                                   at((start + timedelta(minutes=30)).isoformat()))
                user = create_user(email="bench@example.com", password="calendar-import-1", name="Bench")
                token = _token(fake.oauth, "openid email https://www.googleapis.com/auth/calendar.events", email)
                integration = _integration(slug, fake, token, user)
            else:
                for n in range(records):
                    fake.add_event(f"Event {n}", now - timedelta(days=360) + step * n, 30,
                                   attendees=("bench@example.com",))
                create_user(email="bench@example.com", password="calendar-import-1", name="Bench")
                token = _token(fake.oauth, "offline_access User.Read Calendars.ReadWrite", "team@contoso.example")
                integration = _integration(slug, fake, token)
            baseline = current_rss_mb()
            say(f"fake {slug} holds {records} events over a year; RSS {baseline} MB")
            fake.api.clear()
            started = time.perf_counter()
            first = run_sync(integration.id)
            seconds = time.perf_counter() - started
            if first.status != "succeeded" or first.created != records:
                raise SystemExit(f"sync_import: the run {first.status} with {first.created} of {records} "
                                 f"events created: {first.error}")
            requests = len(fake.api.requests)
            fake.api.clear()
            writes = WriteCounter(db.engine)
            again = run_sync(integration.id)
            writes.close()
            say(f"imported {records} events in {seconds:.2f} s with {requests} requests; the re-read made "
                f"{len(fake.api.requests)} request(s) and {writes.total} write(s)")
            emit({
                "provider": slug,
                "records": first.created,
                "requests": requests,
                "min_requests": max(1, math.ceil(records / largest)) + SETUP_CALLS,
                "seconds": round(seconds, 3),
                "records_per_s": round(first.created / seconds, 1),
                "reread_requests": len(fake.api.requests),
                # The provider hands out a new sync token or delta link each read: only the cursor changes.
                "reread_writes": writes.total - writes.by_table.get("sync_cursors", 0),
                "reread_cursor_writes": writes.by_table.get("sync_cursors", 0),
                "reread_status": again.status,
                "peak_rss_mb": peak_rss_mb(),
            })
