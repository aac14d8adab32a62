"""GitLab end to end in a real browser: an admin sets GitLab up through the fake OAuth
flow, picks a project and syncs; a user logs time on one of its issues, and the timelog
appears at the fake GitLab on the day it was worked, then follows the entry's edit and
deletion. Everything runs over loopback, as in test_jira_end_to_end.py."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Integration
from tests.e2e.conftest import sign_in
from tests.e2e.test_jira_end_to_end import eventually, synced_task_keys, worker  # noqa: F401 (fixture)
from tests.fakes.gitlab import FakeGitLab

ADMIN_EMAIL, ADMIN_PASSWORD = "ada@example.com", "correct horse battery"
USER_EMAIL, USER_PASSWORD = "ulla@example.com", "staple battery horse"


@pytest.fixture
def gitlab(live_server, monkeypatch):
    callback = f"{live_server.url}/integrations/gitlab/callback"
    with FakeGitLab(redirect_uris=(callback,)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        fake.add_project("acme/web", labels=("workflow::doing",))
        fake.add_project("acme/ops")
        fake.add_issue("acme/web", "Fix the boiler", labels=("workflow::doing",))
        fake.add_issue("acme/web", "Paint the fence")
        fake.add_issue("acme/ops", "Rotate the keys")
        yield fake


def gitlab_integration_id(live_server) -> int:
    return live_server.query(lambda: db.session.scalars(
        select(Integration.id).where(Integration.provider == "gitlab")).one())


def admin_connects_gitlab(page: Page, live_server, gitlab: FakeGitLab) -> None:
    page.goto(live_server.url + "/admin/integrations/gitlab")
    page.fill('input[name="client_id"]', gitlab.oauth.client_id)
    page.fill('input[name="client_secret"]', gitlab.oauth.client_secret)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("saved")
    with page.expect_request(lambda r: r.url.startswith(gitlab.oauth.base_url + "/authorize")):
        page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_url(f"{live_server.url}/integrations/{gitlab_integration_id(live_server)}/settings")
    expect(page.locator(".flash").first).to_contain_text("GitLab is connected as")


@pytest.mark.e2e
def test_admin_sets_up_gitlab_and_a_users_time_becomes_a_dated_timelog(live_server, page, gitlab, worker):  # noqa: F811
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    live_server.create_user(email=USER_EMAIL, password=USER_PASSWORD, name="Ulla User")

    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_connects_gitlab(page, live_server, gitlab)
    expect(page.locator('[data-hint="nothing-chosen"]')).to_be_visible()
    page.get_by_label("acme/web").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash").first).to_contain_text("saved")

    eventually(lambda: synced_task_keys(live_server) == ["acme/web#1", "acme/web#2"], "acme/web's issues")
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="acme/web").click()
    expect(page.get_by_text("Fix the boiler")).to_be_visible()
    expect(page.get_by_text("Rotate the keys")).to_have_count(0)

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    page.goto(live_server.url + "/")
    page.locator("details", has=page.locator('input[name="entry-start"]')).locator("summary").click()
    page.fill('input[name="entry-start"]', "09:00")
    page.fill('input[name="entry-end"]', "10:30")
    page.select_option('select[name="entry-project"]', label="acme/web")
    page.select_option('select[name="entry-task"]', label="acme/web › acme/web#1 Fix the boiler")
    page.fill('input[name="entry-description"]', "Replaced the valve")
    page.get_by_role("button", name="Add entry").click()
    expect(page.locator(".flash").first).to_contain_text("Entry added")

    [timelog] = eventually(lambda: gitlab.timelogs_of("acme/web", 1), "the timelog at GitLab")
    assert timelog["timeSpent"] == 90 * 60 and timelog["summary"].startswith("Replaced the valve [TimeHub entry ")
    assert "T09:00:00" in timelog["spentAt"]

    page.get_by_role("link", name="Edit").first.click()
    started = page.input_value('input[name="started"]')
    page.fill('input[name="ended"]', started[:11] + "11:00")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("Entry saved")
    eventually(lambda: [t["timeSpent"] for t in gitlab.timelogs_of("acme/web", 1)] == [2 * 3600],
               "the timelog to follow the edit")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").first.click()
    expect(page.locator(".flash").first).to_contain_text("Entry deleted")
    eventually(lambda: gitlab.timelogs_of("acme/web", 1) == [], "the timelog to be deleted")
