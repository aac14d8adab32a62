"""The time page through the real app: timer, manual entries, list, edit, delete, permissions."""
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.models import Client, Invoice, Project, Task, TimeEntry
from app.models.base import utcnow
from tests.conftest import login, post_form


def post(client, url, data=None):
    return post_form(client, url, data, page="/")


def entries(db, **where):
    db.session.expire_all()
    query = select(TimeEntry).order_by(TimeEntry.id)
    for name, value in where.items():
        query = query.where(getattr(TimeEntry, name) == value)
    return list(db.session.scalars(query))


def add_entry(db, user, start, hours=1.0, **kwargs):
    entry = TimeEntry(user_id=user.id, started_at=start, ended_at=start + timedelta(hours=hours), **kwargs)
    db.session.add(entry)
    db.session.commit()
    return entry


@pytest.fixture
def berlin_client(app, make_user):
    person = make_user("berlin@example.com", timezone="Europe/Berlin", name="Bea Berlin")
    return login(app.test_client(), person), person


@pytest.fixture
def project_with_task(db):
    project = Project(name="Website")
    task = Task(project=project, title="Fix login")
    db.session.add_all([project, task])
    db.session.commit()
    return project, task


def test_anonymous_visitors_are_sent_to_login(client, admin):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_page_offers_the_timer_and_manual_entry(user_client, project_with_task):
    html = user_client.get("/").get_data(as_text=True)
    assert "Start timer" in html and "Add entry" in html
    assert "Website" in html and "Website › Fix login" in html
    assert 'name="timer-csrf_token"' in html and 'name="entry-csrf_token"' in html


def test_timer_start_and_stop(user_client, user, db, project_with_task):
    project, task = project_with_task
    response = post(user_client, "/timer/start", {"timer-description": "Writing docs", "timer-project": project.id,
                                                  "timer-task": task.id, "timer-billable": "y"})
    assert response.status_code == 302
    [entry] = entries(db, user_id=user.id)
    assert entry.is_running and entry.description == "Writing docs" and entry.task_id == task.id and entry.billable
    html = user_client.get("/").get_data(as_text=True)
    assert 'id="running-timer"' in html and ">Stop<" in html and "Writing docs" in html
    entry.started_at -= timedelta(minutes=25)  # it has run a while (a shorter one is discarded)
    db.session.commit()

    response = post(user_client, "/timer/stop")
    assert response.status_code == 302
    [entry] = entries(db, user_id=user.id)
    assert not entry.is_running and entry.ended_at >= entry.started_at
    assert "Timer stopped" in user_client.get("/").get_data(as_text=True)
    assert 'id="running-timer"' not in user_client.get("/").get_data(as_text=True)


def test_a_timer_stopped_within_a_minute_is_discarded_and_the_user_told(user_client, user, db):
    """Issue 15: such a timer left a 0:00 entry, which the manual form would refuse."""
    post(user_client, "/timer/start", {"timer-description": "misclick"})
    response = post(user_client, "/timer/stop")
    assert response.status_code == 302
    assert entries(db, user_id=user.id) == []
    html = user_client.get("/").get_data(as_text=True)
    assert "Timer discarded" in html and "misclick" not in html


def test_a_timer_stopped_after_a_minute_is_kept(user_client, user, db):
    post(user_client, "/timer/start", {"timer-description": "short call"})
    [entry] = entries(db, user_id=user.id)
    entry.started_at -= timedelta(seconds=61)
    db.session.commit()
    post(user_client, "/timer/stop")
    [entry] = entries(db, user_id=user.id)
    assert not entry.is_running and entry.description == "short call"
    assert "Timer stopped after 0:01" in user_client.get("/").get_data(as_text=True)


def test_starting_a_second_timer_stops_the_first(user_client, user, db):
    post(user_client, "/timer/start", {"timer-description": "first"})
    response = post(user_client, "/timer/start", {"timer-description": "second"})
    assert response.status_code == 302
    first, second = entries(db, user_id=user.id)
    assert first.ended_at == second.started_at and second.is_running
    assert [e.description for e in entries(db, ended_at=None)] == ["second"]
    assert "Stopped the previous timer" in user_client.get("/").get_data(as_text=True)


def test_unticked_billable_box_makes_a_non_billable_timer(user_client, user, db):
    post(user_client, "/timer/start", {"timer-description": "internal"})
    assert entries(db, user_id=user.id)[0].billable is False


def test_post_without_csrf_token_is_refused(user_client, user, db):
    response = user_client.post("/timer/start", data={"timer-description": "sneaky"})
    assert response.status_code == 400
    assert entries(db) == []


def test_manual_entry_in_berlin_is_stored_as_utc_and_shown_in_local_time(berlin_client, db):
    client, person = berlin_client
    response = post(client, "/entries", {"entry-date": "2026-07-01", "entry-start": "09:00", "entry-end": "10:30",
                                         "entry-description": "Planning", "entry-billable": "y"})
    assert response.status_code == 302
    [entry] = entries(db, user_id=person.id)
    assert (entry.started_at, entry.ended_at) == (datetime(2026, 7, 1, 7, 0), datetime(2026, 7, 1, 8, 30))
    html = client.get("/?until=2026-07-05").get_data(as_text=True)
    assert "Wednesday, 01 July 2026" in html and "09:00–10:30" in html and "1:30" in html


def test_manual_entry_across_the_spring_dst_switch(berlin_client, db):
    client, person = berlin_client
    # 01:30 CET plus 2 hours of work ends at 04:30 CEST: the clocks skipped 02:00-03:00.
    response = post(client, "/entries", {"entry-date": "2026-03-29", "entry-start": "01:30", "entry-duration": "2:00"})
    assert response.status_code == 302
    [entry] = entries(db, user_id=person.id)
    assert (entry.started_at, entry.ended_at) == (datetime(2026, 3, 29, 0, 30), datetime(2026, 3, 29, 2, 30))
    html = client.get("/?until=2026-03-29").get_data(as_text=True)
    assert "01:30–04:30" in html and "2:00" in html


def test_a_time_the_clocks_skip_is_refused(berlin_client, db):
    client, _ = berlin_client
    response = post(client, "/entries", {"entry-date": "2026-03-29", "entry-start": "02:30", "entry-end": "04:00"})
    assert response.status_code == 422
    assert "does not exist on 2026-03-29 in Europe/Berlin" in response.get_data(as_text=True)
    assert entries(db) == []


def test_a_manual_entry_in_the_autumn_repeated_hour_takes_the_first_one(berlin_client, db):
    client, _ = berlin_client
    post(client, "/entries", {"entry-date": "2026-10-25", "entry-start": "02:15", "entry-end": "02:45"})
    [entry] = entries(db)
    assert entry.started_at == datetime(2026, 10, 25, 0, 15)  # 02:15 CEST


@pytest.mark.parametrize("data, message", [
    ({"entry-start": "10:00", "entry-end": "09:00"}, "The end must be after the start."),
    ({"entry-start": "10:00", "entry-end": "11:00", "entry-project": "9999"}, "No such project."),
    ({"entry-start": "10:00", "entry-end": "11:00", "entry-project": "abc"}, "No such project."),
    ({"entry-start": "10:00", "entry-end": "11:00", "entry-task": "9999"}, "No such task."),
    ({"entry-start": "10:00", "entry-end": "11:00", "entry-date": "31/12/2026"}, "Enter a date as YYYY-MM-DD."),
    ({"entry-start": "noon", "entry-end": "13:00"}, "Enter a time as HH:MM"),
    ({"entry-start": "10:00"}, "Fill in either the end time or the duration."),
    ({"entry-start": "10:00", "entry-end": "11:00", "entry-duration": "1h"}, "Fill in either the end time or the duration."),
    ({"entry-start": "10:00", "entry-duration": "lots"}, "Enter a duration such as"),
])
def test_bad_manual_input_rerenders_with_field_errors_and_saves_nothing(user_client, db, data, message):
    payload = {"entry-date": "2026-11-20", "entry-description": "kept", **data}
    response = post(user_client, "/entries", payload)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'class="field has-error"' in html
    assert 'value="kept"' in html  # what was typed is still there
    assert entries(db) == []


def test_a_task_of_another_project_is_refused(user_client, db, project_with_task):
    _, task = project_with_task
    other = Project(name="Other")
    db.session.add(other)
    db.session.commit()
    response = post(user_client, "/entries", {"entry-date": "2026-11-20", "entry-start": "10:00", "entry-end": "11:00",
                                              "entry-project": other.id, "entry-task": task.id})
    assert response.status_code == 422
    assert "This task belongs to another project." in response.get_data(as_text=True)
    assert entries(db) == []


def test_timer_with_unknown_project_is_refused(user_client, db):
    response = post(user_client, "/timer/start", {"timer-description": "x", "timer-project": "4242"})
    assert response.status_code == 422 and "No such project." in response.get_data(as_text=True)
    assert entries(db) == []


def test_edit_shows_local_times_and_saves_changes(berlin_client, db, project_with_task):
    client, person = berlin_client
    project, _ = project_with_task
    entry = add_entry(db, person, datetime(2026, 1, 10, 8, 0), description="old")
    html = client.get(f"/entries/{entry.id}/edit").get_data(as_text=True)
    assert 'value="2026-01-10T09:00"' in html and 'value="2026-01-10T10:00"' in html
    response = post(client, f"/entries/{entry.id}/edit?next=/calendar", {
        "started": "2026-01-10T09:15", "ended": "2026-01-10T12:00", "description": "new",
        "project": project.id, "task": "", "next": "/calendar?week=2026-01-10"})
    assert response.status_code == 302 and response.headers["Location"] == "/calendar?week=2026-01-10"
    [saved] = entries(db, id=entry.id)
    assert (saved.started_at, saved.ended_at, saved.description, saved.project_id, saved.billable) == (
        datetime(2026, 1, 10, 8, 15), datetime(2026, 1, 10, 11, 0), "new", project.id, False)


def test_edit_refuses_an_end_before_the_start(user_client, user, db):
    entry = add_entry(db, user, datetime(2026, 1, 10, 8, 0))
    response = post(user_client, f"/entries/{entry.id}/edit", {"started": "2026-01-10T09:00", "ended": "2026-01-10T08:00"})
    assert response.status_code == 422 and "The end must be after the start." in response.get_data(as_text=True)
    assert entries(db, id=entry.id)[0].started_at == datetime(2026, 1, 10, 8, 0)


def test_edit_never_redirects_off_site(user_client, user, db):
    entry = add_entry(db, user, datetime(2026, 1, 10, 8, 0))
    response = post(user_client, f"/entries/{entry.id}/edit", {
        "started": "2026-01-10T08:00", "ended": "2026-01-10T09:00", "next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_delete(user_client, user, db):
    entry = add_entry(db, user, datetime(2026, 1, 10, 8, 0))
    response = post(user_client, f"/entries/{entry.id}/delete")
    assert response.status_code == 302
    assert entries(db) == []


def test_another_users_entry_is_404(user_client, db, make_user):
    other = make_user(name="Otto Other")
    entry = add_entry(db, other, datetime(2026, 1, 10, 8, 0), description="private")
    assert user_client.get(f"/entries/{entry.id}/edit").status_code == 404
    assert post(user_client, f"/entries/{entry.id}/edit", {"started": "2026-01-10T01:00",
                                                           "ended": "2026-01-10T02:00"}).status_code == 404
    assert post(user_client, f"/entries/{entry.id}/delete").status_code == 404
    assert user_client.get(f"/?user={other.id}").status_code == 404
    assert "private" not in user_client.get("/?until=2026-01-10").get_data(as_text=True)
    [kept] = entries(db, id=entry.id)
    assert kept.started_at == datetime(2026, 1, 10, 8, 0)


def test_admin_sees_everyones_entries_and_may_edit_them(admin_client, admin, user, db):
    now = utcnow().replace(microsecond=0) - timedelta(hours=3)
    add_entry(db, admin, now, description="admin work")
    theirs = add_entry(db, user, now, description="user work")
    own = admin_client.get("/").get_data(as_text=True)
    assert "admin work" in own and "user work" not in own
    everyone = admin_client.get("/?user=all").get_data(as_text=True)
    assert "admin work" in everyone and "user work" in everyone and "Ulla User" in everyone
    only_user = admin_client.get(f"/?user={user.id}").get_data(as_text=True)
    assert "user work" in only_user and "admin work" not in only_user
    assert admin_client.get("/?user=9999").status_code == 404

    response = post(admin_client, f"/entries/{theirs.id}/edit", {
        "started": theirs.started_at.strftime("%Y-%m-%dT%H:%M"),
        "ended": (theirs.started_at + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "description": "fixed by admin", "billable": "y"})
    assert response.status_code == 302
    [saved] = entries(db, id=theirs.id)
    assert saved.description == "fixed by admin" and saved.user_id == user.id and saved.duration == timedelta(hours=2)


def test_entries_on_an_issued_invoice_are_locked(user_client, user, db):
    invoice = Invoice(number="2026-007", client=Client(name="ACME"), currency="EUR", status="issued",
                      issue_date=date(2026, 11, 1))
    start = utcnow().replace(microsecond=0) - timedelta(hours=5)
    entry = add_entry(db, user, start, description="billed", invoice=invoice)
    html = user_client.get("/").get_data(as_text=True)
    assert "locked: invoice 2026-007" in html and f"/entries/{entry.id}/delete" not in html
    page = user_client.get(f"/entries/{entry.id}/edit").get_data(as_text=True)
    assert "on invoice 2026-007, which is issued" in page
    response = post(user_client, f"/entries/{entry.id}/edit", {
        "started": "2026-01-01T08:00", "ended": "2026-01-01T09:00", "description": "changed"})
    assert response.status_code == 409 and "can no longer be changed" in response.get_data(as_text=True)
    response = post(user_client, f"/entries/{entry.id}/delete")
    assert response.status_code == 409 and "can no longer be changed" in response.get_data(as_text=True)
    [kept] = entries(db, id=entry.id)
    assert (kept.description, kept.started_at) == ("billed", start)


def test_list_shows_two_weeks_with_a_link_to_older_entries(user_client, user, db):
    now = utcnow().replace(microsecond=0)
    add_entry(db, user, now - timedelta(hours=2), description="recent")
    add_entry(db, user, now - timedelta(days=20), description="ancient")
    html = user_client.get("/").get_data(as_text=True)
    assert "recent" in html and "ancient" not in html
    link = re.search(r'href="([^"]+)">← Older<', html).group(1)
    older_page = user_client.get(link).get_data(as_text=True)
    assert "ancient" in older_page and "recent" not in older_page and "Newer →" in older_page


def test_day_groups_show_totals(user_client, user, db):
    start = datetime.combine(utcnow().date() - timedelta(days=1), datetime.min.time()).replace(hour=8)
    add_entry(db, user, start, hours=1.5)
    add_entry(db, user, start + timedelta(hours=3), hours=0.75)
    html = user_client.get("/").get_data(as_text=True)
    assert 'title="Day total">2:15<' in html
