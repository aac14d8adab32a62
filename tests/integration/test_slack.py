"""Slack end to end over real HTTP: the OAuth fake connects the workspace, the Slack Web API
fake (tests/fakes/slack.py, every request checked against slack.json) lists channels and
receives messages; notifications go through the outbox and the delivery job; /timehub
is answered with its signature checked.
"""
from __future__ import annotations

import threading
import time
from urllib.parse import urlparse
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from app.models import Integration, Notification, Project, Task, TimeEntry, WebhookDelivery
from app.models.base import utcnow
from app.services import invoice_service, notification_service, time_service
from app.services.connections import connector_for
from app.services.integration_service import IntegrationService
from tests.conftest import post_form
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.fakes.slack import FakeSlack, signed_command
from tests.oauth_steps import callback_url, connect

SIGNING_SECRET = "slack-signing-secret-for-tests"
EVERY_EVENT = ["timer_started", "timer_stopped", "long_entry", "invoice_issued", "invoice_paid",
               "integration_problem", "daily_summary", "weekly_summary"]


@pytest.fixture
def slack(app, db, admin, admin_client, monkeypatch):
    """A connected Slack workspace (through the real OAuth flow) with channels; the app
    reaches the fake only through SLACK_* endpoint settings."""
    with FakeOAuthProvider(redirect_uris=(callback_url("slack"),), dialect="slack") as oauth, \
            FakeSlack(oauth=oauth, page_cap=2) as fake:
        for name, value in oauth.env("slack").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SLACK_API_BASE", fake.api_base)
        IntegrationService().save_app_credentials(admin, "slack", {
            "client_id": oauth.client_id, "client_secret": oauth.client_secret, "signing_secret": SIGNING_SECRET})
        assert connect(admin_client, "slack").status_code == 302
        fake.oauth_fake = oauth
        fake.general = fake.add_channel("general")
        fake.add_channel("random")
        fake.secret_room = fake.add_channel("secret-room", private=True)
        fake.add_channel("not-joined", member=False)
        fake.add_channel("hidden-private", private=True, member=False)
        fake.add_channel("time-tracking")
        yield fake


def integration(db) -> Integration:
    db.session.expire_all()
    return IntegrationService().integration_for(None, "slack")


def choose(db, channel: str, events=EVERY_EVENT, **more) -> Integration:
    found = integration(db)
    found.settings = {**(found.settings or {}), "notify_channel": channel, "notify_events": list(events), **more}
    db.session.commit()
    return found


def deliver(db) -> int:
    db.session.expire_all()
    posted, _wait = notification_service.deliver(integration(db).id)
    return posted


def statuses(db) -> dict[str, int]:
    db.session.expire_all()
    return notification_service.counts(db.session, integration(db).id)


# -- channels ---------------------------------------------------------------------------------


def test_the_channel_list_reads_every_page_and_keeps_the_channels_the_app_is_in(db, slack):
    connector = connector_for(integration(db))
    options = connector.channel_options()
    assert {o.label for o in options} == {"#general", "#random", "#secret-room", "#time-tracking"}
    assert {o.group for o in options if o.label == "#secret-room"} == {"Private channels"}
    pages = slack.calls("conversations.list")
    assert len(pages) == 3  # page_cap=2: five listed channels on three pages
    assert pages[0].args["types"] == "public_channel,private_channel"
    assert "cursor" not in pages[0].args and pages[1].args["cursor"] and pages[2].args["cursor"] != pages[1].args["cursor"]


def test_the_settings_page_offers_the_channels_and_no_sync_interval(db, slack, admin_client):
    page = admin_client.get(f"/integrations/{integration(db).id}/settings").get_data(as_text=True)
    assert "#secret-room" in page and "#time-tracking" in page and "#hidden-private" not in page
    assert 'name="sync_interval_minutes"' not in page
    assert f"/commands/slack/{integration(db).webhook_token}" in page


def test_saving_the_notification_settings_keeps_them(db, slack, admin_client):
    found = integration(db)
    response = post_form(admin_client, f"/integrations/{found.id}/settings", {
        "notify_channel": slack.general.id, "notify_event": ["timer_started", "daily_summary"],
        "notify_long_entry_hours": "8", "notify_daily_at": "18:30", "notify_timezone": "Europe/Berlin",
    }, page=f"/integrations/{found.id}/settings")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    settings = integration(db).settings
    assert settings["notify_channel"] == slack.general.id
    assert settings["notify_events"] == ["timer_started", "daily_summary"]
    assert (settings["notify_long_entry_hours"], settings["notify_daily_at"], settings["notify_timezone"]) == \
        (8.0, "18:30", "Europe/Berlin")


def test_a_channel_not_offered_or_a_bad_time_is_refused_and_nothing_saved(db, slack, admin_client):
    found = integration(db)
    response = post_form(admin_client, f"/integrations/{found.id}/settings", {
        "notify_channel": "C_FORGED", "notify_long_entry_hours": "lots", "notify_daily_at": "25:99",
        "notify_timezone": "Mars/Olympus",
    }, page=f"/integrations/{found.id}/settings")
    assert response.status_code == 422
    assert "notify_channel" not in (integration(db).settings or {})


# -- the test message ---------------------------------------------------------------------------


@pytest.mark.parametrize("channel, answer", [
    ("not-joined", "not_in_channel"),
    ("missing", "channel_not_found"),
])
def test_the_test_message_shows_slacks_answer(db, slack, admin_client, channel, answer):
    found = integration(db)
    channel_id = {c.name: c.id for c in slack.channels.values()}.get(channel, "C_DELETED")
    response = post_form(admin_client, f"/integrations/{found.id}/test-message", {"notify_channel": channel_id},
                         page=f"/integrations/{found.id}/settings", follow_redirects=True)
    assert answer in response.get_data(as_text=True)
    assert slack.posted == []


def test_the_test_message_reports_a_missing_scope(db, slack, admin_client):
    for grant in slack.oauth_fake.active_grants():
        grant.scope = grant.scope.replace("chat:write", "")
    found = integration(db)
    response = post_form(admin_client, f"/integrations/{found.id}/test-message", {"notify_channel": slack.general.id},
                         page=f"/integrations/{found.id}/settings", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "missing_scope" in text and "chat:write" in text


def test_the_test_message_posts_to_the_chosen_channel(db, slack, admin_client):
    found = integration(db)
    response = post_form(admin_client, f"/integrations/{found.id}/test-message", {"notify_channel": slack.general.id},
                         page=f"/integrations/{found.id}/settings", follow_redirects=True)
    assert "Test message posted" in response.get_data(as_text=True)
    assert [p.channel for p in slack.posted] == [slack.general.id]
    assert slack.posted[0].blocks[0]["type"] == "section" and "TimeHub test message" in slack.posted[0].text


# -- notifications through the outbox ------------------------------------------------------------


def test_a_started_timer_is_queued_with_the_change_and_posted_once_by_the_job(db, app, slack, admin):
    choose(db, slack.general.id)
    app.config["TIMEHUB_EXTERNAL_URL"] = "https://timehub.example"
    project = Project(name="Acme")
    db.session.add(project)
    db.session.commit()
    entry = time_service.start_timer(admin, project_id=project.id, description="Design <review>")
    assert slack.posted == []  # the request did not wait on Slack
    jobs = app.extensions["timehub.jobs"]
    assert "deliver_notifications" in [task.name for task in jobs.pending()]
    assert deliver(db) == 1
    assert deliver(db) == 0  # a second run finds nothing left
    message = slack.posted[0]
    assert message.text.startswith("Ada Admin started a timer")
    assert "Design &lt;review&gt;" in message.blocks[1]["text"]["text"]
    assert message.blocks[-1]["elements"][0]["url"] == "https://timehub.example/"
    # The same event cannot be queued twice, whatever calls it again.
    notification_service.time_entry_changed(db.session, entry, "started")
    db.session.commit()
    assert deliver(db) == 0 and len(slack.posted) == 1


def test_each_kind_of_notification_is_posted(db, app, slack, admin, make_user):
    choose(db, slack.general.id, notify_long_entry_hours=2)
    long_start = utcnow() - timedelta(hours=3)
    time_service.start_timer(admin, now=long_start)
    time_service.stop_timer(admin)
    assert deliver(db) == 3  # started, stopped, long entry
    titles = [p.text.splitlines()[0] for p in slack.posted]
    assert titles[0] == "Ada Admin started a timer"
    assert titles[1].startswith("Ada Admin stopped a timer after 3.0 h")
    assert titles[2].startswith("Ada Admin logged 3.0 h in one entry (over 2 h)")


def work_a_little(user) -> None:
    """Start a timer and stop it a few minutes later (a timer stopped within a minute is discarded)."""
    started = utcnow() - timedelta(minutes=5)
    time_service.start_timer(user, now=started)
    time_service.stop_timer(user, now=started + timedelta(minutes=3))


def test_only_the_chosen_events_are_announced(db, slack, admin):
    choose(db, slack.general.id, events=["timer_stopped"])
    work_a_little(admin)
    assert deliver(db) == 1
    assert "stopped a timer" in slack.posted[0].text


def test_a_long_retry_after_puts_the_message_back_for_that_long(db, slack, admin):
    choose(db, slack.general.id, events=["timer_started", "timer_stopped"])
    for _ in range(3):
        work_a_little(admin)
    slack.throttle_next("chat.postMessage", 1, retry_after=120)  # beyond what the client waits itself
    db.session.expire_all()
    posted, wait = notification_service.deliver(integration(db).id)
    assert posted == 0 and wait == pytest.approx(120, abs=1)  # the job comes back then
    assert statuses(db) == {"pending": 6}
    assert len(slack.calls("chat.postMessage")) == 1  # the run stopped at the first 429
    first = db.session.scalars(select(Notification).order_by(Notification.id)).first()
    assert first.next_attempt_at >= utcnow() + timedelta(seconds=100) and first.attempts == 0


def test_a_429_storm_sends_every_message_once_and_loses_none(db, slack, admin):
    choose(db, slack.general.id, events=["timer_started", "timer_stopped"])
    for _ in range(3):
        work_a_little(admin)
    slack.throttle_next("chat.postMessage", 3, retry_after=1)
    assert deliver(db) == 6
    assert statuses(db) == {"sent": 6}
    assert len(slack.posted) == 6 and len({p.ts for p in slack.posted}) == 6
    # the three injected 429s, and any from the per-channel limit (about one message a second)
    assert sum(r.status == 429 for r in slack.calls("chat.postMessage")) >= 3


def test_a_short_retry_after_is_waited_out_by_the_client(db, slack, admin):
    choose(db, slack.general.id, events=["timer_started"])
    time_service.start_timer(admin)
    slack.throttle_next("chat.postMessage", 1, retry_after=1)
    assert deliver(db) == 1
    assert len(slack.posted) == 1
    assert [r.status for r in slack.calls("chat.postMessage")] == [429, 200]


def test_a_5xx_is_retried_later_and_sent_once(db, slack, admin):
    choose(db, slack.general.id, events=["timer_started"])
    time_service.start_timer(admin)
    slack.fail_next("chat.postMessage", 1, status=503)
    assert deliver(db) == 0
    row = db.session.scalars(select(Notification)).one()
    assert (row.status, row.attempts) == ("pending", 1) and row.next_attempt_at > utcnow()
    row.next_attempt_at = utcnow()
    db.session.commit()
    assert deliver(db) == 1
    assert len(slack.posted) == 1 and statuses(db) == {"sent": 1}


def test_a_post_stored_by_slack_but_never_answered_is_not_posted_again(db, slack, admin):
    choose(db, slack.general.id, events=["timer_started", "timer_stopped"])
    work_a_little(admin)
    slack.lose_answers_next("chat.postMessage", 1)  # the first message is in the channel; its answer is lost
    assert deliver(db) == 1
    db.session.expire_all()
    first, second = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert first.status == "failed" and "may have been posted" in first.last_error
    assert second.status == "sent"
    for row in (first, second):  # however often delivery runs again, the lost answer is not re-posted
        row.next_attempt_at = utcnow()
    db.session.commit()
    assert deliver(db) == 0
    assert [p.text.splitlines()[0] for p in slack.posted] == ["Ada Admin started a timer",
                                                            "Ada Admin stopped a timer after 0.1 h"]
    assert len(slack.calls("chat.postMessage")) == 2


def test_the_settings_page_says_which_notices_were_not_posted_and_why(db, slack, admin, admin_client):
    choose(db, slack.general.id, events=["timer_started", "timer_stopped"])
    work_a_little(admin)
    slack.lose_answers_next("chat.postMessage", 1)
    deliver(db)
    page = admin_client.get(f"/integrations/{integration(db).id}/settings").get_data(as_text=True)
    assert "1 failed, 1 sent" in page
    assert "<li>Ada Admin started a timer: No answer came after the message was sent" in page
    assert "it may have been posted, so it was not posted again</li>" in page


def test_a_claim_whose_worker_vanished_is_not_posted_again(db, slack, admin):
    choose(db, slack.general.id, events=["timer_started"])
    time_service.start_timer(admin)
    row = db.session.scalars(select(Notification)).one()
    row.status, row.claimed_at = "sending", utcnow() - timedelta(seconds=notification_service.NOTIFY_CLAIM_SECONDS + 5)
    db.session.commit()  # as a worker leaves it that died after claiming, maybe after posting
    assert notification_service.due_integrations() == []
    assert deliver(db) == 0 and slack.posted == []
    db.session.expire_all()
    row = db.session.scalars(select(Notification)).one()
    assert row.status == "failed" and "may have been posted" in row.last_error


def test_two_workers_delivering_at_once_post_each_message_once(db, app, slack, admin):
    choose(db, slack.general.id, events=["timer_started", "timer_stopped"])
    for _ in range(5):
        work_a_little(admin)
    integration_id = integration(db).id
    slack.rate_limits = False

    def worker():
        with app.app_context():
            notification_service.deliver(integration_id)
            _db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(slack.posted) == 10
    assert len({p.text for p in slack.posted}) <= 10 and statuses(db) == {"sent": 10}


def test_the_daily_summary_goes_out_once_with_two_workers_racing(db, app, slack, admin, make_user):
    choose(db, slack.general.id, events=["daily_summary"], notify_daily_at="17:00", notify_timezone="Europe/Berlin")
    bob = make_user("bob@example.com", name="Bob")
    day_start = datetime(2026, 12, 1, 8, 0)
    time_service.create_entry(admin, time_service.EntryFields(started_at=day_start, ended_at=day_start + timedelta(hours=2)))
    time_service.create_entry(bob, time_service.EntryFields(started_at=day_start, ended_at=day_start + timedelta(hours=3)))
    now = datetime(2026, 12, 1, 16, 5)  # 17:05 in Berlin
    assert notification_service.queue_summaries(datetime(2026, 12, 1, 15, 59)) == 0  # 16:59 there: not yet
    barrier = threading.Barrier(2)
    results = []

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(notification_service.queue_summaries(now))
            _db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0, 1]
    assert notification_service.queue_summaries(now + timedelta(hours=3)) == 0  # later that day: still once
    assert deliver(db) == 1
    assert slack.posted[0].text.splitlines()[:3] == ["Time tracked on 2026-12-01: 5.0 h in all", "Bob: 3.0 h",
                                                    "Ada Admin: 2.0 h"]


def test_the_weekly_summary_goes_out_on_monday(db, slack, admin):
    choose(db, slack.general.id, events=["weekly_summary"], notify_daily_at="09:00")
    start = datetime(2026, 11, 25, 9, 0)
    time_service.create_entry(admin, time_service.EntryFields(started_at=start, ended_at=start + timedelta(hours=4)))
    assert notification_service.queue_summaries(datetime(2026, 12, 1, 9, 30)) == 0  # a Tuesday
    assert notification_service.queue_summaries(datetime(2026, 11, 30, 9, 30)) == 1  # Monday
    assert notification_service.queue_summaries(datetime(2026, 11, 30, 12, 0)) == 0
    assert deliver(db) == 1
    assert slack.posted[0].text.startswith("Time tracked in week 48 of 2026: 4.0 h in all")


def test_a_revoked_token_marks_needs_reconnect_and_the_notifications_wait(db, slack, admin):
    choose(db, slack.general.id, events=["timer_started"])
    time_service.start_timer(admin)
    slack.oauth_fake.revoke_all()
    assert deliver(db) == 0
    assert integration(db).status == "needs_reconnect"
    assert statuses(db) == {"pending": 1}
    assert deliver(db) == 0  # nothing is tried while the connection needs reconnecting
    assert len(slack.calls("chat.postMessage")) == 1


def test_invoice_issued_and_paid_are_announced(db, slack, admin):
    from app.models import Client, Invoice
    choose(db, slack.general.id, events=["invoice_issued", "invoice_paid"])
    client = Client(name="Globex", currency="EUR")
    db.session.add(client)
    db.session.commit()
    invoice = Invoice(number="2026-0001", client_id=client.id, currency="EUR", issue_date=utcnow().date())
    db.session.add(invoice)
    db.session.commit()
    invoice_service.move_to(invoice, "issued")
    invoice_service.move_to(invoice, "paid")
    assert deliver(db) == 2
    assert [p.text.splitlines()[0] for p in slack.posted] == ["Invoice 2026-0001 issued", "Invoice 2026-0001 paid"]


# -- the slash command ------------------------------------------------------------------------------


def command(client, db, text: str, *, secret: str = SIGNING_SECRET, user_id: str = "U0ANN", timestamp=None,
            prepared=None, reply_to: str | None = None):
    extra = {"response_url": reply_to} if reply_to else {}
    headers, body = prepared or signed_command(secret, text=text, user_id=user_id, timestamp=timestamp, **extra)
    return client.post(f"/commands/slack/{integration(db).webhook_token}", data=body, headers=headers)


WORKING = "Working on it: the answer follows in a moment."


def run_deferred_commands(app) -> int:
    """Run the queued answer_command jobs, as a worker would; how many ran."""
    queue = app.extensions["timehub.jobs"]
    ran, others = 0, []
    while (task := queue.dequeue()) is not None:
        if task.name == "answer_command":
            queue.execute(task)
            ran += 1
        else:
            others.append(task)
    for task in others:  # other work (notification deliveries) stays queued
        queue.enqueue(task)
    return ran


def ask(app, client, db, slack, text: str, user_id: str = "U0ANN") -> str:
    """The answer the sender sees: at once, or (deferred) what the job posted to response_url."""
    answer = command(client, db, text, user_id=user_id, reply_to=slack.response_url())
    assert answer.status_code == 200 and answer.json["response_type"] == "ephemeral"
    if answer.json["text"] != WORKING:
        return answer.json["text"]
    before = len(slack.replies)
    assert run_deferred_commands(app) == 1
    assert len(slack.replies) == before + 1, "the deferred answer did not reach the response_url"
    assert slack.replies[-1]["response_type"] == "ephemeral"
    return slack.replies[-1]["text"]


def test_start_status_stop_from_slack(db, app, slack, client, admin):
    slack.add_user("U0ANN", "ADMIN@example.com", "ada")
    project = Project(name="Acme Website")
    db.session.add(project)
    db.session.flush()
    db.session.add(Task(project_id=project.id, title="Homepage"))
    db.session.commit()
    assert ask(app, client, db, slack, "start acme website homepage").startswith("Timer started on Acme Website / Homepage")
    assert "running since" in ask(app, client, db, slack, "start acme website")  # already running
    assert ask(app, client, db, slack, "status").startswith("Running: Acme Website / Homepage")
    assert ask(app, client, db, slack, "stop").startswith("Stopped the timer on Acme Website / Homepage")
    assert ask(app, client, db, slack, "today").startswith("Today: 0 h")
    assert "/timehub start" in ask(app, client, db, slack, "help")
    assert [call.args for call in slack.calls("users.info")] == [{"user": "U0ANN"}]  # asked once, then known


def test_a_new_sender_is_answered_at_once_and_the_work_posted_to_response_url(db, app, slack, client, admin):
    slack.add_user("U0ANN", "admin@example.com", "ada")
    db.session.add(Project(name="Acme"))
    db.session.commit()
    reply_to = slack.response_url()
    first = command(client, db, "start acme", reply_to=reply_to)
    assert first.json == {"response_type": "ephemeral", "text": WORKING}
    assert slack.calls("users.info") == [] and slack.replies == []  # nothing slow happened in the request
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0
    assert run_deferred_commands(app) == 1
    assert slack.replies[0]["text"].startswith("Timer started on Acme")
    # The answer went over loopback to the very address the request named, and nowhere else.
    replies = [r for r in slack.server.requests if r.path.startswith("/commands/")]
    assert [(r.method, r.path, r.status) for r in replies] == [("POST", urlparse(reply_to).path, 200)]
    assert "authorization" not in replies[0].headers  # the bot token never goes to a reply address
    # Known now (users.info's answer is kept a day): answered in the request, no job.
    second = command(client, db, "status", reply_to=slack.response_url())
    assert second.json["text"].startswith("Running: Acme") and run_deferred_commands(app) == 0
    # `today` may read a big day: always through response_url.
    assert command(client, db, "today", reply_to=slack.response_url()).json["text"] == WORKING
    assert run_deferred_commands(app) == 1 and slack.replies[-1]["text"].startswith("Today:")
    assert len(slack.calls("users.info")) == 1


def test_when_the_job_queue_is_down_the_command_is_answered_in_the_request(db, app, slack, client, admin,
                                                                          monkeypatch):
    from app.services import work_queue

    class QueueDown:
        def command(self, *args):
            raise ConnectionError("the job store is unreachable")

    slack.add_user("U0ANN", "admin@example.com", "ada")
    monkeypatch.setattr(work_queue, "_installed", QueueDown())
    answer = command(client, db, "status", reply_to=slack.response_url())
    assert answer.status_code == 200 and answer.json["text"].startswith("No timer is running")
    assert slack.replies == []


@pytest.mark.parametrize("reply_to", [
    "https://hooks.slack.com.attacker.example/commands/T1/2/x",
    "http://hooks.slack.com/commands/T1/2/x",
    "https://someone@hooks.slack.com/commands/T1/2/x",
    "https://hooks.slack.com:8443/commands/T1/2/x",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "not a url at all",
])
def test_a_response_url_elsewhere_is_never_called_the_answer_comes_at_once(db, app, slack, client, admin, reply_to):
    slack.add_user("U0ANN", "admin@example.com", "ada")
    answer = command(client, db, "status", reply_to=reply_to)
    assert answer.status_code == 200 and answer.json["text"].startswith("No timer is running")
    assert run_deferred_commands(app) == 0
    assert notification_command_reply_refused(db, reply_to)


def notification_command_reply_refused(db, reply_to: str) -> bool:
    """The job refuses the address too, before any call (it checks again when it runs)."""
    from app.services import command_service
    return command_service.answer_later(integration(db).id, "U0ANN", "status", reply_to) is False


def test_a_response_url_on_slacks_hooks_host_or_the_configured_base_is_accepted(db, slack):
    from app.services import command_service
    from app.integrations.slack import SlackConnector
    found = integration(db)
    assert command_service.reply_target(found, SlackConnector, "https://hooks.slack.com/commands/T1/2/x") \
        == "https://hooks.slack.com"
    assert command_service.reply_target(found, SlackConnector, slack.response_url()) == slack.server.base_url


def test_an_ambiguous_or_unknown_project_gets_a_helpful_answer(db, app, slack, client, admin):
    slack.add_user("U0ANN", "admin@example.com")
    db.session.add_all([Project(name="Acme Website"), Project(name="Acme App"), Project(name="Old", archived=True)])
    db.session.commit()
    assert "matches several projects: Acme App, Acme Website" in ask(app, client, db, slack, "start acme")
    assert "No open project called \"zebra\"" in ask(app, client, db, slack, "start zebra")
    assert "archived" in ask(app, client, db, slack, "start old")
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0


def test_an_unknown_slack_user_is_told_what_to_do(db, app, slack, client, admin):
    slack.add_user("U0STRANGER", "stranger@elsewhere.example")
    assert "matches no TimeHub user" in ask(app, client, db, slack, "status", user_id="U0STRANGER")
    # Known (as nobody) for a day: the second answer comes at once.
    again = command(client, db, "status", user_id="U0STRANGER", reply_to=slack.response_url())
    assert "matches no TimeHub user" in again.json["text"] and len(slack.calls("users.info")) == 1


def test_a_deactivated_user_cannot_use_the_command(db, app, slack, client, make_user):
    gone = make_user("gone@example.com", name="Gone")
    gone.deactivated_at = utcnow()
    db.session.commit()
    slack.add_user("U0GONE", "gone@example.com")
    assert "deactivated" in ask(app, client, db, slack, "start anything", user_id="U0GONE")
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0


def test_the_manual_mapping_wins_over_the_email(db, slack, client, admin, make_user):
    bob = make_user("bob@example.com", name="Bob")
    slack.add_user("U0BOB", "not-bob@elsewhere.example")
    found = integration(db)
    found.settings = {**found.settings, "command_user_map": {"U0BOB": bob.id}}
    db.session.commit()
    assert "No timer is running" in command(client, db, "status", user_id="U0BOB").json["text"]
    assert slack.calls("users.info") == []


def test_the_settings_page_maps_slack_users_listed_from_every_page(db, slack, client, admin_client, make_user):
    bob = make_user("bob@example.com", name="Bob")
    slack.add_user("U0ANN", "admin@example.com", "Ada Lovelace")
    slack.add_user("U0BOB", "robert@elsewhere.example", "Bob Builder")
    slack.add_user("U0NOMAIL", None, "Nell Nomail")
    slack.add_user("U0BOT", None, "timehub-bot", is_bot=True)
    slack.add_user("U0GONE", "gone@example.com", "Gone Person", deleted=True)
    found = integration(db)
    page = admin_client.get(f"/integrations/{found.id}/settings").get_data(as_text=True)
    assert len(slack.calls("users.list")) == 3  # five people, two a page
    assert "Bob Builder" in page and "by e-mail (robert@elsewhere.example)" in page
    assert "Nell Nomail" in page and "nobody (no e-mail visible)" in page
    assert "timehub-bot" not in page and "Gone Person" not in page
    settings_form = {"notify_long_entry_hours": "10", "notify_daily_at": "17:00", "notify_timezone": "UTC"}
    refused = post_form(admin_client, f"/integrations/{found.id}/settings", {
        **settings_form, "map:command_user_map:U0BOB": "999999"}, page=f"/integrations/{found.id}/settings")
    assert refused.status_code == 422 and "command_user_map" not in integration(db).settings
    response = post_form(admin_client, f"/integrations/{found.id}/settings", {
        **settings_form, "map:command_user_map:U0BOB": str(bob.id)}, page=f"/integrations/{found.id}/settings")
    assert response.status_code == 302
    assert integration(db).settings["command_user_map"] == {"U0BOB": bob.id}
    assert "No timer is running" in command(client, db, "status", user_id="U0BOB").json["text"]
    assert slack.calls("users.info") == []  # the mapping answered who it is


def test_a_forged_signature_is_refused(db, slack, client, admin):
    answer = command(client, db, "stop", secret="not-the-secret")
    assert answer.status_code == 401
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 0


def test_a_stale_request_is_refused(db, slack, client, admin):
    answer = command(client, db, "stop", timestamp=int(time.time()) - 301)
    assert answer.status_code == 401 and "stale" in answer.json["error"]


def test_a_replayed_request_is_refused(db, slack, client, admin):
    slack.add_user("U0ANN", "admin@example.com")
    prepared = signed_command(SIGNING_SECRET, text="status")
    assert command(client, db, "", prepared=prepared).status_code == 200
    again = command(client, db, "", prepared=prepared)
    assert again.status_code == 401 and "already" in again.json["error"]


def test_url_verification_is_answered(db, slack, client):
    import hashlib
    import hmac
    import json
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body,
                                 hashlib.sha256).hexdigest()
    answer = client.post(f"/commands/slack/{integration(db).webhook_token}", data=body, headers={
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, "Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json == {"challenge": "abc123"}


def test_a_wrong_address_is_404(db, slack, client):
    headers, body = signed_command(SIGNING_SECRET, text="status")
    assert client.post("/commands/slack/wrong-token", data=body, headers=headers).status_code == 404


def test_an_integration_needing_reconnect_or_failing_is_told_once_a_day(db, slack):
    from app.models import SyncRun
    choose(db, slack.general.id, events=["integration_problem"])
    broken = Integration(provider="jira", is_global=True, status="needs_reconnect",
                         last_error="Jira refused the refresh token")
    failing = Integration(provider="github", is_global=True, status="active")
    db.session.add_all([broken, failing])
    db.session.flush()
    db.session.add_all([SyncRun(integration_id=failing.id, status="failed", error="boom",
                                started_at=utcnow() - timedelta(minutes=minutes)) for minutes in (30, 20, 10)])
    db.session.commit()
    now = utcnow()
    assert notification_service.queue_summaries(now) == 2
    assert notification_service.queue_summaries(now + timedelta(minutes=1)) == 0  # once a day
    assert deliver(db) == 2
    assert sorted(p.text.splitlines()[0] for p in slack.posted) == ["GitHub keeps failing to sync",
                                                                    "Jira needs reconnecting"]
    assert "Jira refused the refresh token" in " ".join(p.text for p in slack.posted)
