"""Outlook Calendar (the team calendar) end to end, over real HTTP to a fake Graph
(tests/fakes/graph_calendar.py) whose requests are checked against graph.json."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.integrations import outlook_calendar
from app.models import CalendarEvent, OutboxItem, Project
from app.models.base import utcnow
from app.services import calendar_service, time_service
from app.services.integration_service import IntegrationService
from app.services.sync_service import push_pending, run_sync, settings_changed
from app.services.time_service import EntryFields
from tests.fakes.graph_calendar import DEFAULT_CALENDAR, FakeGraphCalendar
from tests.oauth_steps import callback_url, connect_through

SLUG = "outlook_calendar"


@pytest.fixture
def graph(app, monkeypatch, admin):
    with FakeGraphCalendar(redirect_uris=(callback_url(SLUG),)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        IntegrationService().save_app_credentials(admin, SLUG, {"client_id": fake.oauth.client_id,
                                                                "client_secret": fake.oauth.client_secret})
        yield fake


@pytest.fixture
def team(db, graph, admin):
    return connect_through(db, graph.oauth, SLUG, admin)


def sync(integration):
    run = run_sync(integration.id)
    assert run.status == "succeeded", run.error
    return run


def soon(hours: float = 0) -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=1, hours=hours)


def titles_for(db, user) -> list[str]:
    db.session.expire_all()
    found = calendar_service.suggestions(user, utcnow() - timedelta(days=30), utcnow() + timedelta(days=30))
    return sorted(s.event.title for s in found)


def delta_calls(graph) -> list[dict]:
    return [r.args for r in graph.api.requests if r.path.endswith("/calendarView/delta")]


def test_the_team_calendar_is_read_by_delta_and_each_event_goes_to_the_people_on_it(db, graph, team, make_user,
                                                                                    monkeypatch):
    monkeypatch.setattr(outlook_calendar, "DELTA_PAGE_SIZE", 2)
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    graph.add_event("Planning", soon(1), attendees=("ANN@example.com", "bob@example.com"))
    graph.add_event("Bob's review", soon(2), organizer="bob@example.com")
    graph.add_event("Ann declined", soon(3), attendees=(("ann@example.com", "declined"), "bob@example.com"))
    graph.add_event("Offsite", soon(4), isAllDay=True, attendees=("ann@example.com",))
    graph.add_event("Available", soon(5), showAs="free", attendees=("ann@example.com",))
    graph.add_event("Strangers only", soon(6), attendees=("someone@else.example",))
    gone = graph.add_event("Cancelled", soon(7), attendees=("ann@example.com",))
    graph.change_event(gone["id"], isCancelled=True)

    run = sync(team)
    calls = delta_calls(graph)
    assert "startDateTime" in calls[0] and all("$skiptoken" in c for c in calls[1:])
    assert len(calls) == 3  # 6 live events (a first read leaves out cancelled ones), 2 a page
    assert all('odata.maxpagesize=2' in r.headers.get("prefer", "") for r in graph.api.requests
               if r.path.endswith("/calendarView/delta"))
    assert run.created == 6
    assert titles_for(db, ann) == ["Planning"]
    assert titles_for(db, bob) == ["Ann declined", "Bob's review", "Planning"]

    graph.api.clear()
    run = sync(team)  # nothing changed: the delta link alone, no writes
    [call] = delta_calls(graph)
    assert "$deltatoken" in call and (run.created, run.updated, run.archived) == (0, 0, 0)

    planning = next(e for e in graph.events() if e["subject"] == "Planning")
    graph.change_event(planning["id"], subject="Planning (moved)")
    review = next(e for e in graph.events() if e["subject"] == "Bob's review")
    graph.remove_event(review["id"])
    run = sync(team)
    assert (run.updated, run.archived) == (1, 1)
    assert titles_for(db, bob) == ["Ann declined", "Planning (moved)"]
    # Ann leaves the meeting (its people alone change): it is Bob's suggestion only from now on.
    graph.change_event(planning["id"], attendees=[
        {"type": "required", "emailAddress": {"address": "bob@example.com", "name": "Bob"},
         "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"}}])
    run = sync(team)
    assert run.updated == 1
    assert "Planning (moved)" not in titles_for(db, ann) and "Planning (moved)" in titles_for(db, bob)

    graph.expire_delta_tokens()
    graph.api.clear()
    graph.add_event("After expiry", soon(8), attendees=("ann@example.com",))
    sync(team)
    assert [r.status for r in graph.api.requests][:1] == [410]
    assert "startDateTime" in delta_calls(graph)[1]
    assert titles_for(db, ann) == ["After expiry"]


def retry_now(db) -> None:
    for item in db.session.scalars(select(OutboxItem).where(OutboxItem.status == "pending")):
        item.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_everyones_entries_go_to_the_team_calendar_once(db, graph, team, make_user):
    ann = make_user("ann@example.com", name="Ann")
    project = Project(name="Acme")
    db.session.add(project)
    db.session.commit()
    start = datetime(2026, 11, 25, 8, 0)
    entry = time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=90), "Boiler",
                                                       project_id=project.id))
    graph.lose_create_answers = 1
    assert push_pending(team.id) == 0
    retry_now(db)
    graph.api.clear()
    assert push_pending(team.id) == 1
    [event] = graph.events()
    assert event["subject"] == "Ann · Acme" and event["body"]["content"] == "Boiler"
    assert event["transactionId"] == f"timehub-entry-{entry.id}"
    assert event["start"] == {"dateTime": "2026-11-25T08:00:00", "timeZone": "UTC"}
    assert [r.method for r in graph.api.requests] == ["GET", "PATCH"]  # found by its property, not created again

    time_service.update_entry(entry, EntryFields(start, start + timedelta(minutes=30), "Pipes", project_id=project.id))
    push_pending(team.id)
    [edited] = graph.events()
    assert edited["id"] == event["id"] and edited["end"]["dateTime"] == "2026-11-25T08:30:00"

    sync(team)  # TimeHub's own event comes back, but is nobody's suggestion
    assert db.session.scalar(select(CalendarEvent.skip_reason)) == "pushed by TimeHub"

    time_service.delete_entry(entry)
    push_pending(team.id)
    assert graph.events() == []


def test_a_team_calendar_that_is_gone_stops_the_push_with_a_clear_error(db, graph, team, make_user):
    graph.add_calendar("AAMkTeam", "Team")
    team.settings = {**(team.settings or {}), outlook_calendar.TEAM_CALENDAR_SETTING: "AAMkTeam"}
    settings_changed(db.session, team)
    ann = make_user("ann@example.com", name="Ann")
    start = datetime(2026, 11, 25, 8, 0)
    time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=30), "Call"))
    assert push_pending(team.id) == 1
    assert len(graph.events("AAMkTeam")) == 1 and graph.events(DEFAULT_CALENDAR) == []

    del graph.calendars["AAMkTeam"]
    time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=15), "Another"))
    push_pending(team.id)
    db.session.expire_all()
    failed = [item for item in db.session.scalars(select(OutboxItem)) if item.status == "failed"]
    assert len(failed) == 1 and "no longer exists or is no longer shared" in failed[0].last_error
