"""Imported events belong to the connection they came through: disconnecting it removes its
suggestions (not another user's, not another connection's), keeps what someone already turned
into time, and a reconnect reads everything again without offering a converted event twice.
Over real HTTP to the fake Google Calendar and the fake Graph."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.models import CalendarEvent, CalendarEventPerson, ExternalLink, TimeEntry
from app.services import calendar_service, time_service
from app.services.integration_service import IntegrationService
from app.services.sync_service import push_pending
from app.services.time_service import EntryFields
from tests.conftest import login, post_form
from tests.integration.test_google_calendar import connect, event_at, google, soon, suggested_titles, sync  # noqa: F401
from tests.integration.test_outlook_calendar import graph, team  # noqa: F401
from tests.integration.test_outlook_calendar import soon as team_soon
from tests.integration.test_migrations import empty_database_url  # noqa: F401


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_disconnecting_google_removes_that_users_suggestions_and_keeps_converted_time(db, app, google, make_user):
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    event_at(google, "ann@gmail.example", "Standup", soon(9))
    event_at(google, "ann@gmail.example", "Dentist", soon(11))
    event_at(google, "bob@gmail.example", "Bob's review", soon(10))
    ann_integration, bob_integration = (connect(db, google, ann, "ann@gmail.example"),
                                        connect(db, google, bob, "bob@gmail.example"))
    sync(ann_integration)
    sync(bob_integration)
    assert all(e.integration_id == ann_integration.id for e in db.session.scalars(
        select(CalendarEvent).where(CalendarEvent.title.in_(["Standup", "Dentist"]))))
    [standup] = db.session.scalars(select(CalendarEvent).where(CalendarEvent.title == "Standup"))
    entry = calendar_service.convert(ann, standup.id, project_id=None, task_id=None)

    ann_client = login(app.test_client(), ann)
    answer = post_form(ann_client, "/integrations/google_calendar/disconnect", page="/integrations")
    assert answer.status_code == 302
    db.session.expire_all()
    assert suggested_titles(db, ann) == [], "no suggestion of the disconnected calendar is left"
    assert suggested_titles(db, bob) == ["Bob's review"], "another user's connection is untouched"
    assert db.session.get(TimeEntry, entry.id) is not None, "time already entered stays"
    assert _count(db, CalendarEvent, CalendarEvent.title == "Dentist") == 0
    assert _count(db, ExternalLink, ExternalLink.integration_id == ann_integration.id,
                  ExternalLink.local_kind == "calendar_event") == 1, "only the converted event keeps its link"
    week = soon(9).date().isoformat()
    assert "Dentist" not in ann_client.get(f"/calendar?week={week}").get_data(as_text=True)

    # Reconnecting reads the calendar whole again: the dentist is back once, the standup
    # (converted) is re-linked, never offered a second time.
    again = connect(db, google, ann, "ann@gmail.example")
    assert again.id == ann_integration.id
    run = sync(again)
    assert run.created == 1
    assert suggested_titles(db, ann) == ["Dentist"]
    assert _count(db, CalendarEvent, CalendarEvent.title == "Standup") == 1
    assert _count(db, TimeEntry) == 1


def test_disconnecting_keeps_what_was_pushed_linked_so_a_reconnect_updates_the_same_event(db, app, google,
                                                                                         make_user):
    ann = make_user("ann@example.com", name="Ann")
    event_at(google, "ann@gmail.example", "Dentist", soon(11))
    integration = connect(db, google, ann, "ann@gmail.example")
    start = datetime(2026, 11, 25, 8, 0)
    entry = time_service.create_entry(ann, EntryFields(start, start + timedelta(minutes=90), "Boiler"))
    assert push_pending(integration.id) == 1
    sync(integration)
    pushed = [e for e in google.events("ann@gmail.example") if e["summary"] != "Dentist"]

    IntegrationService().disconnect(ann, "google_calendar")
    db.session.expire_all()
    kinds = [link.local_kind for link in db.session.scalars(
        select(ExternalLink).where(ExternalLink.integration_id == integration.id))]
    assert kinds == ["time_entry"], "the suggestion's link went, the pushed entry's stayed"

    again = connect(db, google, ann, "ann@gmail.example")
    time_service.update_entry(entry, EntryFields(start, start + timedelta(minutes=30), "Pipes"))
    assert push_pending(again.id) == 1
    [event] = [e for e in google.events("ann@gmail.example") if e["summary"] != "Dentist"]
    assert event["id"] == pushed[0]["id"] and event["description"] == "Pipes"


def test_disconnecting_the_team_calendar_removes_everyones_suggestions_of_it(db, app, graph, team, make_user,  # noqa: F811
                                                                              admin):
    ann, bob = make_user("ann@example.com", name="Ann"), make_user("bob@example.com", name="Bob")
    graph.add_event("Planning", team_soon(1), attendees=("ann@example.com", "bob@example.com"))
    graph.add_event("Retro", team_soon(3), attendees=("bob@example.com",))
    sync(team)
    [planning] = db.session.scalars(select(CalendarEvent).where(CalendarEvent.title == "Planning"))
    calendar_service.convert(ann, planning.id, project_id=None, task_id=None)

    IntegrationService().disconnect(admin, "outlook_calendar")
    db.session.expire_all()
    assert suggested_titles(db, bob) == [], "Bob's part of the converted event and his own event are gone"
    assert [p.user_id for p in db.session.scalars(select(CalendarEventPerson))] == [ann.id]
    assert _count(db, CalendarEvent) == 1 and _count(db, TimeEntry) == 1


def test_0015_ties_existing_events_to_their_link_and_survives_down_and_up(empty_database_url, tmp_path,  # noqa: F811
                                                                          monkeypatch):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    from app import create_app
    from app.extensions import db as database

    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})

    def rows(sql: str) -> list:
        with database.engine.connect() as connection:
            return list(connection.execute(text(sql)))

    with app.app_context():
        upgrade(revision="0013")
        with database.engine.begin() as connection:
            for statement in (
                "INSERT INTO users (email, name, password_hash, role, timezone, created_at, updated_at)"
                " VALUES ('a@example.com', 'A', 'hash', 'user', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                "INSERT INTO integrations (provider, is_global, user_id, status, settings, connection_facts,"
                " connector_state, flow_state, webhook_token, created_at, updated_at) SELECT 'google_calendar',"
                " false, id, 'active', '{}', '{}', '{}', '{}', 'tok', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM users",
                "INSERT INTO calendar_events (title, starts_at, ends_at, suggestible, archived, created_at, updated_at)"
                " VALUES ('linked', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, true, false, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP), ('orphan', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, true, false,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                "INSERT INTO calendar_event_people (event_id, user_id) SELECT calendar_events.id, users.id"
                " FROM calendar_events, users",
                "INSERT INTO external_links (integration_id, local_kind, local_id, external_id, created_at,"
                " updated_at) SELECT integrations.id, 'calendar_event', calendar_events.id, 'ev1',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM integrations, calendar_events"
                " WHERE calendar_events.title = 'linked'",
            ):
                connection.execute(text(statement))

        upgrade()
        (integration_id,) = rows("SELECT id FROM integrations")[0]
        assert sorted(rows("SELECT title, integration_id FROM calendar_events")) == \
            [("linked", integration_id), ("orphan", None)]
        downgrade(revision="0013")
        assert "integration_id" not in {c["name"] for c in inspect(database.engine).get_columns("calendar_events")}
        upgrade()
        assert "ix_calendar_events_integration" in {i["name"] for i in inspect(database.engine).get_indexes(
            "calendar_events")}
        assert len(rows("SELECT id FROM calendar_event_people")) == 2, "no batch copy cascaded people away"
        database.engine.dispose()
