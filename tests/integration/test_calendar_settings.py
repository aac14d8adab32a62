"""The calendar choices on a connection's settings page, through the real page and the fakes:
each Google user picks the calendar receiving their entries (among the ones they may write,
from every page of their calendar list) and the calendars read for suggestions; the admin picks
Outlook's team calendar. Values are checked against what the provider lists, and nobody else
reaches a user's settings."""
from __future__ import annotations

from datetime import timedelta

from app.integrations import google_calendar, outlook_calendar
from app.models import Integration
from app.services import time_service
from app.services.sync_service import push_pending
from app.services.time_service import EntryFields
from tests.conftest import login, post_form
from tests.integration.test_google_calendar import connect, google  # noqa: F401
from tests.integration.test_outlook_calendar import graph, team  # noqa: F401
from tests.fakes.graph_calendar import DEFAULT_CALENDAR

PUSH_FIELD = "choice:" + google_calendar.PUSH_CALENDAR_SETTING
TEAM_FIELD = "choice:" + outlook_calendar.TEAM_CALENDAR_SETTING


def settings_url(integration) -> str:
    return f"/integrations/{integration.id}/settings"


def save(client, integration, **fields):
    data = {"sync_interval_minutes": "15", **fields}
    return post_form(client, settings_url(integration), data, page=settings_url(integration))


def test_a_google_user_picks_the_push_calendar_and_the_calendars_read(db, app, google, make_user, monkeypatch):
    monkeypatch.setattr(google_calendar, "CALENDAR_LIST_PAGE_SIZE", 1)  # the list comes in pages of one
    ann = make_user("ann@example.com", name="Ann")
    google.calendar("ann@gmail.example")
    google.calendar("ann@gmail.example", "work@group.example", "Work")
    google.calendar("ann@gmail.example", "holidays@group.example", "Holidays", access_role="reader")
    integration = connect(db, google, ann, "ann@gmail.example")
    client = login(app.test_client(), ann)

    page = client.get(settings_url(integration)).get_data(as_text=True)
    push_select = page[page.index(f'name="{PUSH_FIELD}"'):]
    push_select = push_select[:push_select.index("</select>")]
    assert 'value="work@group.example"' in push_select and "Your primary calendar" in push_select
    assert "holidays@group.example" not in push_select, "a calendar Ann can only read cannot receive entries"
    assert 'value="holidays@group.example"' in page, "but it can be read for suggestions"

    answer = save(client, integration, **{PUSH_FIELD: "work@group.example", "allow_mode": "chosen",
                                          "allow_list": ["ann@gmail.example", "holidays@group.example"]})
    assert answer.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Integration, integration.id).settings
    assert saved[google_calendar.PUSH_CALENDAR_SETTING] == "work@group.example"
    assert saved["allow_list"] == ["ann@gmail.example", "holidays@group.example"]

    start = time_service.utcnow().replace(microsecond=0) - timedelta(hours=3)
    time_service.create_entry(ann, EntryFields(start, start + timedelta(hours=1), "Report"))
    assert push_pending(integration.id) == 1
    assert [e["summary"] for e in google.calendar("ann@gmail.example", "work@group.example").events.values()] \
        == ["Report"]
    assert google.calendar("ann@gmail.example").events == {}

    # The primary calendar again: the setting goes, the default applies.
    assert save(client, integration, **{PUSH_FIELD: "", "allow_mode": "all"}).status_code == 302
    db.session.expire_all()
    assert google_calendar.PUSH_CALENDAR_SETTING not in db.session.get(Integration, integration.id).settings


def test_a_push_calendar_not_offered_is_refused_and_nothing_saved(db, app, google, make_user):
    ann = make_user("ann@example.com", name="Ann")
    google.calendar("ann@gmail.example", "holidays@group.example", "Holidays", access_role="reader")
    integration = connect(db, google, ann, "ann@gmail.example")
    client = login(app.test_client(), ann)
    for value in ("holidays@group.example", "someone-else@gmail.example", "x" * 5000):
        answer = save(client, integration, **{PUSH_FIELD: value, "allow_mode": "all"})
        assert answer.status_code == 422
        assert "Choose one of the listed options." in answer.get_data(as_text=True)
    db.session.expire_all()
    assert google_calendar.PUSH_CALENDAR_SETTING not in (db.session.get(Integration, integration.id).settings or {})


def test_another_user_and_an_admin_never_reach_a_users_calendar_settings(db, app, google, make_user, admin):
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    google.calendar("ann@gmail.example", "work@group.example", "Ann's secret project")
    integration = connect(db, google, ann, "ann@gmail.example")
    for intruder in (bob, admin):
        client = login(app.test_client(), intruder)
        page = client.get(settings_url(integration))
        assert page.status_code == 404 and "secret project" not in page.get_data(as_text=True)
        answer = save(client, integration, **{PUSH_FIELD: "work@group.example"})
        assert answer.status_code == 404
    db.session.expire_all()
    assert google_calendar.PUSH_CALENDAR_SETTING not in (db.session.get(Integration, integration.id).settings or {})


def test_the_admin_picks_the_team_calendar_among_the_writable_ones(db, app, graph, team, admin, make_user):  # noqa: F811
    graph.add_calendar("AAMkTeam", "Team")
    graph.add_calendar("AAMkHolidays", "Holidays", can_edit=False)
    client = login(app.test_client(), admin)
    page = client.get(settings_url(team)).get_data(as_text=True)
    assert 'value="AAMkTeam"' in page and "AAMkHolidays" not in page
    assert "The account&#39;s default calendar" in page

    assert save(client, team, **{TEAM_FIELD: "AAMkHolidays"}).status_code == 422
    assert save(client, team, **{TEAM_FIELD: "AAMkTeam"}).status_code == 302
    ann = make_user("ann@example.com", name="Ann")
    start = time_service.utcnow().replace(microsecond=0) - timedelta(hours=3)
    time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=30), "Call"))
    assert push_pending(team.id) == 1
    assert len(graph.events("AAMkTeam")) == 1 and graph.events(DEFAULT_CALENDAR) == []

    # A user who is not an admin may look at nothing of the team's setup.
    user_client = login(app.test_client(), ann)
    assert user_client.get(settings_url(team)).status_code == 403
    assert save(user_client, team, **{TEAM_FIELD: ""}).status_code == 403


def test_events_of_a_calendar_no_longer_read_stop_being_suggested(db, app, google, make_user):
    from app.services.sync_service import settings_changed
    from tests.integration.test_google_calendar import event_at, soon, suggested_titles, sync
    ann = make_user("ann@example.com", name="Ann")
    event_at(google, "ann@gmail.example", "Standup", soon(9))
    google.calendar("ann@gmail.example", "work@group.example", "Work")
    google.add_event("ann@gmail.example", "Work review", *[{"dateTime": t.isoformat()} for t in
                                                            (soon(10), soon(11))], calendar_id="work@group.example")
    integration = connect(db, google, ann, "ann@gmail.example")
    client = login(app.test_client(), ann)
    save(client, integration, allow_mode="chosen", allow_list=["ann@gmail.example", "work@group.example"])
    sync(integration)
    assert suggested_titles(db, ann) == ["Standup", "Work review"]

    save(client, integration, allow_mode="chosen", allow_list=["ann@gmail.example"])  # clears the cursors
    sync(integration)
    assert suggested_titles(db, ann) == ["Standup"]
    sync(integration)  # an incremental read (sync tokens) archives nothing
    assert suggested_titles(db, ann) == ["Standup"]


def test_events_of_the_old_team_calendar_stop_being_suggested(db, app, graph, team, admin, make_user):  # noqa: F811
    from tests.integration.test_outlook_calendar import soon, sync, titles_for
    ann = make_user("ann@example.com", name="Ann")
    graph.add_calendar("AAMkTeam", "Team")
    graph.add_event("Old standup", soon(1), attendees=("ann@example.com",))
    graph.add_event("Team retro", soon(2), attendees=("ann@example.com",), calendar_id="AAMkTeam")
    sync(team)
    assert titles_for(db, ann) == ["Old standup"]
    assert save(login(app.test_client(), admin), team, **{TEAM_FIELD: "AAMkTeam"}).status_code == 302
    sync(team)
    assert titles_for(db, ann) == ["Team retro"]
