"""app.services.time_service against the real database (SQLite, and PostgreSQL when configured)."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.models import Client, Invoice, Project, Task, TimeEntry
from app.services import time_service
from app.services.time_service import EntryFields, TimeEntryInvalid, TimeEntryLocked

NINE = datetime(2026, 11, 23, 9, 0)


@pytest.fixture
def project(db):
    project = Project(name="Website")
    db.session.add(project)
    db.session.commit()
    return project


@pytest.fixture
def task(db, project):
    task = Task(project=project, title="Fix login")
    db.session.add(task)
    db.session.commit()
    return task


def running_count(db, user):
    return db.session.scalar(select(func.count(TimeEntry.id))
                             .where(TimeEntry.user_id == user.id, TimeEntry.ended_at.is_(None)))


def add_on_invoice(db, user, status):
    client = Client(name=f"Client {status}")
    invoice = Invoice(number=f"INV-{status}", client=client, currency="EUR", status=status, issue_date=date(2026, 11, 30))
    entry = TimeEntry(user_id=user.id, started_at=NINE, ended_at=NINE + timedelta(hours=1), invoice=invoice)
    db.session.add(entry)
    db.session.commit()
    return entry


def test_start_then_stop(db, user):
    entry = time_service.start_timer(user, description="Standup", now=NINE)
    assert entry.is_running and time_service.running_entry(user) == entry
    stopped = time_service.stop_timer(user, now=NINE + timedelta(minutes=15))
    assert stopped.id == entry.id and stopped.duration == timedelta(minutes=15)
    assert time_service.running_entry(user) is None
    assert time_service.stop_timer(user) is None


def test_a_timer_stopped_within_a_minute_is_deleted(db, user):
    entry = time_service.start_timer(user, description="oops", now=NINE)
    stopped = time_service.stop_timer(user, now=NINE + timedelta(seconds=59))
    assert stopped is entry and time_service.is_too_short(stopped)
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0
    kept = time_service.start_timer(user, now=NINE + timedelta(minutes=1))
    time_service.stop_timer(user, now=NINE + timedelta(minutes=2))
    assert not time_service.is_too_short(kept) and db.session.get(TimeEntry, kept.id).duration == timedelta(minutes=1)


def test_starting_a_timer_stops_the_running_one_at_the_same_instant(db, user):
    first = time_service.start_timer(user, description="one", now=NINE)
    second = time_service.start_timer(user, description="two", now=NINE + timedelta(minutes=40))
    db.session.expire_all()
    assert first.ended_at == second.started_at == NINE + timedelta(minutes=40)
    assert second.is_running and running_count(db, user) == 1


def test_each_user_has_their_own_running_timer(db, user, admin):
    time_service.start_timer(user, now=NINE)
    time_service.start_timer(admin, now=NINE)
    assert running_count(db, user) == running_count(db, admin) == 1


def test_manual_entry_is_saved_with_a_task_implying_its_project(db, user, task):
    entry = time_service.create_entry(user, EntryFields(NINE, NINE + timedelta(hours=2), "  Review  ",
                                                        task_id=task.id, billable=False))
    db.session.expire_all()
    saved = db.session.get(TimeEntry, entry.id)
    assert (saved.project_id, saved.task_id, saved.description, saved.billable) == (task.project_id, task.id, "Review", False)


@pytest.mark.parametrize("fields, field_name", [
    (EntryFields(NINE, NINE - timedelta(minutes=1)), "ended_at"),
    (EntryFields(NINE, NINE), "ended_at"),
    (EntryFields(NINE, None), "ended_at"),
    (EntryFields(NINE, NINE + timedelta(hours=1), project_id=9999), "project"),
    (EntryFields(NINE, NINE + timedelta(hours=1), task_id=9999), "task"),
    (EntryFields(NINE, NINE + timedelta(hours=1), "x" * 1001), "description"),
])
def test_invalid_entries_are_refused_and_nothing_is_saved(db, user, fields, field_name):
    with pytest.raises(TimeEntryInvalid) as caught:
        time_service.create_entry(user, fields)
    assert field_name in caught.value.errors
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0


def test_a_task_from_another_project_is_refused(db, user, task):
    other = Project(name="Other")
    db.session.add(other)
    db.session.commit()
    with pytest.raises(TimeEntryInvalid) as caught:
        time_service.create_entry(user, EntryFields(NINE, NINE + timedelta(hours=1), project_id=other.id, task_id=task.id))
    assert caught.value.errors == {"task": "This task belongs to another project."}


def test_archived_project_is_refused_for_new_entries_but_kept_on_old_ones(db, user, project):
    entry = time_service.create_entry(user, EntryFields(NINE, NINE + timedelta(hours=1), project_id=project.id))
    project.archived = True
    db.session.commit()
    with pytest.raises(TimeEntryInvalid, match="archived"):
        time_service.create_entry(user, EntryFields(NINE, NINE + timedelta(hours=1), project_id=project.id))
    time_service.update_entry(entry, EntryFields(NINE, NINE + timedelta(hours=3), project_id=project.id))
    assert entry.duration == timedelta(hours=3)


def test_a_running_entry_can_be_edited_and_keep_running_but_a_stopped_one_cannot_restart(db, user):
    running = time_service.start_timer(user, now=NINE)
    time_service.update_entry(running, EntryFields(NINE - timedelta(hours=1), None, "earlier"))
    assert running.is_running and running.started_at == NINE - timedelta(hours=1)
    time_service.stop_timer(user, now=NINE)
    with pytest.raises(TimeEntryInvalid):
        time_service.update_entry(running, EntryFields(NINE - timedelta(hours=1), None))


def test_entries_on_a_sent_invoice_are_locked(db, user):
    for status in ("issued", "paid"):
        entry = add_on_invoice(db, user, status)
        assert time_service.is_locked(entry)
        with pytest.raises(TimeEntryLocked, match=f"INV-{status}"):
            time_service.update_entry(entry, EntryFields(NINE, NINE + timedelta(hours=5)))
        with pytest.raises(TimeEntryLocked):
            time_service.delete_entry(entry)
        db.session.expire_all()
        assert db.session.get(TimeEntry, entry.id).ended_at == NINE + timedelta(hours=1)


def test_entries_on_a_draft_invoice_can_still_change(db, user):
    entry = add_on_invoice(db, user, "draft")
    assert not time_service.is_locked(entry)
    time_service.update_entry(entry, EntryFields(NINE, NINE + timedelta(hours=2)))
    time_service.delete_entry(entry)
    assert db.session.get(TimeEntry, entry.id) is None


def test_who_sees_what(db, user, admin, make_user):
    other = make_user()
    entry = time_service.create_entry(other, EntryFields(NINE, NINE + timedelta(hours=1)))
    assert time_service.visible_entry(user, entry.id) is None
    assert time_service.visible_entry(other, entry.id) == entry
    assert time_service.visible_entry(admin, entry.id) == entry
    assert time_service.visible_user_ids(user, None) == [user.id]
    assert time_service.visible_user_ids(user, str(user.id)) == [user.id]
    for forbidden in (str(other.id), "all", "nonsense"):
        with pytest.raises(LookupError):
            time_service.visible_user_ids(user, forbidden)
    assert time_service.visible_user_ids(admin, "all") is None
    assert time_service.visible_user_ids(admin, str(other.id)) == [other.id]
    with pytest.raises(LookupError):
        time_service.visible_user_ids(admin, "9999")


def test_group_by_local_day(db, user):
    tokyo = ZoneInfo("Asia/Tokyo")
    # 23:00 UTC on the 22nd is 08:00 on the 23rd in Tokyo.
    late = time_service.create_entry(user, EntryFields(datetime(2026, 11, 22, 23, 0), datetime(2026, 11, 23, 0, 0)))
    early = time_service.create_entry(user, EntryFields(datetime(2026, 11, 22, 10, 0), datetime(2026, 11, 22, 10, 30)))
    entries = time_service.entries_between([user.id], datetime(2026, 11, 22), None)
    assert entries == [late, early]
    days = time_service.group_by_day(entries, tokyo)
    assert [(d.day, d.entries, d.total) for d in days] == [
        (date(2026, 11, 23), [late], timedelta(hours=1)), (date(2026, 11, 22), [early], timedelta(minutes=30))]
