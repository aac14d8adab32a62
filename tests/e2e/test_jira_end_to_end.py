"""Jira end to end in a real browser: an admin sets Jira up through the fake
Atlassian OAuth flow, picks a project and syncs; a user logs time on one of
its issues, and the worklog appears at the fake Jira, then follows the
entry's edit and deletion.

Everything runs for real over loopback: the browser goes to the fake's
/authorize, the app talks to the fake Jira REST API through the endpoint
overrides an admin of a self-hosted proxy would set (JIRA_*_URL /
JIRA_API_BASE), and an in-process Huey consumer runs the sync and push jobs.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in
from tests.e2e.tracker_steps import (  # noqa: F401 (worker is a fixture)
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_EMAIL,
    USER_PASSWORD,
    admin_chooses,
    admin_connects,
    eventually,
    synced_task_keys,
    user_deletes_the_entry,
    user_ends_the_entry_at_eleven,
    user_logs_time,
    worker,
)
from tests.fakes.jira import FakeJira


@pytest.fixture
def jira(live_server, monkeypatch):
    callback = f"{live_server.url}/integrations/jira/callback"
    with FakeJira(redirect_uris=(callback,)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        fake.add_user("acc-ulla", "Ulla User", email=USER_EMAIL)
        fake.add_project("ACME", "Acme Corp")
        fake.add_project("OPS", "Operations")
        fake.add_issue("ACME", "Fix the boiler", status="In Progress", assignee="acc-ulla")
        fake.add_issue("ACME", "Paint the fence")
        fake.add_issue("OPS", "Rotate the keys")
        yield fake


def admin_connects_jira(page: Page, live_server, jira: FakeJira) -> None:
    admin_connects(page, live_server, "jira", jira)
    expect(page.locator(".flash").first).to_contain_text("Jira is connected as acme")


def admin_picks_acme(page: Page, live_server) -> None:
    admin_chooses(page, "Acme Corp")


def admin_sets_up_jira_with_acme(page: Page, live_server, jira: FakeJira) -> None:
    """Ada (admin) and Ulla exist; Ada connects Jira and picks ACME, whose issues arrive."""
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    live_server.create_user(email=USER_EMAIL, password=USER_PASSWORD, name="Ulla User")
    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_connects_jira(page, live_server, jira)
    admin_picks_acme(page, live_server)
    # Saving the settings queued a sync: ACME's issues arrive, OPS's do not.
    eventually(lambda: synced_task_keys(live_server) == ["ACME-1", "ACME-2"], "ACME's issues to be imported")


@pytest.mark.e2e
def test_admin_sets_up_jira_and_a_users_time_becomes_a_worklog(live_server, page, jira, worker):
    admin_sets_up_jira_with_acme(page, live_server, jira)
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_text("Fix the boiler")).to_be_visible()
    expect(page.get_by_text("ACME-1")).to_be_visible()
    expect(page.get_by_text("Rotate the keys")).to_have_count(0)

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    user_logs_time(page, live_server.url, "Acme Corp", "Acme Corp › ACME-1 Fix the boiler", "Replaced the valve")

    [worklog] = eventually(lambda: jira.worklogs_of("ACME-1"), "the worklog at Jira")
    assert worklog["timeSpentSeconds"] == 90 * 60
    assert "Ulla User" in str(worklog["comment"]) and "Replaced the valve" in str(worklog["comment"])

    user_ends_the_entry_at_eleven(page)
    eventually(lambda: [w["timeSpentSeconds"] for w in jira.worklogs_of("ACME-1")] == [2 * 3600],
               "the worklog to follow the edit")

    user_deletes_the_entry(page)
    eventually(lambda: jira.worklogs_of("ACME-1") == [], "the worklog to be deleted")
