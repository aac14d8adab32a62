"""An admin sets up Slack in a real browser through the fakes, picks a channel, sends a test
message (the fake receives it), turns on timer notices; a user starts a timer and, once the
delivery job has run, the channel has the notice."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.services import notification_service
from app.services.integration_service import IntegrationService
from tests.e2e.conftest import sign_in
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.fakes.slack import FakeSlack

ADMIN, USER, PASSWORD = "ada@example.com", "ulla@example.com", "correct horse battery"


@pytest.mark.e2e
def test_an_admin_sets_up_slack_and_a_started_timer_reaches_the_channel(live_server, page, monkeypatch):
    callback = f"{live_server.url}/integrations/slack/callback"
    with FakeOAuthProvider(redirect_uris=(callback,), dialect="slack") as oauth, FakeSlack(oauth=oauth) as slack:
        for name, value in oauth.env("slack").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SLACK_API_BASE", slack.api_base)
        channel = slack.add_channel("time-tracking")
        slack.add_channel("random")
        live_server.create_user(email=ADMIN, password=PASSWORD, admin=True, name="Ada Admin")
        live_server.create_user(email=USER, password=PASSWORD, name="Ulla User")

        sign_in(page, live_server.url, ADMIN, PASSWORD)
        page.goto(live_server.url + "/admin/integrations/slack")
        page.fill('input[name="client_id"]', oauth.client_id)
        page.fill('input[name="client_secret"]', oauth.client_secret)
        page.fill('input[name="signing_secret"]', "signing-secret")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("button", name="Connect").click()
        page.wait_for_url(lambda url: url.startswith(live_server.url) and "callback" not in url)

        integration_id = live_server.query(lambda: IntegrationService().integration_for(None, "slack").id)
        page.goto(f"{live_server.url}/integrations/{integration_id}/settings")
        page.select_option("#notify_channel", channel.id)
        page.get_by_role("button", name="Send a test message").click()
        expect(page.locator(".flash").first).to_contain_text("Test message posted")
        assert [p.channel for p in slack.posted] == [channel.id]

        page.select_option("#notify_channel", channel.id)
        page.get_by_label("A timer is started").check()
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator(".flash").first).to_contain_text("settings saved")

        page.context.clear_cookies()
        sign_in(page, live_server.url, USER, PASSWORD)
        page.goto(live_server.url + "/")
        timer = page.get_by_role("region", name="Timer")  # the time page's, not the top bar's
        timer.get_by_role("button", name="Start timer").click()
        expect(page.get_by_role("region", name="Timer").get_by_role("button", name="Stop", exact=True)).to_be_visible()
        assert len(slack.posted) == 1  # the page did not wait on Slack

        live_server.query(lambda: notification_service.deliver(integration_id))  # the delivery job's work
        assert slack.posted[-1].channel == channel.id
        assert slack.posted[-1].text.startswith("Ulla User started a timer")
