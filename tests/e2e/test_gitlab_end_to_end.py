"""GitLab end to end in a real browser: an admin sets GitLab up through the fake OAuth
flow, picks a project and syncs; a user logs time on one of its issues, and the timelog
appears at the fake GitLab on the day it was worked, then follows the entry's edit and
deletion. Everything runs over loopback, as in test_jira_end_to_end.py."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

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
from tests.fakes.gitlab import FakeGitLab


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


@pytest.mark.e2e
def test_admin_sets_up_gitlab_and_a_users_time_becomes_a_dated_timelog(live_server, page, gitlab, worker):  # noqa: F811
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    live_server.create_user(email=USER_EMAIL, password=USER_PASSWORD, name="Ulla User")

    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_connects(page, live_server, "gitlab", gitlab)
    expect(page.locator(".flash").first).to_contain_text("GitLab is connected as")
    admin_chooses(page, "acme/web")

    eventually(lambda: synced_task_keys(live_server) == ["acme/web#1", "acme/web#2"], "acme/web's issues")
    page.goto(live_server.url + "/projects")
    page.get_by_role("link", name="acme/web").click()
    expect(page.get_by_text("Fix the boiler")).to_be_visible()
    expect(page.get_by_text("Rotate the keys")).to_have_count(0)

    page.context.clear_cookies()
    sign_in(page, live_server.url, USER_EMAIL, USER_PASSWORD)
    user_logs_time(page, live_server.url, "acme/web", "acme/web › acme/web#1 Fix the boiler", "Replaced the valve")

    [timelog] = eventually(lambda: gitlab.timelogs_of("acme/web", 1), "the timelog at GitLab")
    assert timelog["timeSpent"] == 90 * 60 and timelog["summary"].startswith("Replaced the valve (logged for Ulla User) [TimeHub entry ")
    assert "T09:00:00" in timelog["spentAt"]

    user_ends_the_entry_at_eleven(page)
    eventually(lambda: [t["timeSpent"] for t in gitlab.timelogs_of("acme/web", 1)] == [2 * 3600],
               "the timelog to follow the edit")

    user_deletes_the_entry(page)
    eventually(lambda: gitlab.timelogs_of("acme/web", 1) == [], "the timelog to be deleted")
