"""An integration's page: history and chart, live progress, "Sync now", failed
pushes and their retry, and who may see or do what."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app import tuning
from app.models import Integration, IntegrationCredential, OutboxItem, SyncRun
from app.models.base import utcnow
from tests.conftest import login, post_form

BAR_RE = re.compile(r'<rect class="sync-bar sync-bar-(\w+)"[^>]*height="([\d.]+)"')


def _integration(db, provider: str, *, owner=None, connected: bool = True) -> Integration:
    integration = Integration(provider=provider, is_global=owner is None, user_id=owner.id if owner else None,
                              status="active" if connected else "not_configured",
                              account_label="team@example.com" if connected else None, settings={})
    if connected:
        integration.credential = IntegrationCredential(kind="oauth2")
        integration.credential.payload = {"access_token": "at-never-shown", "refresh_token": "rt-never-shown"}
    db.session.add(integration)
    db.session.commit()
    return integration


@pytest.fixture(autouse=True)
def connectors_that_sync(monkeypatch):
    """Pages for providers whose connectors pull (Jira's and Google's will)."""
    from app.integrations import registry
    from app.integrations.google_calendar import GoogleCalendarConnector
    from app.integrations.jira import JiraConnector
    from tests.connector_doubles import pulling_variant
    monkeypatch.setattr(JiraConnector, "streams", ("issues",))
    monkeypatch.setitem(registry._CONNECTORS, "google_calendar", pulling_variant(GoogleCalendarConnector, ("events",)))


@pytest.fixture
def jira(db):
    return _integration(db, "jira")


@pytest.fixture
def my_calendar(db, user):
    return _integration(db, "google_calendar", owner=user)


def _run(db, integration, *, minutes_ago: int, status: str = "succeeded", **counts) -> SyncRun:
    started = utcnow() - timedelta(minutes=minutes_ago)
    run = SyncRun(integration_id=integration.id, trigger=counts.pop("trigger", "schedule"), status=status,
                  started_at=started, heartbeat_at=counts.pop("heartbeat_at", started + timedelta(seconds=30)),
                  finished_at=None if status == "running" else started + timedelta(seconds=75), **counts)
    db.session.add(run)
    db.session.commit()
    return run


def _failed_push(db, integration, local_id: int, error: str = "Jira refused: worklog too short") -> OutboxItem:
    item = OutboxItem(integration_id=integration.id, local_kind="time_entry", local_id=local_id, action="upsert",
                      status="failed", attempts=tuning.PUSH_MAX_ATTEMPTS, last_error=error)
    db.session.add(item)
    db.session.commit()
    return item


def _jobs(app):
    return app.extensions["timehub.jobs"]


def _page(client, integration) -> str:
    response = client.get(f"/integrations/{integration.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# -- what the page shows ----------------------------------------------------------------


def test_page_shows_status_account_history_and_one_bar_per_run(admin_client, db, jira):
    _run(db, jira, minutes_ago=90, pulled=400, created=400, trigger="connect")
    _run(db, jira, minutes_ago=60, status="failed", pulled=100, created=3, error="Jira answered 503 three times")
    _run(db, jira, minutes_ago=30, pulled=0)
    html = _page(admin_client, jira)

    assert "<h1>Jira" in html and "status-active" in html
    assert "team@example.com" in html
    assert "Jira answered 503 three times" in html
    assert html.count('<tr data-run="') == 3
    assert "1 min 15 s" in html  # the duration of each run
    bars = BAR_RE.findall(html)
    assert [status for status, _ in bars] == ["succeeded", "failed", "succeeded"]  # oldest first
    heights = [float(h) for _, h in bars]
    assert heights[0] == 140.0 and heights[1] == 35.0  # scaled against the busiest run
    assert heights[2] == 2.0  # a run that moved nothing still has a visible bar
    assert "at-never-shown" not in html and "rt-never-shown" not in html


def test_page_without_runs_or_failures_says_so(admin_client, jira):
    html = _page(admin_client, jira)
    assert "No sync has run yet." in html and "No runs yet." in html and "No failed pushes." in html
    assert "<svg" not in html
    assert 'data-state="finished"' in html


def test_failed_pushes_are_listed_with_their_reason_and_a_retry_button(admin_client, db, jira):
    _failed_push(db, jira, 17)
    db.session.add(OutboxItem(integration_id=jira.id, local_kind="time_entry", local_id=18, action="upsert",
                              status="pending", last_error="still trying"))
    db.session.commit()
    html = _page(admin_client, jira)
    failed = html.split("<h2>Failed pushes</h2>")[1]
    assert "#17" in failed and "Jira refused: worklog too short" in failed
    assert f"<td class=\"num\">{tuning.PUSH_MAX_ATTEMPTS}</td>" in failed
    assert "#18" not in failed and "still trying" not in failed  # pending items are not failures
    assert f'action="/integrations/{jira.id}/retry"' in html


def test_changes_the_provider_would_not_take_are_listed_apart_with_their_reason(admin_client, db, jira):
    db.session.add(OutboxItem(integration_id=jira.id, local_kind="time_entry", local_id=21, action="upsert",
                              status="skipped", last_error="Jira does not accept worklogs under a minute"))
    db.session.commit()
    html = _page(admin_client, jira)
    not_sent = html.split("<h2>Not sent</h2>")[1]
    assert "#21" in not_sent and "under a minute" in not_sent
    assert "#21" not in html.split("<h2>Failed pushes</h2>")[1].split("<h2>Not sent</h2>")[0]
    assert "No failed pushes." in html


def test_the_page_states_what_the_connection_set_up_at_the_provider(admin_client, db, jira):
    assert "registered at the next sync" in _page(admin_client, jira)
    jira.connector_state = {**jira.connector_state, "webhooks": {"ids": [7], "expires": 1_798_675_200_000}}
    db.session.commit()
    assert "registered, renewed until 2026-12-31" in _page(admin_client, jira)
    jira.connector_state = {**jira.connector_state, "webhooks": {"error": "Set TIMEHUB_EXTERNAL_URL to a public address"}}
    db.session.commit()
    assert "none: Set TIMEHUB_EXTERNAL_URL" in _page(admin_client, jira)


def test_running_sync_shows_live_progress_and_the_fragment_follows_it(admin_client, db, jira):
    run = _run(db, jira, minutes_ago=1, status="running", pulled=250, created=240, heartbeat_at=utcnow())
    html = _page(admin_client, jira)
    assert 'data-state="running"' in html and "sync.js" in html
    assert "Sync running" in html and f'action="/integrations/{jira.id}/sync"' not in html

    response = admin_client.get(f"/integrations/{jira.id}/progress")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="sync-progress"')
    assert 'data-state="running"' in fragment
    assert '<dd data-count="pulled">250</dd>' in fragment and '<dd data-count="created">240</dd>' in fragment

    run.pulled, run.status, run.finished_at = 500, "succeeded", utcnow()
    db.session.commit()
    fragment = admin_client.get(f"/integrations/{jira.id}/progress").get_data(as_text=True)
    assert 'data-state="finished"' in fragment and '<dd data-count="pulled">500</dd>' in fragment


def test_a_run_whose_worker_died_is_shown_as_stalled_and_does_not_block_sync_now(admin_client, app, db, jira):
    long_ago = utcnow() - timedelta(seconds=tuning.SYNC_STALE_AFTER_SECONDS + 60)
    _run(db, jira, minutes_ago=30, status="running", heartbeat_at=long_ago)
    html = _page(admin_client, jira)
    assert 'data-state="stalled"' in html
    before = _jobs(app).pending_count()
    post_form(admin_client, f"/integrations/{jira.id}/sync")
    assert _jobs(app).pending_count() == before + 1


# -- Sync now -------------------------------------------------------------------------------


def test_sync_now_enqueues_one_manual_sync_and_the_page_waits_for_it(admin_client, app, db, jira):
    last = _run(db, jira, minutes_ago=30)
    before = _jobs(app).pending_count()
    response = post_form(admin_client, f"/integrations/{jira.id}/sync")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/integrations/{jira.id}?after={last.id}")
    assert _jobs(app).pending_count() == before + 1
    task = _jobs(app).pending()[-1]
    assert task.name == "sync_integration"
    assert task.args == (jira.id,) and task.kwargs == {"trigger": "manual"}

    html = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sync of Jira queued." in html
    assert 'data-state="queued"' in html and f"/progress?after={last.id}" in html

    # Once a worker starts it, the fragment polled with ?after= shows the new run.
    _run(db, jira, minutes_ago=0, status="running", trigger="manual", pulled=5, heartbeat_at=utcnow())
    fragment = admin_client.get(f"/integrations/{jira.id}/progress?after={last.id}").get_data(as_text=True)
    assert 'data-state="running"' in fragment and '<dd data-count="pulled">5</dd>' in fragment


def test_sync_now_is_refused_while_a_sync_runs(admin_client, app, db, jira):
    _run(db, jira, minutes_ago=2, status="running", heartbeat_at=utcnow())
    before = _jobs(app).pending_count()
    response = post_form(admin_client, f"/integrations/{jira.id}/sync", follow_redirects=True)
    assert "A sync of Jira is already running" in response.get_data(as_text=True)
    assert _jobs(app).pending_count() == before


def test_sync_now_is_refused_when_not_connected(admin_client, app, db):
    jira = _integration(db, "jira", connected=False)
    html = _page(admin_client, jira)
    assert f'action="/integrations/{jira.id}/sync"' not in html
    before = _jobs(app).pending_count()
    response = post_form(admin_client, f"/integrations/{jira.id}/sync", follow_redirects=True)
    assert "Jira is not connected" in response.get_data(as_text=True)
    assert _jobs(app).pending_count() == before


def test_posts_without_csrf_token_are_refused_and_change_nothing(admin_client, app, db, jira):
    item = _failed_push(db, jira, 3)
    before = _jobs(app).pending_count()
    assert admin_client.post(f"/integrations/{jira.id}/sync").status_code == 400
    assert admin_client.post(f"/integrations/{jira.id}/retry").status_code == 400
    assert _jobs(app).pending_count() == before
    db.session.refresh(item)
    assert item.status == "failed"


# -- retry ------------------------------------------------------------------------------------


def test_retry_puts_failed_pushes_back_in_the_queue(admin_client, app, db, jira):
    items = [_failed_push(db, jira, 1), _failed_push(db, jira, 2)]
    other = _integration(db, "github")
    elsewhere = _failed_push(db, other, 9)
    before = _jobs(app).pending_count()

    response = post_form(admin_client, f"/integrations/{jira.id}/retry", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "2 failed pushes queued again." in html
    assert "No failed pushes." in html
    for item in items:
        db.session.refresh(item)
        assert (item.status, item.attempts) == ("pending", 0)
    db.session.refresh(elsewhere)
    assert elsewhere.status == "failed"  # another integration's failures stay put
    assert _jobs(app).pending_count() == before + 1
    assert _jobs(app).pending()[-1].name == "push_outbox"


def test_retry_with_nothing_failed_says_so(admin_client, app, jira):
    response = post_form(admin_client, f"/integrations/{jira.id}/retry", follow_redirects=True)
    assert "There were no failed pushes to retry." in response.get_data(as_text=True)


# -- who may see and do what ------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(client, admin, jira):
    for url in (f"/integrations/{jira.id}", f"/integrations/{jira.id}/progress"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_user_sees_a_global_integration_but_cannot_manage_it(user_client, app, db, jira):
    _failed_push(db, jira, 4)
    html = _page(user_client, jira)
    assert "#4" in html
    assert f'action="/integrations/{jira.id}/sync"' not in html
    assert f'action="/integrations/{jira.id}/retry"' not in html
    assert "/admin/integrations/jira" not in html
    assert user_client.get(f"/integrations/{jira.id}/progress").status_code == 200
    before = _jobs(app).pending_count()
    assert post_form(user_client, f"/integrations/{jira.id}/sync").status_code == 403
    assert post_form(user_client, f"/integrations/{jira.id}/retry").status_code == 403
    assert _jobs(app).pending_count() == before


def test_the_owner_manages_their_own_per_user_integration(user_client, app, my_calendar):
    html = _page(user_client, my_calendar)
    assert "Google Calendar" in html and "you alone" in html
    before = _jobs(app).pending_count()
    assert post_form(user_client, f"/integrations/{my_calendar.id}/sync").status_code == 302
    assert _jobs(app).pending_count() == before + 1


@pytest.fixture
def stranger_client(app, make_user):
    return login(app.test_client(), make_user("stranger@example.com"))


# One signed-in client per test: the test app context (and its cached CSRF token) is shared.
@pytest.mark.parametrize("viewer", ["admin_client", "stranger_client"])
def test_nobody_else_can_reach_a_per_user_integration(request, viewer, my_calendar):
    client = request.getfixturevalue(viewer)
    assert client.get(f"/integrations/{my_calendar.id}").status_code == 404
    assert client.get(f"/integrations/{my_calendar.id}/progress").status_code == 404
    assert post_form(client, f"/integrations/{my_calendar.id}/sync").status_code == 404
    assert post_form(client, f"/integrations/{my_calendar.id}/retry").status_code == 404


def test_unknown_integration_is_404(admin_client):
    assert admin_client.get("/integrations/999999").status_code == 404
    assert post_form(admin_client, "/integrations/999999/sync").status_code == 404


def test_a_connector_that_syncs_nothing_says_so_instead_of_queueing(db, admin_client, app):
    slack = _integration(db, "slack")
    html = admin_client.get(f"/integrations/{slack.id}").get_data(as_text=True)
    assert "does not import or push anything yet" in html and "Sync now" not in html
    response = post_form(admin_client, f"/integrations/{slack.id}/sync", page=f"/integrations/{slack.id}",
                         follow_redirects=True)
    assert "does not import or push anything yet" in response.get_data(as_text=True)
    assert app.extensions["timehub.jobs"].pending_count() == 0


def test_the_sync_interval_is_set_per_integration(db, admin_client, user_client, jira):
    page = f"/integrations/{jira.id}"
    response = post_form(admin_client, f"{page}/interval", {"sync_interval_minutes": "45"}, page=page)
    assert response.status_code == 302
    db.session.refresh(jira)
    assert jira.settings["sync_interval_minutes"] == 45
    for bad in ("2", "99999", "soon"):
        post_form(admin_client, f"{page}/interval", {"sync_interval_minutes": bad}, page=page)
        db.session.refresh(jira)
        assert jira.settings["sync_interval_minutes"] == 45
    assert post_form(user_client, f"{page}/interval", {"sync_interval_minutes": "30"}, page=page).status_code == 403
    assert 'name="sync_interval_minutes"' not in user_client.get(page).get_data(as_text=True)
