"""Linking one's own Jira identity from the account page, in a real browser (issue 16): after
the admin connected Jira for the team, a user presses "Log my Jira time as me", consents at the
fake Atlassian as themselves, and the worklog of the entry they then log is authored by them.
On Jira Data Center connected with a personal access token, the user pastes their own token."""
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


# -- Jira Data Center connected with a personal access token: each person pastes their own ----------

from tests.e2e.tracker_steps import admin_chooses, integration_id, synced_task_keys  # noqa: E402
from tests.fakes.jira_datacenter import FakeJiraDataCenter  # noqa: E402


@pytest.fixture
def jira_datacenter(live_server, monkeypatch):
    with FakeJiraDataCenter(redirect_uris=(f"{live_server.url}/integrations/jira_datacenter/callback",)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        fake.add_user("ulla", "Ulla at DC", USER_EMAIL)
        fake.add_project("ACME", "Acme Corp")
        fake.add_issue("ACME", "Fix the boiler")
        yield fake


@pytest.mark.e2e
def test_on_a_token_team_a_user_links_their_own_token_and_authors_their_worklogs(live_server, page: Page,
                                                                                jira_datacenter, worker):
    fake = jira_datacenter
    live_server.create_user(email="ada@example.com", password="correct horse battery", admin=True, name="Ada Admin")
    live_server.create_user(email=USER_EMAIL, password=USER_PASSWORD, name="Ulla User")
    sign_in(page, live_server.url, "ada@example.com", "correct horse battery")
    page.goto(live_server.url + "/admin/integrations/jira_datacenter")
    page.fill('input[name="base_url"]', "https://jira.example.com")
    page.get_by_role("button", name="Save", exact=True).click()
    page.fill('input[name="token"]', fake.personal_token(fake.me["key"]))
    page.get_by_role("button", name="Connect with the token").click()
    expect(page.locator(".flash").first).to_contain_text("Jira Data Center is connected")
    page.goto(f"{live_server.url}/integrations/{integration_id(live_server, 'jira_datacenter')}/settings")
    admin_chooses(page, "Acme Corp")

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    page.goto(live_server.url + "/account")
    own = page.locator('[data-own-account="jira_datacenter"]')
    expect(own).to_contain_text("logged through the team connection, for you")
    own.get_by_label("Your personal access token").fill("not-a-token")
    own.get_by_role("button", name="Log my Jira time as me").click()
    expect(own.locator(".error")).to_contain_text("refused your account")
    expect(own.get_by_label("Your personal access token")).to_have_value("")  # never written back
    token = fake.personal_token("ulla")
    own.get_by_label("Your personal access token").fill(token)
    own.get_by_role("button", name="Log my Jira time as me").click()
    expect(page.locator(".flash").first).to_contain_text("Your Jira Data Center time is now logged as Ulla at DC")
    assert token not in page.content()

    eventually(lambda: synced_task_keys(live_server) == ["ACME-1"], "ACME's issue to be imported")
    add_entry(page, live_server.url, start="09:00", end="10:00", project="Acme Corp",
              task="Acme Corp › ACME-1 Fix the boiler", description="Replaced the valve")
    expect(page.locator(".flash").first).to_contain_text("Entry added")
    [worklog] = eventually(lambda: fake.worklogs_of("ACME-1"), "the worklog at Jira Data Center")
    assert worklog["author"]["key"] == "ulla"
    assert worklog["comment"].startswith("Logged in TimeHub: Replaced the valve [TimeHub entry ")

    page.set_viewport_size({"width": 390, "height": 800})  # the account page on a phone
    page.goto(live_server.url + "/account")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
