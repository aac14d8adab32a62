"""The entry form in Chromium: choosing a project sets the billable box to its default (a
self-hosted script), a typed tag is created and shown, and picked again from the list."""
from __future__ import annotations

from app.extensions import db
from app.models import Project, Task, TimeEntry
from tests.e2e.conftest import sign_in

EMAIL, PASSWORD = "ulla@example.com", "correct horse battery"


def _seed(ids: dict) -> None:
    internal, website = Project(name="Internal", billable_by_default=False), Project(name="Website")
    db.session.add_all([internal, website])
    db.session.flush()
    task = Task(project_id=internal.id, title="Planning")
    db.session.add(task)
    db.session.commit()
    ids.update(internal=internal.id, website=website.id, task=task.id)


def _entries():
    return [(e.billable, [t.name for t in e.tags]) for e in db.session.scalars(db.select(TimeEntry)
                                                                              .order_by(TimeEntry.id))]


def test_billable_follows_the_project_and_tags_are_typed_then_picked(live_server, page):
    ids: dict = {}
    live_server.create_user(email=EMAIL, password=PASSWORD)
    live_server.query(lambda: _seed(ids))
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    timer = page.get_by_role("region", name="Timer")  # the time page's form, not the top bar's
    billable = timer.get_by_role("checkbox", name="Billable")
    assert billable.is_checked()
    page.select_option('select[name="timer-project"]', str(ids["internal"]))
    assert not billable.is_checked()
    page.select_option('select[name="timer-project"]', str(ids["website"]))
    assert billable.is_checked()
    page.select_option('select[name="timer-task"]', str(ids["task"]))  # a task chooses its project, and its default
    assert page.locator('select[name="timer-project"]').input_value() == str(ids["internal"])
    assert not billable.is_checked()

    page.fill('input[name="timer-new_tags"]', "Planning, internal")
    timer.get_by_role("button", name="Start timer").click()
    page.wait_for_selector("text=Timer started.")
    assert page.locator("#running-timer .badge.tag").all_text_contents() == ["internal", "Planning"]
    assert live_server.query(_entries) == [(False, ["internal", "Planning"])]

    # Picked from the list next time (no new tag made), with Website billable again.
    page.select_option('select[name="timer-project"]', str(ids["website"]))
    page.select_option('select[name="timer-tags"]', label="Planning")
    page.get_by_role("button", name="Stop current and start").click()
    page.wait_for_selector("text=Stopped the previous timer")
    assert live_server.query(_entries)[-1] == (True, ["Planning"])
    assert live_server.query(lambda: db.session.scalar(db.select(db.func.count()).select_from(
        db.metadata.tables["tags"]))) == 2
