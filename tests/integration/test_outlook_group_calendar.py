"""Outlook's team calendar as a shared or a Microsoft 365 group calendar (issue 11), over real
HTTP to the fake Graph, whose group calls are checked against tests/fixtures/graph-groups:
the picker offers own, shared (with their owner) and group calendars and nothing the account
cannot write; entries land in the group calendar once, follow edits and deletes there; the
group calendar is read whole by pages (Graph has no delta for it), without a subscription, and
what left it is archived; a missing permission asks for a reconnect, a deleted group stops the
push with a clear error."""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.integrations import outlook_calendar
from app.models import Integration, OutboxItem
from app.models.integration import IntegrationStatus
from app.services import time_service
from app.services.sync_service import push_pending, run_sync, settings_changed
from app.services.time_service import EntryFields
from tests.conftest import login
from tests.fakes.graph_calendar import DEFAULT_CALENDAR
from tests.integration.test_calendar_settings import TEAM_FIELD, save, settings_url
from tests.integration.test_outlook_calendar import graph, retry_now, soon, sync, team, titles_for  # noqa: F401
from tests.oauth_steps import connect_through
from tests.tracker_harness import live_app  # noqa: F401

SLUG = "outlook_calendar"
GROUP = "0d4c5a8e-5b7f-4a51-9c1e-3f2a7b6c9d10"
START = datetime(2026, 11, 25, 8, 0)


def offered(page: str) -> list[tuple[str, str]]:
    """The team calendar picker's options as (value, text), the default one left out."""
    select_html = page.split(f'name="{TEAM_FIELD}"', 1)[1].split("</select>", 1)[0]
    return [(value, html.unescape(text).strip()) for value, text in
            re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select_html) if value]


def pick(db, integration, value: str) -> None:
    integration.settings = {**(integration.settings or {}), outlook_calendar.TEAM_CALENDAR_SETTING: value}
    settings_changed(db.session, integration)


def group_calls(graph, method: str | None = None) -> list:  # noqa: F811
    return [r for r in graph.api.requests if r.path.startswith(f"/v1.0/groups/{GROUP}/")
            and (method is None or r.method == method)]


def test_the_picker_offers_own_shared_and_group_calendars_but_nothing_unwritable(  # noqa: F811
        db, app, graph, team, admin, monkeypatch):  # noqa: F811
    monkeypatch.setattr(outlook_calendar, "GROUP_PAGE_SIZE", 2)
    graph.add_calendar("AAMkTeam", "Team")
    graph.add_calendar("AAMkAna", "Projects", owner="ana@contoso.example")
    graph.add_calendar("AAMkHolidays", "Holidays", can_edit=False)
    graph.add_calendar("AAMkAnaRead", "Ana's read-only", can_edit=False, owner="ana@contoso.example")
    graph.add_calendar("AAMkUnsaid", "Rights unknown", can_edit=None)
    graph.add_group(GROUP, "Support team")
    graph.add_group("g-security", "Admins (security group)", unified=False)
    graph.add_group("g-sales", "Sales")
    client = login(app.test_client(), admin)

    page = client.get(settings_url(team)).get_data(as_text=True)
    assert offered(page) == [(DEFAULT_CALENDAR, "Calendar"), ("AAMkTeam", "Team"),
                             ("AAMkAna", "Projects (shared by ana@contoso.example)"),
                             (f"group:{GROUP}", "Support team (Microsoft 365 group)"),
                             ("group:g-sales", "Sales (Microsoft 365 group)")]
    memberships = graph.api.requests_to("/v1.0/me/memberOf/microsoft.graph.group")
    assert len(memberships) == 2 and "$skiptoken" in memberships[1].args  # three groups, two a page

    assert save(client, team, **{TEAM_FIELD: "AAMkUnsaid"}).status_code == 422
    assert save(client, team, **{TEAM_FIELD: "group:g-security"}).status_code == 422
    assert save(client, team, **{TEAM_FIELD: f"group:{GROUP}"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Integration, team.id).settings[outlook_calendar.TEAM_CALENDAR_SETTING] == f"group:{GROUP}"


def test_entries_land_in_the_group_calendar_once_and_follow_edits_and_deletes(db, graph, team, make_user):  # noqa: F811
    calendar = graph.add_group(GROUP, "Support team")
    pick(db, team, f"group:{GROUP}")
    ann = make_user("ann@example.com", name="Ann")
    entry = time_service.create_entry(ann, EntryFields(START, START + timedelta(minutes=90), "Boiler"))

    graph.lose_create_answers = 1  # the event is made, its answer lost
    assert push_pending(team.id) == 0
    retry_now(db)
    graph.api.clear()
    assert push_pending(team.id) == 1
    [event] = graph.events(calendar)
    assert event["transactionId"] == f"timehub-entry-{entry.id}" and event["body"]["content"] == "Boiler"
    assert graph.events(DEFAULT_CALENDAR) == []
    assert [(r.method, r.path) for r in graph.api.requests] == [
        ("GET", f"/v1.0/groups/{GROUP}/calendar/events"),  # found by its property, not created again
        ("PATCH", f"/v1.0/groups/{GROUP}/calendar/events/{event['id']}")]

    time_service.update_entry(entry, EntryFields(START, START + timedelta(minutes=30), "Pipes"))
    graph.api.clear()
    assert push_pending(team.id) == 1
    [edited] = graph.events(calendar)
    assert edited["id"] == event["id"] and edited["end"]["dateTime"] == "2026-11-25T08:30:00"
    assert [(r.method, r.path) for r in graph.api.requests] == [
        ("PATCH", f"/v1.0/groups/{GROUP}/calendar/events/{event['id']}")]

    time_service.delete_entry(entry)
    push_pending(team.id)
    assert graph.events(calendar) == []
    assert [r.method for r in group_calls(graph, "DELETE")] == ["DELETE"]


def test_a_shared_calendars_events_are_edited_under_its_path(db, graph, team, make_user):  # noqa: F811
    """me/events reaches only the account's own mailbox; a shared calendar's event is addressed
    under me/calendars/{id} (Graph's "Update event" and "Delete event")."""
    graph.add_calendar("AAMkAna", "Projects", owner="ana@contoso.example")
    pick(db, team, "AAMkAna")
    ann = make_user("ann@example.com", name="Ann")
    entry = time_service.create_entry(ann, EntryFields(START, START + timedelta(minutes=60), "Call"))
    assert push_pending(team.id) == 1
    [event] = graph.events("AAMkAna")
    time_service.update_entry(entry, EntryFields(START, START + timedelta(minutes=45), "Call"))
    graph.api.clear()
    assert push_pending(team.id) == 1
    assert [(r.method, r.path, r.status) for r in graph.api.requests] == [
        ("PATCH", f"/v1.0/me/calendars/AAMkAna/events/{event['id']}", 200)]
    assert [e["id"] for e in graph.events("AAMkAna")] == [event["id"]]
    time_service.delete_entry(entry)
    push_pending(team.id)
    assert graph.events("AAMkAna") == []


def test_the_group_calendar_is_read_whole_by_pages_without_a_subscription(db, graph, team, make_user,  # noqa: F811
                                                                          monkeypatch, live_app):  # noqa: F811
    monkeypatch.setattr(outlook_calendar, "NOTIFIED_SCHEMES", ("https", "http"))
    monkeypatch.setattr(outlook_calendar, "GROUP_VIEW_PAGE_SIZE", 2)
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    carol = make_user("carol@example.com", name="Carol")
    sync(team)  # the default calendar: read by delta, with a subscription
    assert len(graph.subscriptions) == 1

    calendar = graph.add_group(GROUP, "Support team")
    graph.add_event("Planning", soon(1), calendar_id=calendar, attendees=("ANN@example.com", "bob@example.com"))
    review = graph.add_event("Bob's review", soon(2), calendar_id=calendar, organizer="bob@example.com")
    graph.add_event("Ann declined", soon(3), calendar_id=calendar,
                    attendees=(("ann@example.com", "declined"), "bob@example.com"))
    graph.add_event("Strangers only", soon(4), calendar_id=calendar, attendees=("someone@else.example",))
    graph.add_event("Other calendar", soon(5), attendees=("carol@example.com",))  # not the team calendar
    pick(db, team, f"group:{GROUP}")
    graph.api.clear()
    run = sync(team)
    views = graph.api.requests_to(f"/v1.0/groups/{GROUP}/calendarView")
    assert len(views) == 2 and "$skip" in views[1].args  # four events, two a page
    assert "startDateTime" in views[0].args and views[0].args["$top"] == "2"
    assert not [r for r in graph.api.requests if "delta" in r.path]
    assert graph.subscriptions == {}, "no change notifications for a group calendar: the old one is gone"
    assert run.created == 4
    assert titles_for(db, ann) == ["Planning"]
    assert titles_for(db, bob) == ["Ann declined", "Bob's review", "Planning"]
    assert titles_for(db, carol) == []

    graph.remove_event(review["id"])
    graph.api.clear()
    run = sync(team)  # the whole window again: what is no longer there is archived
    assert "startDateTime" in graph.api.requests_to(f"/v1.0/groups/{GROUP}/calendarView")[0].args
    assert (run.created, run.archived) == (0, 1)
    assert titles_for(db, bob) == ["Ann declined", "Planning"]
    assert graph.subscriptions == {}


@pytest.fixture
def team_without_group_permission(db, graph, admin):  # noqa: F811
    """The admin consented to everything but Group.ReadWrite.All."""
    graph.oauth.scope = "offline_access User.Read Calendars.ReadWrite Calendars.ReadWrite.Shared"
    return connect_through(db, graph.oauth, SLUG, admin)


def test_a_missing_group_permission_asks_for_a_reconnect_with_the_reason(db, app, graph, admin,  # noqa: F811
                                                                       team_without_group_permission):
    team = team_without_group_permission  # noqa: F811
    graph.add_group(GROUP, "Support team")
    page = login(app.test_client(), admin).get(settings_url(team)).get_data(as_text=True)
    assert offered(page) == [(DEFAULT_CALENDAR, "Calendar")]  # groups come without a name or type

    pick(db, team, f"group:{GROUP}")
    run = run_sync(team.id)
    assert run.status == "failed"
    assert [r.status for r in group_calls(graph)] == [403]
    db.session.expire_all()
    stored = db.session.get(Integration, team.id)
    assert stored.status == IntegrationStatus.NEEDS_RECONNECT
    assert "Group.ReadWrite.All" in stored.last_error and "Access is denied" in stored.last_error


def test_a_deleted_group_stops_the_push_with_a_clear_error_and_no_loop(db, graph, team, make_user):  # noqa: F811
    calendar = graph.add_group(GROUP, "Support team")
    pick(db, team, f"group:{GROUP}")
    ann = make_user("ann@example.com", name="Ann")
    first = time_service.create_entry(ann, EntryFields(START, START + timedelta(minutes=30), "Call"))
    assert push_pending(team.id) == 1 and len(graph.events(calendar)) == 1

    graph.delete_group(GROUP)
    graph.api.clear()
    time_service.update_entry(first, EntryFields(START, START + timedelta(minutes=20), "Call"))
    time_service.create_entry(ann, EntryFields(START, START + timedelta(minutes=15), "Another"))
    assert push_pending(team.id) == 0
    # The edit tries its event, then the calendar once; the new entry the calendar once: no more.
    assert [(r.method, r.status) for r in graph.api.requests] == [("PATCH", 404), ("POST", 404), ("POST", 404)]
    db.session.expire_all()
    items = db.session.scalars(select(OutboxItem).where(OutboxItem.integration_id == team.id,
                                                        OutboxItem.status != "done")).all()
    assert [item.status for item in items] == ["failed", "failed"]
    assert all("no longer exists or is no longer shared" in item.last_error for item in items)
    graph.api.clear()
    assert push_pending(team.id) == 0 and graph.api.requests == []  # failed for good: not retried

    run = run_sync(team.id)  # the read says the same
    assert run.status == "failed" and "no longer exists" in run.error
