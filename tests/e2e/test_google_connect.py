"""A user connects their own Google Calendar in a real browser, then disconnects it.

The browser really goes to the fake authorization server's /authorize over
loopback (standing in for accounts.google.com), which approves and sends it
back to TimeHub's callback; TimeHub then trades the code at the fake's /token.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Integration
from tests.e2e.conftest import sign_in
from tests.fakes.oauth_provider import FakeOAuthProvider

SLUG = "google_calendar"
USER_EMAIL = "ulla@example.com"
USER_PASSWORD = "correct horse battery"
ACTIVE_BADGE = re.compile(r"(^|\s)status-active(\s|$)")
INACTIVE_BADGE = re.compile(r"(^|\s)status-(?!active(\s|$))[a-z_]+(\s|$)")


@pytest.fixture
def google(live_server, monkeypatch):
    """The fake authorization server, knowing the live server's callback as Google
    would know the one the admin registered; the app finds it through the
    GOOGLE_CALENDAR_* endpoint and client overrides."""
    callback = f"{live_server.url}/integrations/{SLUG}/callback"
    with FakeOAuthProvider(redirect_uris=(callback,)) as fake:
        fake.stand_in_for(monkeypatch, SLUG)
        yield fake



def calendar_card(page: Page):
    return page.locator(f'article.card.integration[data-provider="{SLUG}"]')


def stored_calendar(live_server) -> tuple[str, bool] | None:
    """(status, has credentials) of the user's calendar integration, from the database."""
    def read():
        integration = db.session.scalars(select(Integration).where(Integration.provider == SLUG)).one_or_none()
        return None if integration is None else (integration.status, integration.credential is not None)
    return live_server.query(read)


@pytest.mark.e2e
def test_a_user_connects_and_disconnects_their_google_calendar(live_server, page, google):
    live_server.create_user(email=USER_EMAIL, password=USER_PASSWORD, name="Ulla User")
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    page.goto(live_server.url + "/integrations")
    card = calendar_card(page)
    expect(card.locator("span.badge")).to_have_class(INACTIVE_BADGE)

    # The browser leaves for the provider and comes back: watch it pass through /authorize.
    with page.expect_request(lambda r: r.url.startswith(google.base_url + "/authorize")) as went:
        card.get_by_role("button", name="Connect my account").click()
    page.wait_for_url(live_server.url + "/integrations")
    authorize = went.value.url
    assert f"client_id={google.client_id}" in authorize and "code_challenge=" in authorize
    assert google.counts["authorize"] == 1 and google.counts["authorization_code"] == 1

    expect(page.locator(".flash")).to_contain_text("Google Calendar is connected")
    expect(card.locator("span.badge")).to_have_class(ACTIVE_BADGE)
    expect(card.get_by_role("button", name="Disconnect")).to_be_visible()
    assert stored_calendar(live_server) == ("active", True)
    assert len(google.active_grants()) == 1

    page.once("dialog", lambda dialog: dialog.accept())  # "Disconnect your Google Calendar?"
    card.get_by_role("button", name="Disconnect").click()
    page.wait_for_url(live_server.url + "/integrations")

    expect(page.locator(".flash").first).to_contain_text("disconnected")
    expect(card.locator("span.badge")).to_have_class(INACTIVE_BADGE)
    expect(card.get_by_role("button", name="Connect my account")).to_be_visible()
    assert stored_calendar(live_server) == ("not_configured", False)
    assert google.counts["revoke"] == 1 and google.active_grants() == []  # revoked at the provider too
