"""Google Calendar end to end, over real HTTP to the fake Google (tests/fakes/google_calendar.py).

Each user connects their own account through the real OAuth code flow; the app reaches
the fake only through the GOOGLE_CALENDAR_* endpoint variables. Every Calendar API
request is checked against Google's description (google-calendar.json) as it arrives.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.integrations import google_calendar
from app.models import CalendarEvent, CalendarEventPerson, OutboxItem, Project, Task, TimeEntry
from app.models.base import utcnow
from app.services import calendar_service, time_service
from app.services.integration_service import IntegrationService
from app.services.sync_service import push_pending, run_sync
from app.services.time_service import EntryFields
from tests.conftest import login, post_form
from tests.fakes.google_calendar import FakeGoogleCalendar, at
from tests.oauth_steps import callback_url, connect_through

SLUG = "google_calendar"
EVENTS_PATH = "/calendar/v3/calendars/{}/events"


@pytest.fixture
def google(app, monkeypatch, admin):
    with FakeGoogleCalendar(redirect_uris=(callback_url(SLUG),)) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        IntegrationService().save_app_credentials(admin, SLUG, {"client_id": fake.oauth.client_id,
                                                                "client_secret": fake.oauth.client_secret})
        yield fake


def connect(db, google: FakeGoogleCalendar, user, email: str):
    """`user` connects the Google account `email` through the real code flow."""
    google.oauth.account = {**google.oauth.account, "email": email}
    google.calendar(email)
    return connect_through(db, google.oauth, SLUG, user)


def sync(integration):
    run = run_sync(integration.id)
    assert run.status == "succeeded", run.error
    return run


def soon(hours: float = 0, days: int = 1) -> datetime:
    """An aware UTC time near now, within the import window."""
    base = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
    return base + timedelta(hours=hours)


def event_at(google, email, title, start: datetime, minutes: int = 60, **extra) -> dict:
    return google.add_event(email, title, at(start.isoformat()), at((start + timedelta(minutes=minutes)).isoformat()),
                            **extra)


def suggested_titles(db, user) -> list[str]:
    db.session.expire_all()
    found = calendar_service.suggestions(user, utcnow() - timedelta(days=400), utcnow() + timedelta(days=400))
    return sorted(s.event.title for s in found)


def event_list_calls(google, email: str) -> list[dict]:
    return [r.args for r in google.api.requests if r.method == "GET"
            and r.path in (EVENTS_PATH.format("primary"), EVENTS_PATH.format(email))]


# -- import -----------------------------------------------------------------------------------------

def test_each_user_sees_only_their_own_calendar(db, app, google, make_user, admin):
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    event_at(google, "ann@gmail.example", "Ann's dentist", soon(9))
    event_at(google, "bob@gmail.example", "Bob's board meeting", soon(10))
    ann_integration = connect(db, google, ann, "ann@gmail.example")
    bob_integration = connect(db, google, bob, "bob@gmail.example")
    sync(ann_integration)
    sync(bob_integration)

    assert suggested_titles(db, ann) == ["Ann's dentist"]
    assert suggested_titles(db, bob) == ["Bob's board meeting"]
    assert suggested_titles(db, admin) == []
    week = soon(9).date().isoformat()
    ann_page = login(app.test_client(), ann).get(f"/calendar?week={week}").get_data(as_text=True)
    assert "Ann&#39;s dentist" in ann_page and "board meeting" not in ann_page
    # An admin looking at Ann's week sees her entries, never her calendar.
    admin_page = login(app.test_client(), admin).get(f"/calendar?week={week}&user={ann.id}").get_data(as_text=True)
    assert "dentist" not in admin_page and "board meeting" not in admin_page
    # Bob cannot convert Ann's event either.
    [ann_event] = db.session.scalars(select(CalendarEvent).where(CalendarEvent.title == "Ann's dentist"))
    bob_client = login(app.test_client(), bob)
    assert post_form(bob_client, f"/calendar/events/{ann_event.id}/convert", page="/calendar").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 0


def test_a_first_import_follows_every_page_then_reads_only_changes(db, google, make_user, monkeypatch):
    monkeypatch.setattr(google_calendar, "EVENT_PAGE_SIZE", 2)
    ann = make_user("ann@example.com")
    events = [event_at(google, "ann@gmail.example", f"Meeting {n}", soon(n)) for n in range(5)]
    integration = connect(db, google, ann, "ann@gmail.example")

    run = sync(integration)
    calls = event_list_calls(google, "ann@gmail.example")
    assert [("pageToken" in c, "syncToken" in c, c["maxResults"]) for c in calls] == \
        [(False, False, "2"), (True, False, "2"), (True, False, "2")]
    assert all(c["singleEvents"] == "true" and "timeMin" in calls[0] for c in calls)
    assert run.created == 5
    assert suggested_titles(db, ann) == [f"Meeting {n}" for n in range(5)]

    google.api.clear()
    run = sync(integration)  # nothing changed: one request with the sync token, no writes
    [call] = event_list_calls(google, "ann@gmail.example")
    assert "syncToken" in call and "timeMin" not in call
    assert (run.created, run.updated, run.archived) == (0, 0, 0)

    google.change_event("ann@gmail.example", events[1]["id"], summary="Meeting 1 (moved)")
    google.cancel_event("ann@gmail.example", events[2]["id"])
    google.api.clear()
    run = sync(integration)
    assert (run.created, run.updated, run.archived) == (0, 1, 1)
    assert suggested_titles(db, ann) == ["Meeting 0", "Meeting 1 (moved)", "Meeting 3", "Meeting 4"]


def test_server_errors_and_rate_limits_are_retried_without_duplicates(db, google, make_user, monkeypatch):
    monkeypatch.setattr(google_calendar, "EVENT_PAGE_SIZE", 2)
    ann = make_user("ann@example.com")
    for n in range(3):
        event_at(google, "ann@gmail.example", f"Meeting {n}", soon(n))
    integration = connect(db, google, ann, "ann@gmail.example")
    google.fail_next(1, 503)
    google.fail_next(1, 429)
    run = sync(integration)
    assert [r.status for r in google.api.requests][:3] == [503, 429, 200]
    assert run.created == 3 and suggested_titles(db, ann) == ["Meeting 0", "Meeting 1", "Meeting 2"]
    assert sync(integration).created == 0


def test_a_grant_without_the_calendar_scope_asks_its_owner_to_reconnect_saying_why(db, google, make_user):
    ann = make_user("ann@example.com")
    google.oauth.scope = "openid email"       # the person unticked the calendar on Google's consent screen
    integration = connect(db, google, ann, "ann@gmail.example")
    run = run_sync(integration.id)
    db.session.expire_all()
    assert run.status == "failed" and "insufficient authentication scopes" in run.error
    assert integration.status == "needs_reconnect"


def test_an_expired_sync_token_reads_the_calendar_whole_again(db, google, make_user):
    ann = make_user("ann@example.com")
    first = event_at(google, "ann@gmail.example", "Kept", soon(1))
    integration = connect(db, google, ann, "ann@gmail.example")
    sync(integration)
    google.expire_sync_tokens()
    event_at(google, "ann@gmail.example", "Added while the token expired", soon(3))
    google.change_event("ann@gmail.example", first["id"], summary="Kept, renamed")
    google.api.clear()

    run = sync(integration)
    calls = event_list_calls(google, "ann@gmail.example")
    assert ["syncToken" in c for c in calls] == [True, False]
    assert [r.status for r in google.api.requests] == [410, 200]
    assert (run.created, run.updated) == (1, 1)
    assert suggested_titles(db, ann) == ["Added while the token expired", "Kept, renamed"]
    google.api.clear()
    sync(integration)
    assert ["syncToken" in c for c in event_list_calls(google, "ann@gmail.example")] == [True]


def test_all_day_declined_free_cancelled_and_own_events_are_never_suggested(db, google, make_user):
    ann = make_user("ann@example.com")
    email = "ann@gmail.example"
    event_at(google, email, "Real meeting", soon(9))
    day = soon().date()
    google.add_event(email, "Holiday", {"date": day.isoformat()}, {"date": (day + timedelta(days=1)).isoformat()})
    event_at(google, email, "Declined party", soon(11),
             attendees=[{"email": email, "self": True, "responseStatus": "declined"}])
    event_at(google, email, "Focus time (free)", soon(12), transparency="transparent")
    cancelled = event_at(google, email, "Called off", soon(13))
    google.cancel_event(email, cancelled["id"])
    event_at(google, email, "Pushed by TimeHub", soon(14),
             extendedProperties={"private": {google_calendar.ENTRY_PROPERTY: "99"}})
    google.add_event(email, "No end", at(soon(15).isoformat()), None)
    floating = soon(16).replace(tzinfo=None).isoformat()
    google.add_event(email, "Odd zone", {"dateTime": floating, "timeZone": "Mars/Olympus_Mons"},
                     {"dateTime": floating, "timeZone": "Mars/Olympus_Mons"})
    integration = connect(db, google, ann, email)
    sync(integration)

    assert suggested_titles(db, ann) == ["Real meeting"]
    reasons = dict(db.session.execute(select(CalendarEvent.title, CalendarEvent.skip_reason)).all())
    assert reasons["Holiday"] == "all-day event" and reasons["Declined party"] == "declined"
    assert reasons["Focus time (free)"] == "shown as free" and reasons["Pushed by TimeHub"] == "pushed by TimeHub"
    assert reasons["No end"] == "no usable end time" and "Called off" not in reasons
    assert reasons["Odd zone"].startswith("no usable start (unknown time zone")


# -- suggestions become time ----------------------------------------------------------------------

def test_an_event_becomes_time_once_and_a_series_remembers_its_task(db, app, google, make_user):
    ann = make_user("ann@example.com", timezone="Europe/Paris")
    project = Project(name="Acme")
    db.session.add(project)
    db.session.flush()
    task = Task(project_id=project.id, title="Standups")
    db.session.add(task)
    db.session.commit()
    first = soon(8, days=2)
    google.add_series("ann@gmail.example", "Standup", first, 15, 3, every=timedelta(days=1))
    integration = connect(db, google, ann, "ann@gmail.example")
    sync(integration)
    client = login(app.test_client(), ann)
    events = list(db.session.scalars(select(CalendarEvent).order_by(CalendarEvent.starts_at)))
    assert [e.series_key is not None for e in events] == [True, True, True]

    week = first.date().isoformat()
    html = client.get(f"/calendar?week={week}").get_data(as_text=True)
    assert f'action="/calendar/events/{events[0].id}/convert"' in html
    response = post_form(client, f"/calendar/events/{events[0].id}/convert",
                         {"target": f"task:{task.id}", "week": week}, page=f"/calendar?week={week}")
    assert response.status_code == 302
    [entry] = db.session.scalars(select(TimeEntry))
    assert (entry.started_at, entry.ended_at) == (events[0].starts_at, events[0].ends_at)
    assert (entry.task_id, entry.project_id, entry.description) == (task.id, project.id, "Standup")

    again = post_form(client, f"/calendar/events/{events[0].id}/convert", {"target": f"task:{task.id}"},
                      page=f"/calendar?week={week}")
    assert again.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 1
    db.session.expire_all()
    # The next occurrence comes with the task chosen; the converted one is no longer offered.
    remaining = calendar_service.suggestions(ann, utcnow(), utcnow() + timedelta(days=30))
    assert [s.event.id for s in remaining] == [events[1].id, events[2].id]
    assert {(s.task_id, s.project_id) for s in remaining} == {(task.id, project.id)}
    # That week may end before the next occurrence (a Sunday's standup), so look at the next one's week.
    next_week = events[1].starts_at.date().isoformat()  # 08:00 UTC: the same day in Paris
    html = client.get(f"/calendar?week={next_week}").get_data(as_text=True)
    assert f'value="task:{task.id}" selected' in html
    # A re-import of the same event does not bring the suggestion back.
    google.change_event("ann@gmail.example", events[0].series_key + "_0", summary="Standup (renamed)")
    sync(integration)
    db.session.expire_all()
    assert [s.event.id for s in calendar_service.suggestions(ann, utcnow(), utcnow() + timedelta(days=30))] \
        == [events[1].id, events[2].id]


# -- push -------------------------------------------------------------------------------------------

def retry_now(db) -> None:
    for item in db.session.scalars(select(OutboxItem).where(OutboxItem.status == "pending")):
        item.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def pushed_events(google, email):
    return [e for e in google.events(email) if google_calendar.ENTRY_PROPERTY in
            ((e.get("extendedProperties") or {}).get("private") or {})]


def test_entries_are_pushed_as_events_and_follow_edits_and_deletes(db, google, make_user):
    ann, bob = make_user("ann@example.com"), make_user("bob@example.com")
    project = Project(name="Acme")
    db.session.add(project)
    db.session.commit()
    integration = connect(db, google, ann, "ann@gmail.example")
    start = datetime(2026, 11, 25, 8, 0)
    entry = time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=90), "Boiler",
                                                       project_id=project.id))
    time_service.create_entry(bob, EntryFields(start, start + timedelta(minutes=30), "Bob's, not Ann's"))
    assert push_pending(integration.id) == 1
    [event] = pushed_events(google, "ann@gmail.example")
    assert event["summary"] == "Acme" and event["description"] == "Boiler"
    assert event["start"]["dateTime"] == "2026-11-25T08:00:00Z" and event["end"]["dateTime"] == "2026-11-25T09:30:00Z"
    assert event["extendedProperties"]["private"][google_calendar.ENTRY_PROPERTY] == str(entry.id)

    time_service.update_entry(entry, EntryFields(start, start + timedelta(minutes=30), "Pipes", project_id=project.id))
    push_pending(integration.id)
    [edited] = pushed_events(google, "ann@gmail.example")
    assert edited["id"] == event["id"] and edited["end"]["dateTime"] == "2026-11-25T08:30:00Z"
    assert edited["description"] == "Pipes"

    # The pushed event comes back on import, but never as a suggestion.
    sync(integration)
    assert suggested_titles(db, ann) == []

    time_service.delete_entry(entry)
    push_pending(integration.id)
    assert pushed_events(google, "ann@gmail.example") == []
    db.session.expire_all()
    assert {item.status for item in db.session.scalars(select(OutboxItem))} == {"done"}


def test_a_lost_answer_never_makes_a_second_event(db, google, make_user):
    ann = make_user("ann@example.com")
    integration = connect(db, google, ann, "ann@gmail.example")
    start = datetime(2026, 11, 25, 8, 0)
    entry = time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=45), "Call"))
    google.lose_insert_answers = 1      # the insert happens; its answer never arrives
    assert push_pending(integration.id) == 0
    assert len(pushed_events(google, "ann@gmail.example")) == 1
    retry_now(db)
    google.api.clear()
    assert push_pending(integration.id) == 1
    # The retry looked the event up by its private property and patched it.
    lookups = [r.args for r in google.api.requests if r.method == "GET"]
    assert lookups and lookups[0]["privateExtendedProperty"] == f"{google_calendar.ENTRY_PROPERTY}={entry.id}"
    assert [r.method for r in google.api.requests if r.method != "GET"] == ["PATCH"]
    assert len(pushed_events(google, "ann@gmail.example")) == 1
    assert push_pending(integration.id) == 0


def test_a_calendar_that_is_gone_stops_the_push_with_a_clear_error(db, google, make_user):
    ann = make_user("ann@example.com")
    integration = connect(db, google, ann, "ann@gmail.example")
    integration.settings = {**(integration.settings or {}), google_calendar.PUSH_CALENDAR_SETTING: "gone@group"}
    db.session.commit()
    start = datetime(2026, 11, 25, 8, 0)
    time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=45), "Call"))
    push_pending(integration.id)
    db.session.expire_all()
    [item] = db.session.scalars(select(OutboxItem))
    assert item.status == "failed" and "no longer exists or is not shared" in item.last_error
    assert len([r for r in google.api.requests if r.method == "POST"]) == 1


def test_people_on_events_are_kept_apart(db, google, make_user):
    """The applier never moves an event to another user: each import names its owner."""
    ann = make_user("ann@example.com")
    event_at(google, "ann@gmail.example", "Mine", soon(2))
    integration = connect(db, google, ann, "ann@gmail.example")
    sync(integration)
    people = db.session.execute(select(CalendarEventPerson.user_id)).scalars().all()
    assert people == [ann.id]


# -- settings -------------------------------------------------------------------------------------

def test_a_user_picks_the_calendars_read_for_suggestions_from_every_page_of_their_list(db, app, google,
                                                                                        make_user, monkeypatch):
    monkeypatch.setattr(google_calendar, "CALENDAR_LIST_PAGE_SIZE", 2)
    ann = make_user("ann@example.com")
    for n in range(3):
        google.calendar("ann@gmail.example", f"team{n}@group.example", summary=f"Team {n}")
    event_at(google, "ann@gmail.example", "Team 1 review", soon(5), calendar_id="team1@group.example")
    event_at(google, "ann@gmail.example", "Primary only", soon(6))
    integration = connect(db, google, ann, "ann@gmail.example")
    client = login(app.test_client(), ann)
    html = client.get(f"/integrations/{integration.id}/settings").get_data(as_text=True)
    assert all(f"Team {n}" in html for n in range(3)) and "Calendars read for suggestions" in html
    assert len([r for r in google.api.requests if r.path.endswith("/calendarList")]) == 2  # 4 calendars, 2 a page
    integration.settings = {**(integration.settings or {}), "allow_list": ["team1@group.example"]}
    db.session.commit()
    sync(integration)
    assert suggested_titles(db, ann) == ["Team 1 review"]


def test_the_setup_page_warns_about_apps_left_in_testing(admin_client):
    html = admin_client.get(f"/admin/integrations/{SLUG}").get_data(as_text=True)
    assert "Testing" in html and "7 days" in html


def test_edits_and_deletes_follow_the_event_after_the_push_calendar_changes(db, google, make_user):
    ann = make_user("ann@example.com")
    email = "ann@gmail.example"
    google.calendar(email, "work@group.example", summary="Work")
    integration = connect(db, google, ann, email)
    start = datetime(2026, 11, 25, 8, 0)
    entry = time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=45), "Call"))
    push_pending(integration.id)
    [event] = pushed_events(google, email)
    integration.settings = {**(integration.settings or {}), google_calendar.PUSH_CALENDAR_SETTING: "work@group.example"}
    db.session.commit()
    time_service.update_entry(entry, EntryFields(start, start + timedelta(minutes=50), "Longer call"))
    push_pending(integration.id)
    [edited] = pushed_events(google, email)
    assert edited["id"] == event["id"] and edited["description"] == "Longer call"
    assert pushed_events(google, email, ) and google.events(email, "work@group.example") == []
    time_service.delete_entry(entry)
    push_pending(integration.id)
    assert pushed_events(google, email) == []
