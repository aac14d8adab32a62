"""The "needs reconnect" banner on every page (app/routes/banners.py, base.html),
shown to the people who can fix it, from one query per page; on SQLite and
PostgreSQL."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from app.models import Integration
from tests.conftest import login

TEAM_BANNER = re.compile(r'<div class="banner" role="alert" data-banner="team-reconnect">(.*?)</div>', re.DOTALL)
MY_BANNER = re.compile(r'<div class="banner" role="alert" data-banner="my-reconnect">(.*?)</div>', re.DOTALL)
LINK = re.compile(r'<a href="([^"]+)">([^<]+)</a>')


def add(db, provider: str, status: str, owner=None) -> Integration:
    integration = Integration(provider=provider, is_global=owner is None, user_id=owner.id if owner else None,
                              status=status)
    db.session.add(integration)
    db.session.commit()
    return integration


def banner_links(pattern: re.Pattern, html: str) -> list[tuple[str, str]] | None:
    """The (href, name) links of the banner, or None when the page has no such banner."""
    found = pattern.findall(html)
    assert len(found) <= 1
    return LINK.findall(found[0]) if found else None


def page(client, url: str = "/projects") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def other_user(make_user):
    return make_user("other@example.com", name="Otto Other")


@pytest.fixture
def broken(db, user, other_user):
    """Two global integrations and user's and other_user's calendars needing a reconnect,
    next to healthy ones that must not be mentioned."""
    return {
        "xero": add(db, "xero", "needs_reconnect"),
        "jira": add(db, "jira", "needs_reconnect"),
        "slack": add(db, "slack", "active"),
        "github": add(db, "github", "error"),
        "user_calendar": add(db, "google_calendar", "needs_reconnect", owner=user),
        "other_calendar": add(db, "google_calendar", "needs_reconnect", owner=other_user),
    }


@pytest.mark.parametrize("url", ["/", "/calendar", "/account"])
def test_an_admin_sees_the_team_integrations_to_reconnect_on_every_page(app, broken, admin_client, url):
    html = page(admin_client, url)
    assert banner_links(TEAM_BANNER, html) == [("/admin/integrations/jira", "Jira"),
                                               ("/admin/integrations/xero", "Xero")]
    assert "Their providers no longer accept" in html
    assert banner_links(MY_BANNER, html) is None  # the admin has no calendar of their own; others' are private


@pytest.mark.parametrize("url", ["/", "/calendar", "/account"])
def test_a_user_sees_only_their_own_connection_to_reconnect(app, broken, user_client, url):
    html = page(user_client, url)
    assert banner_links(MY_BANNER, html) == [("/integrations", "Google Calendar")]
    assert banner_links(TEAM_BANNER, html) is None  # team integrations are for admins to fix
    assert "Xero" not in html and "Jira" not in html


def test_a_user_whose_connections_are_healthy_sees_no_banner(app, db, broken, other_user):
    add(db, "outlook_calendar", "needs_reconnect")  # global: not theirs to fix
    client = login(app.test_client(), other_user)
    broken["other_calendar"].status = "active"  # reconnected
    db.session.commit()
    html = page(client)
    assert banner_links(MY_BANNER, html) is None and banner_links(TEAM_BANNER, html) is None


def test_an_admin_with_a_broken_calendar_of_their_own_sees_both_banners(app, db, admin, admin_client):
    add(db, "quickbooks", "needs_reconnect")
    add(db, "google_calendar", "needs_reconnect", owner=admin)
    html = page(admin_client)
    assert banner_links(TEAM_BANNER, html) == [("/admin/integrations/quickbooks", "QuickBooks Online")]
    assert "Its provider no longer accepts" in html
    assert banner_links(MY_BANNER, html) == [("/integrations", "Google Calendar")]


def test_the_integrations_page_explains_it_itself_without_the_banner(app, broken, user_client):
    html = page(user_client, "/integrations")
    assert banner_links(MY_BANNER, html) is None
    assert "needs to be reconnected" in html  # the page's own, fuller notice


def test_nobody_signed_in_sees_no_banner(app, broken, client):
    html = page(client, "/login")
    assert "data-banner" not in html


def test_one_query_per_page_whatever_the_number_of_providers(app, db, broken, admin, admin_client):
    add(db, "google_calendar", "needs_reconnect", owner=admin)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        html = page(admin_client, "/projects")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(banner_links(TEAM_BANNER, html)) == 2 and len(banner_links(MY_BANNER, html)) == 1
    about_integrations = [s for s in statements if re.search(r"\bFROM integrations\b", s)]
    assert len(about_integrations) == 1, about_integrations


def test_the_name_in_the_top_bar_leads_to_the_account_page(app, user_client):
    html = page(user_client)
    assert re.search(r'<a class="me-name"[^>]* href="/account"[^>]*>Ulla User</a>', html)
