"""Linking one's own Jira identity from the account page, in a real browser (issue 16): after
the admin connected Jira for the team, a user presses "Log my Jira time as me", consents at the
fake Atlassian as themselves, and the worklog of the entry they then log is authored by them."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import add_entry, sign_in
from tests.e2e.test_jira_end_to_end import (  # noqa: F401 - fixtures
    USER_EMAIL,
    USER_PASSWORD,
    admin_sets_up_jira_with_acme,
    eventually,
    jira,
    worker,
)


@pytest.mark.e2e
def test_a_user_links_their_own_jira_account_and_authors_their_worklogs(live_server, page: Page, jira, worker):
    admin_sets_up_jira_with_acme(page, live_server, jira)

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    page.goto(live_server.url + "/account")
    own = page.locator('[data-own-account="jira"]')
    expect(own).to_contain_text("logged through the team connection, for you")
    jira.oauth.account = {"id": "acc-ulla", "name": "Ulla User", "email": USER_EMAIL}  # who signs in at Atlassian
    with page.expect_request(lambda r: r.url.startswith(jira.oauth.base_url + "/authorize")):
        own.get_by_role("button", name="Log my Jira time as me").click()
    page.wait_for_url(live_server.url + "/account")
    expect(page.locator(".flash").first).to_contain_text("Your Jira time is now logged as Ulla User")
    expect(own).to_contain_text("your time is logged as Ulla User")

    add_entry(page, live_server.url, start="09:00", end="10:00", project="Acme Corp",
              task="Acme Corp › ACME-1 Fix the boiler", description="Replaced the valve")
    expect(page.locator(".flash").first).to_contain_text("Entry added")

    [worklog] = eventually(lambda: jira.worklogs_of("ACME-1"), "the worklog at Jira")
    assert worklog["author"]["accountId"] == "acc-ulla"
    assert "for Ulla" not in str(worklog["comment"]) and "Replaced the valve" in str(worklog["comment"])

    page.set_viewport_size({"width": 390, "height": 800})  # the account page on a phone
    page.goto(live_server.url + "/account")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
