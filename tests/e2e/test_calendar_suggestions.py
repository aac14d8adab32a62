"""A user connects Google Calendar through the fake, sees an event of theirs on /calendar as a
suggestion, turns it into time with the keyboard, and finds the entry pushed back as an event."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.integrations.google_calendar import ENTRY_PROPERTY
from app.models import Integration, Project, TimeEntry
from app.services.sync_service import push_pending, run_sync
from tests.e2e.conftest import sign_in
from tests.fakes.google_calendar import FakeGoogleCalendar, at

SLUG = "google_calendar"
EMAIL, PASSWORD = "gina@example.com", "correct horse battery"
GOOGLE_ACCOUNT = "gina@gmail.example"


@pytest.fixture
def google(live_server, monkeypatch):
    callback = f"{live_server.url}/integrations/{SLUG}/callback"
    with FakeGoogleCalendar(redirect_uris=(callback,)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("GOOGLE_CALENDAR_CLIENT_ID", fake.oauth.client_id)
        monkeypatch.setenv("GOOGLE_CALENDAR_CLIENT_SECRET", fake.oauth.client_secret)
        fake.oauth.account = {**fake.oauth.account, "email": GOOGLE_ACCOUNT}
        yield fake


def connected_with_an_event(live_server, page: Page, google, title: str, hour: int, minutes: int) -> datetime:
    """Gina (with a project Acme) has `title` in her Google calendar tomorrow at `hour` UTC,
    connects Google in the browser and her calendar is read; returns the event's start."""
    live_server.create_user(email=EMAIL, password=PASSWORD, name="Gina")
    live_server.query(lambda: (db.session.add(Project(name="Acme")), db.session.commit()))
    start = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    google.add_event(GOOGLE_ACCOUNT, title, at(start.isoformat()), at((start + timedelta(minutes=minutes)).isoformat()))

    sign_in(page, live_server.url, EMAIL, PASSWORD)
    page.goto(live_server.url + "/integrations")
    page.locator(f'article.card.integration[data-provider="{SLUG}"]').get_by_role(
        "button", name="Connect my account").click()
    page.wait_for_url(live_server.url + "/integrations")
    expect(page.locator(".flash")).to_contain_text("Google Calendar is connected")

    def sync():
        integration = db.session.scalars(select(Integration).where(Integration.provider == SLUG)).one()
        return run_sync(integration.id).status
    assert live_server.query(sync) == "succeeded"
    return start


@pytest.mark.e2e
def test_a_calendar_event_becomes_time_and_goes_back_to_google(live_server, page: Page, google):
    start = connected_with_an_event(live_server, page, google, "Design review", 10, 60)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/calendar?week={start.date().isoformat()}")
    suggestion = page.locator("form.suggestion", has_text="Design review")
    expect(suggestion).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out on a phone

    suggestion.get_by_role("combobox").select_option(label="Acme (no task)")
    button = suggestion.get_by_role("button", name="Add as time")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("Added 1:00")
    expect(page.locator("a.entry", has_text="Design review")).to_be_visible()
    expect(page.locator("form.suggestion", has_text="Design review")).to_have_count(0)

    def pushed():
        entry = db.session.scalars(select(TimeEntry)).one()
        integration = db.session.scalars(select(Integration).where(Integration.provider == SLUG)).one()
        push_pending(integration.id)
        return entry.id, entry.project.name
    entry_id, project = live_server.query(pushed)
    assert project == "Acme"
    mine = [e for e in google.events(GOOGLE_ACCOUNT)
            if (e.get("extendedProperties") or {}).get("private", {}).get(ENTRY_PROPERTY) == str(entry_id)]
    assert len(mine) == 1 and mine[0]["summary"] == "Acme"
