"""The weekly timesheet: a user's week as projects/tasks x days in their zone, where typed
hours create, lengthen, shorten or delete their entries; invoiced and running cells refuse."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.models import Client, Invoice, InvoiceLine, Project, Task, TimeEntry
from tests.conftest import login, post_form

WEEK = "2026-11-02"  # a Monday


def add(db, user, project, start, minutes, task=None, invoice=None):
    entry = TimeEntry(user_id=user.id, project_id=project.id if project else None, task_id=task.id if task else None,
                      started_at=start, ended_at=None if minutes is None else start + timedelta(minutes=minutes),
                      invoice_id=invoice.id if invoice else None)
    db.session.add(entry)
    db.session.commit()
    return entry


def mine(db, user):
    db.session.expire_all()
    return list(db.session.scalars(select(TimeEntry).where(TimeEntry.user_id == user.id)
                                   .order_by(TimeEntry.started_at, TimeEntry.id)))


def cell(html, name):
    match = re.search(rf'name="{re.escape(name)}" id="{re.escape(name)}"[^>]*value="([^"]*)"', html, re.S)
    assert match, name
    return match.group(1)


def save(client, cells: dict, week=WEEK, **extra):
    return post_form(client, f"/timesheet?week={week}", {**cells, **extra}, page=f"/timesheet?week={week}")


@pytest.fixture
def site(db):
    project = Project(name="Website", client=Client(name="Acme", currency="EUR"), hourly_rate=Decimal("80"))
    db.session.add(project)
    db.session.commit()
    return project


def test_the_grid_sums_a_users_entries_per_row_and_local_day(app, db, make_user, site, user):
    berliner = make_user("berlin@example.com", timezone="Europe/Berlin")
    task = Task(project=site, title="Design")
    db.session.add(task)
    db.session.commit()
    add(db, berliner, site, datetime(2026, 11, 2, 8), 90)
    add(db, berliner, site, datetime(2026, 11, 2, 13), 30)
    add(db, berliner, site, datetime(2026, 11, 1, 23, 30), 60, task=task)  # Sunday 23:30 UTC = Monday in Berlin
    add(db, berliner, None, datetime(2026, 11, 8, 10), 45)
    add(db, user, site, datetime(2026, 11, 3, 9), 600)                  # someone else's: never shown
    html = login(app.test_client(), berliner).get(f"/timesheet?week=2026-11-04").get_data(as_text=True)
    assert "Week of 02 Nov 2026" in html
    assert cell(html, f"c-{site.id}_0-0") == "2:00"
    assert cell(html, f"c-{site.id}_{task.id}-0") == "1:00"
    assert cell(html, "c-0_0-6") == "0:45"
    assert 'id="week-total">3:45<' in html and 'id="day-total-0">3:00<' in html
    assert "10:00" not in html


def test_typing_hours_creates_lengthens_shortens_and_deletes_entries(user_client, user, db, site):
    monday_long = add(db, user, site, datetime(2026, 11, 2, 8), 60).id
    add(db, user, site, datetime(2026, 11, 2, 14), 60)
    tuesday = add(db, user, site, datetime(2026, 11, 3, 8), 120).id
    row = f"{site.id}_0"
    response = save(user_client, {f"c-{row}-0": "1:15",     # 2 h -> 1.25 h: the second entry shrinks to 15 min
                                  f"c-{row}-1": "3",        # 2 h -> 3 h: the entry grows
                                  f"c-{row}-2": "1.5h",     # empty -> a new entry at 09:00
                                  f"c-{row}-3": ""})        # stays empty
    assert response.status_code == 302
    entries = mine(db, user)
    new_id = entries[3].id
    assert [(e.started_at, e.duration) for e in entries] == [
        (datetime(2026, 11, 2, 8), timedelta(hours=1)), (datetime(2026, 11, 2, 14), timedelta(minutes=15)),
        (datetime(2026, 11, 3, 8), timedelta(hours=3)), (datetime(2026, 11, 4, 9), timedelta(minutes=90))]
    assert entries[3].project_id == site.id and entries[3].billable  # the project's default
    assert "Saved 3 cells." in user_client.get(f"/timesheet?week={WEEK}").get_data(as_text=True)

    # Less than the first entry holds: the later one goes, the first shrinks; 0 deletes the day's time.
    response = save(user_client, {f"c-{row}-0": "0:30", f"c-{row}-1": "0"})
    assert response.status_code == 302
    assert [(e.id, e.duration) for e in mine(db, user)] == [(monday_long, timedelta(minutes=30)),
                                                           (new_id, timedelta(minutes=90))]
    assert tuesday not in [e.id for e in mine(db, user)]


def test_a_cell_sent_back_as_shown_is_left_alone(user_client, user, db, site):
    entry = add(db, user, site, datetime(2026, 11, 2, 8), 90)
    entry.ended_at += timedelta(seconds=20)  # 1:30:20, shown as 1:30
    db.session.commit()
    response = save(user_client, {f"c-{site.id}_0-0": "1:30"})
    assert response.status_code == 302
    assert mine(db, user)[0].duration == timedelta(minutes=90, seconds=20)


def test_the_new_row_adds_a_task_and_its_project(user_client, user, db, site):
    task = Task(project=site, title="Copy")
    db.session.add(task)
    db.session.commit()
    response = save(user_client, {"c-new-4": "2:00"}, new_row=f"t{task.id}")
    assert response.status_code == 302
    [entry] = mine(db, user)
    assert (entry.project_id, entry.task_id, entry.started_at, entry.duration) == (
        site.id, task.id, datetime(2026, 11, 6, 9), timedelta(hours=2))
    html = user_client.get(f"/timesheet?week={WEEK}").get_data(as_text=True)
    assert "Website › Copy" in html and cell(html, f"c-{site.id}_{task.id}-4") == "2:00"


def test_the_first_entry_starts_at_nine_in_the_users_zone(app, db, make_user, site):
    tokyo = make_user("tokyo@example.com", timezone="Asia/Tokyo")
    client = login(app.test_client(), tokyo)
    assert save(client, {"c-new-0": "1"}, new_row=f"p{site.id}").status_code == 302
    [entry] = mine(db, tokyo)
    assert entry.started_at == datetime(2026, 11, 2, 0)  # 09:00 in Tokyo


@pytest.mark.parametrize("typed, message", [
    ("lots", "Enter a duration such as"),
    ("25", "at most 24 hours"),
    ("9" * 30, "Enter hours such as"),
    ("-1", "Enter a duration such as"),
])
def test_bad_input_saves_nothing_and_says_why(user_client, user, db, site, typed, message):
    add(db, user, site, datetime(2026, 11, 2, 8), 60)
    response = save(user_client, {f"c-{site.id}_0-0": "2", f"c-{site.id}_0-1": typed})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html
    assert cell(html, f"c-{site.id}_0-1") == typed[:21]  # what was typed stays to be corrected
    assert [e.duration for e in mine(db, user)] == [timedelta(hours=1)]


def test_a_bad_new_row_is_refused(user_client, user, db, site):
    for choice, message in (("t999", "No such task."), ("x1", "No such project or task."),
                            ("p" + "9" * 40, "No such project or task.")):
        response = save(user_client, {"c-new-0": "1"}, new_row=choice)
        assert response.status_code == 422 and message in response.get_data(as_text=True), choice
    site.archived = True
    db.session.commit()
    response = save(user_client, {"c-new-0": "1"}, new_row=f"p{site.id}")
    assert response.status_code == 422 and "archived" in response.get_data(as_text=True)
    assert mine(db, user) == []


def test_invoiced_and_running_cells_refuse_with_a_clear_message_and_nothing_is_saved(
        user_client, user, db, site):
    issued = Invoice(number="INV-2026-0001", client=site.client, currency="EUR", status="issued",
                     issue_date=date(2026, 11, 10), lines=[InvoiceLine(description="Website", hours=Decimal("1"),
                                                                       unit_price=Decimal("80"))])
    db.session.add(issued)
    db.session.commit()
    locked = add(db, user, site, datetime(2026, 11, 2, 8), 60, invoice=issued)
    running = add(db, user, site, datetime(2026, 11, 3, 8), None)
    row = f"{site.id}_0"
    page = user_client.get(f"/timesheet?week={WEEK}").get_data(as_text=True)
    assert re.search(rf'name="c-{row}-0"[^>]*title="Time in this cell is on invoice INV-2026-0001[^>]*readonly', page)
    response = save(user_client, {f"c-{row}-0": "3", f"c-{row}-1": "1", f"c-{row}-2": "2"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Time in this cell is on invoice INV-2026-0001, which is issued" in html
    assert "A timer is running in this cell" in html
    assert cell(html, f"c-{row}-2") == "2"  # kept for another try
    entries = {e.id: e for e in mine(db, user)}
    assert entries[locked.id].duration == timedelta(hours=1) and entries[running.id].is_running
    assert len(entries) == 2  # Wednesday's 2 h waits until the refused cells are put back

    # Put back as shown, the rest saves.
    assert re.search(rf'name="c-{row}-1"[^>]*title="A timer is running[^>]*disabled', page)
    response = save(user_client, {f"c-{row}-0": "1:00", f"c-{row}-2": "2"})  # a disabled input is not sent
    assert response.status_code == 302 and len(mine(db, user)) == 3


def test_no_new_time_on_an_archived_projects_row(user_client, user, db, site):
    add(db, user, site, datetime(2026, 11, 2, 8), 60)
    site.archived = True
    db.session.commit()
    response = save(user_client, {f"c-{site.id}_0-0": "2", f"c-{site.id}_0-1": "1"})
    assert response.status_code == 409 and "Website is archived" in response.get_data(as_text=True)
    assert [e.duration for e in mine(db, user)] == [timedelta(hours=1)]
    # Its existing time can still be corrected.
    assert save(user_client, {f"c-{site.id}_0-0": "2"}).status_code == 302
    assert [e.duration for e in mine(db, user)] == [timedelta(hours=2)]


def test_a_cell_on_a_draft_invoice_updates_the_draft(user_client, user, db, site):
    draft = Invoice(number="INV-2026-0002", client=site.client, currency="EUR", status="draft",
                    issue_date=date(2026, 11, 10), lines=[InvoiceLine(description="Website", hours=Decimal("1"),
                                                                      unit_price=Decimal("80"))])
    db.session.add(draft)
    db.session.commit()
    add(db, user, site, datetime(2026, 11, 2, 8), 60, invoice=draft)
    assert save(user_client, {f"c-{site.id}_0-0": "2:30"}).status_code == 302
    db.session.expire_all()
    assert [(line.hours, line.amount) for line in db.session.get(Invoice, draft.id).lines] == [
        (Decimal("2.50"), Decimal("200.00"))]


def test_the_timesheet_needs_a_valid_csrf_token(user_client, user, db, site):
    response = user_client.post(f"/timesheet?week={WEEK}", data={"c-new-0": "1", "new_row": f"p{site.id}"})
    assert response.status_code == 400 and mine(db, user) == []
