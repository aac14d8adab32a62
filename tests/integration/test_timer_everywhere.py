"""The running timer in every page's top bar, start/stop from any page and back to it,
and "Continue" on a past entry."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from app.models import TimeEntry
from app.models.base import utcnow
from tests.conftest import post_form
from tests.integration.test_time_entries import project_with_task  # noqa: F401 - a fixture

TOP_BAR = re.compile(r'<div class="topbar-timer" id="layout-timer"(.*?)</div>\s*<div class="me">', re.S)
PAGES = ["/", "/calendar", "/reports", "/projects", "/integrations", "/account", "/invoices", "/admin/users",
         "/no-such-page"]


def top_bar(client, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    match = TOP_BAR.search(html)
    assert match, f"no timer in the top bar of {page}"
    return match.group(1)


def running(db, user) -> TimeEntry | None:
    db.session.expire_all()
    return db.session.scalars(select(TimeEntry).where(TimeEntry.user_id == user.id,
                                                      TimeEntry.ended_at.is_(None))).one_or_none()


def test_the_running_timer_shows_in_the_top_bar_of_every_page(admin_client, admin, db):
    db.session.add(TimeEntry(user_id=admin.id, started_at=utcnow() - timedelta(minutes=75, seconds=5),
                             description="Quarterly report"))
    db.session.commit()
    for page in PAGES:
        bar = top_bar(admin_client, page)
        assert "data-running" in bar and "Quarterly report" in bar, page
        elapsed = int(re.search(r'data-elapsed="(\d+)"', bar).group(1))
        assert 75 * 60 <= elapsed < 80 * 60, page
        assert ">Stop</button>" in bar and 'action="/timer/stop"' in bar, page


def test_without_a_timer_the_top_bar_offers_to_start_one_and_another_users_timer_never_shows(
        user_client, admin, db):
    db.session.add(TimeEntry(user_id=admin.id, started_at=utcnow(), description="The admin's own work"))
    db.session.commit()
    bar = top_bar(user_client, "/projects")
    assert "data-running" not in bar and ">Start timer</button>" in bar and "admin's own work" not in bar


def test_start_and_stop_from_the_top_bar_come_back_to_the_page(user_client, user, db):
    started = post_form(user_client, "/timer/start", {"timer-billable": "y", "next": "/projects?sort=name"},
                        page="/projects")
    assert started.status_code == 302 and started.headers["Location"] == "/projects?sort=name"
    entry = running(db, user)
    assert entry is not None and entry.description == "" and entry.billable
    entry.started_at -= timedelta(minutes=5)
    db.session.commit()
    stopped = post_form(user_client, "/timer/stop", {"next": "/reports"}, page="/reports")
    assert stopped.status_code == 302 and stopped.headers["Location"] == "/reports"
    assert running(db, user) is None
    # Only local paths: another host falls back to the time page.
    post_form(user_client, "/timer/start", {"next": "/"}, page="/")
    off_site = post_form(user_client, "/timer/stop", {"next": "https://evil.example/"}, page="/")
    assert off_site.headers["Location"] == "/"


def test_continue_starts_a_timer_on_the_same_work_and_stops_the_running_one(user_client, user, db,
                                                                           project_with_task):
    project, task = project_with_task
    past = TimeEntry(user_id=user.id, started_at=datetime(2026, 11, 30, 9), ended_at=datetime(2026, 11, 30, 10),
                     description="Fix the login form", project_id=project.id, task_id=task.id, billable=False)
    other = TimeEntry(user_id=user.id, started_at=utcnow() - timedelta(minutes=10), description="Something else")
    db.session.add_all([past, other])
    db.session.commit()
    assert f'action="/entries/{past.id}/continue"' in user_client.get("/?until=2026-11-30").get_data(as_text=True)

    response = post_form(user_client, f"/entries/{past.id}/continue", page="/")
    assert response.status_code == 302
    now_running = running(db, user)
    assert (now_running.description, now_running.project_id, now_running.task_id, now_running.billable) == (
        "Fix the login form", project.id, task.id, False)
    assert now_running.id not in (past.id, other.id)
    assert db.session.get(TimeEntry, other.id).ended_at is not None  # the one running before is stopped
    assert db.session.get(TimeEntry, past.id).ended_at == datetime(2026, 11, 30, 10)  # the past entry stays
    follow = user_client.get("/").get_data(as_text=True)
    assert "Continued “Fix the login form”: the previous timer is stopped." in follow


def test_continue_needs_csrf_and_the_entry_must_be_visible(user_client, user, make_user, db):
    someone = make_user("someone@example.com")
    theirs = TimeEntry(user_id=someone.id, started_at=datetime(2026, 11, 30, 9), ended_at=datetime(2026, 11, 30, 10))
    mine = TimeEntry(user_id=user.id, started_at=datetime(2026, 11, 30, 11), ended_at=datetime(2026, 11, 30, 12))
    db.session.add_all([theirs, mine])
    db.session.commit()
    assert post_form(user_client, f"/entries/{theirs.id}/continue", page="/").status_code == 404
    assert user_client.post(f"/entries/{mine.id}/continue").status_code == 400
    assert running(db, user) is None
