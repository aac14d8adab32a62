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

import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app import jobs
from app.extensions import db
from app.models import Integration, Task
from tests.e2e.conftest import add_entry, sign_in
from tests.fakes.jira import FakeJira

ADMIN_EMAIL, ADMIN_PASSWORD = "ada@example.com", "correct horse battery"
USER_EMAIL, USER_PASSWORD = "ulla@example.com", "staple battery horse"
JOB_TIMEOUT_SECONDS = 60.0  # a bound for a hang, not a target: a loaded 2-core machine is slow


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


@pytest.fixture
def worker(live_server):
    """The job consumer `make run` starts inside the web process."""
    consumer = jobs.start_in_process_consumer(workers=2)
    try:
        yield consumer
    finally:
        consumer.stop(graceful=True)


def eventually(condition, what: str, timeout: float = JOB_TIMEOUT_SECONDS):
    """Wait for a background job's effect (the consumer polls its queue)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
    return result


def jira_integration_id(live_server) -> int:
    return live_server.query(lambda: db.session.scalars(
        select(Integration.id).where(Integration.provider == "jira")).one())


def synced_task_keys(live_server) -> list[str]:
    return live_server.query(lambda: sorted(db.session.scalars(
        select(Task.external_key).where(Task.external_key.is_not(None), Task.archived.is_(False)))))


def admin_connects_jira(page: Page, live_server, jira: FakeJira) -> None:
    page.goto(live_server.url + "/admin/integrations/jira")
    page.fill('input[name="client_id"]', jira.oauth.client_id)
    page.fill('input[name="client_secret"]', jira.oauth.client_secret)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("saved")
    with page.expect_request(lambda r: r.url.startswith(jira.oauth.base_url + "/authorize")):
        page.get_by_role("button", name="Connect", exact=True).click()
    # Nothing is imported before projects are picked: the admin lands on the sync settings.
    page.wait_for_url(f"{live_server.url}/integrations/{jira_integration_id(live_server)}/settings")
    expect(page.locator(".flash").first).to_contain_text("Jira is connected as acme")


def admin_picks_acme(page: Page, live_server) -> None:
    expect(page.locator('[data-hint="nothing-chosen"]')).to_be_visible()
    page.get_by_label("Acme Corp").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash").first).to_contain_text("saved")


@pytest.mark.e2e
def test_admin_sets_up_jira_and_a_users_time_becomes_a_worklog(live_server, page, jira, worker):
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    live_server.create_user(email=USER_EMAIL, password=USER_PASSWORD, name="Ulla User")

    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_connects_jira(page, live_server, jira)
    admin_picks_acme(page, live_server)

    # Saving the settings queued a sync: ACME's issues arrive, OPS's do not.
    eventually(lambda: synced_task_keys(live_server) == ["ACME-1", "ACME-2"], "ACME's issues to be imported")
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_text("Fix the boiler")).to_be_visible()
    expect(page.get_by_text("ACME-1")).to_be_visible()
    expect(page.get_by_text("Rotate the keys")).to_have_count(0)

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    add_entry(page, live_server.url, start="09:00", end="10:30", project="Acme Corp",
              task="Acme Corp › ACME-1 Fix the boiler", description="Replaced the valve")
    expect(page.locator(".flash").first).to_contain_text("Entry added")

    [worklog] = eventually(lambda: jira.worklogs_of("ACME-1"), "the worklog at Jira")
    assert worklog["timeSpentSeconds"] == 90 * 60
    assert "Ulla User" in str(worklog["comment"]) and "Replaced the valve" in str(worklog["comment"])

    page.get_by_role("link", name="Edit").first.click()
    started = page.input_value('input[name="started"]')
    page.fill('input[name="ended"]', started[:11] + "11:00")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("Entry saved")
    eventually(lambda: [w["timeSpentSeconds"] for w in jira.worklogs_of("ACME-1")] == [2 * 3600],
               "the worklog to follow the edit")

    page.once("dialog", lambda dialog: dialog.accept())  # "Delete this entry?"
    page.get_by_role("button", name="Delete").first.click()
    expect(page.locator(".flash").first).to_contain_text("Entry deleted")
    eventually(lambda: jira.worklogs_of("ACME-1") == [], "the worklog to be deleted")
