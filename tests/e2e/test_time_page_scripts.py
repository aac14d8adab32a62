"""The time page's scripts are self-hosted files (no inline code: a CSP is coming) and still work."""
from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import Project, Task, TimeEntry, User
from app.models.base import utcnow
from tests.e2e.conftest import sign_in

EMAIL, PASSWORD = "ulla@example.com", "correct horse battery"


def _seed(ids: dict) -> None:
    user = db.session.scalars(db.select(User)).one()
    website, shop = Project(name="Website"), Project(name="Shop")
    db.session.add_all([website, shop])
    db.session.flush()
    task = Task(project_id=shop.id, title="Checkout")
    db.session.add_all([task, TimeEntry(user_id=user.id, started_at=utcnow() - timedelta(minutes=3))])
    db.session.commit()
    ids.update(shop=shop.id, task=task.id, website=website.id)


def test_the_clock_ticks_and_a_task_selects_its_project(live_server, page):
    ids: dict = {}
    live_server.create_user(email=EMAIL, password=PASSWORD)
    live_server.query(lambda: _seed(ids))
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    html = page.content()
    assert "<script>" not in html
    clock = page.locator("#running-timer .clock")
    first = clock.text_content()
    page.wait_for_function("t => document.querySelector('#running-timer .clock').textContent !== t", arg=first)
    assert clock.text_content().startswith("0:0")
    page.select_option('select[name="timer-task"]', str(ids["task"]))
    assert page.locator('select[name="timer-project"]').input_value() == str(ids["shop"])
    page.select_option('select[name="timer-project"]', str(ids["website"]))
    assert page.locator('select[name="timer-task"]').input_value() == ""
