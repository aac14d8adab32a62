"""A user drags a suggestion onto the week grid in Chromium: it becomes a time entry with the
project picked in it, at the event's own time, once; the suggestion leaves the grid."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import TimeEntry
from tests.e2e.test_calendar_suggestions import connected_with_an_event, google  # noqa: F401


@pytest.mark.e2e
def test_dragging_a_suggestion_onto_the_grid_makes_it_an_entry(live_server, page: Page, google):  # noqa: F811
    start = connected_with_an_event(live_server, page, google, "Sprint planning", 9, 90)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/calendar?week={start.date().isoformat()}")
    suggestion = page.locator("form.suggestion", has_text="Sprint planning")
    expect(suggestion).to_have_attribute("draggable", "true")
    suggestion.get_by_role("combobox").select_option(label="Acme (no task)")
    day = suggestion.locator("xpath=ancestor::div[contains(@class, 'day-grid')]")
    suggestion.drag_to(day, target_position={"x": 4, "y": 40})

    expect(page.locator(".flash")).to_contain_text("Added 1:30")
    expect(page.locator("a.entry", has_text="Sprint planning")).to_be_visible()
    expect(page.locator("form.suggestion", has_text="Sprint planning")).to_have_count(0)

    def entries():
        return [(e.description, e.project.name, e.ended_at - e.started_at, e.started_at)
                for e in db.session.scalars(select(TimeEntry))]
    [(description, project, length, started)] = live_server.query(entries)
    assert (description, project, length) == ("Sprint planning", "Acme", timedelta(minutes=90))
    assert started == start.replace(tzinfo=None)
