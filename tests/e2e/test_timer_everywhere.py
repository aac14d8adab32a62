"""The timer in every page's top bar, in Chromium: the clock ticks there and in the tab
title, Alt+Shift+S starts and stops it from any page, Continue picks up a past entry."""
from __future__ import annotations

import re
from datetime import timedelta

from app.extensions import db
from app.models import Project, TimeEntry, User
from app.models.base import utcnow
from tests.e2e.conftest import sign_in

EMAIL, PASSWORD = "ulla@example.com", "correct horse battery"


def _seed() -> None:
    user = db.session.scalars(db.select(User)).one()
    website = Project(name="Website")
    db.session.add(website)
    db.session.flush()
    start = utcnow().replace(microsecond=0) - timedelta(hours=3)
    db.session.add(TimeEntry(user_id=user.id, project_id=website.id, description="Landing page copy",
                             started_at=start, ended_at=start + timedelta(hours=1)))
    db.session.commit()


def _running(live_server) -> TimeEntry | None:
    return live_server.query(lambda: db.session.scalars(
        db.select(TimeEntry).where(TimeEntry.ended_at.is_(None))).one_or_none())


def test_the_shortcut_starts_and_stops_the_timer_from_any_page_and_the_title_ticks(live_server, page):
    live_server.create_user(email=EMAIL, password=PASSWORD)
    live_server.query(_seed)
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    page.goto(live_server.url + "/projects")
    bar = page.locator("#layout-timer")
    assert bar.get_by_role("button", name="Start timer").is_visible()
    assert not page.title().startswith("\u25B6")

    page.keyboard.press("Alt+Shift+KeyS")
    page.wait_for_selector("#layout-timer[data-running]")
    assert page.url == live_server.url + "/projects"  # back where the shortcut was pressed
    assert _running(live_server) is not None
    clock = bar.locator(".clock")
    first = clock.text_content()
    page.wait_for_function("t => document.querySelector('#layout-timer .clock').textContent !== t", arg=first)
    assert re.match(r"^\u25B6 0:00:\d\d \u00B7 Projects \u00B7 TimeHub$", page.title()), page.title()

    page.goto(live_server.url + "/account")
    page.locator('input[name="name"]').first.press("Shift+KeyS")  # typing a capital S is not the shortcut
    assert _running(live_server) is not None
    page.goto(live_server.url + "/reports")
    assert page.locator("#layout-timer[data-running]").count() == 1
    page.keyboard.press("Alt+Shift+KeyS")
    page.wait_for_selector("#layout-timer:not([data-running])")
    assert page.url == live_server.url + "/reports"
    assert _running(live_server) is None
    assert not page.title().startswith("\u25B6")


def test_continue_on_a_past_entry_shows_its_timer_in_the_top_bar(live_server, page):
    live_server.create_user(email=EMAIL, password=PASSWORD)
    live_server.query(_seed)
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Continue").first.click()
    page.wait_for_selector("#layout-timer[data-running]")
    assert "Landing page copy" in page.locator("#layout-timer").text_content()
    page.goto(live_server.url + "/calendar")
    assert "Landing page copy" in page.locator("#layout-timer").text_content()
    assert page.title().startswith("\u25B6 0:00:")
    running = _running(live_server)
    assert running is not None and running.description == "Landing page copy"
