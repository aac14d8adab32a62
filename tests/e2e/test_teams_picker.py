"""An admin connects Microsoft Teams in a phone-sized Chromium (390 px) through the fakes,
picks a team, then one of that team's channels, and sends a test message the Graph fake
receives; the two-step picker fits the screen."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.services.integration_service import IntegrationService
from tests.e2e.conftest import sign_in
from tests.fakes.graph_teams import FakeGraphTeams
from tests.fakes.oauth_provider import FakeOAuthProvider

ADMIN, PASSWORD = "ada@example.com", "correct horse battery"
SLUG = "microsoft_teams"


@pytest.mark.e2e
def test_an_admin_picks_a_team_then_its_channel_on_a_phone(live_server, browser, monkeypatch):
    callback = f"{live_server.url}/integrations/{SLUG}/callback"
    with FakeOAuthProvider(redirect_uris=(callback,)) as oauth, FakeGraphTeams(oauth=oauth) as graph:
        for name, value in oauth.env(SLUG).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MICROSOFT_TEAMS_API_BASE", graph.api_base)
        graph.add_team("Sales", ("General", "Wins"))
        design = graph.add_team("Design", ("General", "Reviews", "Assets"))
        reviews = next(cid for cid, name in design.channels.items() if name == "Reviews")
        live_server.create_user(email=ADMIN, password=PASSWORD, admin=True, name="Ada Admin")

        context = browser.new_context(viewport={"width": 390, "height": 844})
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            sign_in(page, live_server.url, ADMIN, PASSWORD)
            page.goto(live_server.url + f"/admin/integrations/{SLUG}")
            page.fill('input[name="client_id"]', oauth.client_id)
            page.fill('input[name="client_secret"]', oauth.client_secret)
            page.get_by_role("button", name="Save").click()
            page.get_by_role("button", name="Connect").click()
            page.wait_for_url(lambda url: url.startswith(live_server.url) and "callback" not in url)

            integration_id = live_server.query(lambda: IntegrationService().integration_for(None, SLUG).id)
            page.goto(f"{live_server.url}/integrations/{integration_id}/settings")
            expect(page.locator("[data-hint=choose-group]")).to_be_visible()
            page.select_option("#notify_group", design.id)  # app.js submits the team picker on change
            expect(page.locator("#notify_channel option", has_text="Reviews")).to_have_count(1)
            expect(page.locator("#notify_channel option", has_text="Wins")).to_have_count(0)
            assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")

            page.select_option("#notify_channel", f"{design.id}/{reviews}")
            page.get_by_role("button", name="Send a test message").click()
            expect(page.locator(".flash").first).to_contain_text("Test message posted")
            assert [(m.team_id, m.channel_id) for m in graph.messages] == [(design.id, reviews)]
        finally:
            context.close()
