"""What the task-tracker browser tests do the same way (Jira, GitLab, Asana, Trello): the job
consumer, waiting for a job's effect, an admin connecting an OAuth tracker and choosing what to
sync, and a user logging time on a task then editing and deleting the entry. Each step goes
through the pages as a person would; the provider's fake is each test's own."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app import jobs
from app.extensions import db
from app.models import Integration, Task
from tests.e2e.conftest import add_entry

ADMIN_EMAIL, ADMIN_PASSWORD = "ada@example.com", "correct horse battery"
USER_EMAIL, USER_PASSWORD = "ulla@example.com", "staple battery horse"
JOB_TIMEOUT_SECONDS = 60.0  # a bound for a hang, not a target: a loaded 2-core machine is slow


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


def integration_id(live_server, slug: str) -> int:
    return live_server.query(lambda: db.session.scalars(
        select(Integration.id).where(Integration.provider == slug)).one())


def synced_task_keys(live_server) -> list[str]:
    return live_server.query(lambda: sorted(db.session.scalars(
        select(Task.external_key).where(Task.external_key.is_not(None), Task.archived.is_(False)))))


def task_titles(live_server) -> list[str]:
    return live_server.query(lambda: sorted(db.session.scalars(
        select(Task.title).where(Task.archived.is_(False)))))


def admin_connects(page: Page, live_server, slug: str, fake) -> None:
    """Save the fake's OAuth app on the setup page and connect; nothing is imported before
    something is chosen, so the admin lands on the sync settings."""
    page.goto(f"{live_server.url}/admin/integrations/{slug}")
    page.fill('input[name="client_id"]', fake.oauth.client_id)
    page.fill('input[name="client_secret"]', fake.oauth.client_secret)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("saved")
    with page.expect_request(lambda r: r.url.startswith(fake.oauth.base_url + "/authorize")):
        page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_url(f"{live_server.url}/integrations/{integration_id(live_server, slug)}/settings")


def admin_chooses(page: Page, label: str) -> None:
    """Tick one repository / project / board on the settings page and save."""
    expect(page.locator('[data-hint="nothing-chosen"]')).to_be_visible()
    page.get_by_label(label).check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash").first).to_contain_text("saved")


def user_logs_time(page: Page, base_url: str, project: str, task: str, description: str) -> None:
    """09:00 to 10:30 today on `task` (its label in the form: "Project › KEY Title")."""
    add_entry(page, base_url, start="09:00", end="10:30", project=project, task=task, description=description)
    expect(page.locator(".flash").first).to_contain_text("Entry added")


def user_ends_the_entry_at_eleven(page: Page) -> None:
    page.get_by_role("link", name="Edit").first.click()
    started = page.input_value('input[name="started"]')
    page.fill('input[name="ended"]', started[:11] + "11:00")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("Entry saved")


def user_deletes_the_entry(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())  # "Delete this entry?"
    page.get_by_role("button", name="Delete").first.click()
    expect(page.locator(".flash").first).to_contain_text("Entry deleted")
