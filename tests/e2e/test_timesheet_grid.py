"""The weekly timesheet in Chromium: hours typed with the keyboard only (Tab between cells,
Enter to save) become entries; an invoiced cell is read-only and says why; at 390 px the grid
scrolls inside its own box and the page does not."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from app import timefmt
from app.extensions import db
from app.models import Client, Invoice, InvoiceLine, Project, TimeEntry, User
from app.models.base import utcnow
from tests.e2e.conftest import sign_in

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"


def _seed(ids: dict) -> None:
    ada = db.session.scalars(db.select(User)).one()
    acme = Client(name="Acme", currency="EUR")
    website = Project(name="Website", client=acme, hourly_rate=Decimal("80"))
    db.session.add(website)
    db.session.flush()
    monday = timefmt.week_start(utcnow().date())
    issued = Invoice(number="INV-2026-0042", client=acme, currency="EUR", status="issued", issue_date=date.today(),
                     lines=[InvoiceLine(description="Website", hours=Decimal("2"), unit_price=Decimal("80"))])
    db.session.add(issued)
    db.session.flush()
    # Monday: 2 h on the issued invoice (locked). Tuesday: 1 h, free to change.
    start = datetime.combine(monday, datetime.min.time()) + timedelta(hours=8)
    db.session.add_all([
        TimeEntry(user_id=ada.id, project_id=website.id, started_at=start, ended_at=start + timedelta(hours=2),
                  invoice_id=issued.id),
        TimeEntry(user_id=ada.id, project_id=website.id, started_at=start + timedelta(days=1),
                  ended_at=start + timedelta(days=1, hours=1)),
    ])
    db.session.commit()
    ids.update(project=website.id, monday=monday)


def _hours(ids: dict) -> list[tuple[int, float]]:
    """Ada's entries as (weekday, hours), in start order."""
    def read():
        entries = db.session.scalars(db.select(TimeEntry).order_by(TimeEntry.started_at)).all()
        return [((e.started_at.date() - ids["monday"]).days, e.duration.total_seconds() / 3600) for e in entries]
    return read


def test_hours_typed_with_the_keyboard_become_entries(live_server, page):
    ids: dict = {}
    live_server.create_user(email=EMAIL, password=PASSWORD, name="Ada")
    live_server.query(lambda: _seed(ids))
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    page.get_by_role("link", name="Timesheet").click()
    row = f"{ids['project']}_0"
    monday_cell, tuesday_cell = page.locator(f"#c-{row}-0"), page.locator(f"#c-{row}-1")
    assert monday_cell.input_value() == "2:00" and monday_cell.get_attribute("readonly") is not None
    assert "on invoice INV-2026-0042, which is issued" in monday_cell.get_attribute("title")
    assert tuesday_cell.input_value() == "1:00"

    # Keyboard only: focus Tuesday, replace its value, Tab to Wednesday, type, Enter saves.
    tuesday_cell.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("2.5")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == f"c-{row}-2"
    page.keyboard.type("45m")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Saved 2 cells.")
    assert page.locator(f"#c-{row}-1").input_value() == "2:30"
    assert page.locator(f"#c-{row}-2").input_value() == "0:45"
    assert page.locator("#week-total").text_content() == "5:15"
    assert live_server.query(_hours(ids)) == [(0, 2.0), (1, 2.5), (2, 0.75)]

    # A new row from the picker, then clearing Wednesday removes its entry.
    page.select_option("#new_row", label="No project")
    page.locator("#c-new-4").fill("1:00")
    page.locator(f"#c-{row}-2").fill("")
    page.get_by_role("button", name="Save week").click()
    page.wait_for_selector("text=Saved 2 cells.")
    assert page.locator("#c-0_0-4").input_value() == "1:00"
    assert live_server.query(_hours(ids)) == [(0, 2.0), (1, 2.5), (4, 1.0)]

    # Bad input: the cell says why, nothing is saved.
    page.locator(f"#c-{row}-3").fill("lots")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Enter a duration such as")
    assert page.locator(f"#c-{row}-3").get_attribute("aria-invalid") == "true"
    assert live_server.query(_hours(ids)) == [(0, 2.0), (1, 2.5), (4, 1.0)]


def test_the_grid_fits_a_phone(live_server, browser):
    ids: dict = {}
    live_server.create_user(email=EMAIL, password=PASSWORD, name="Ada")
    live_server.query(lambda: _seed(ids))
    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        sign_in(phone, live_server.url, EMAIL, PASSWORD)
        phone.goto(live_server.url + "/timesheet")
        assert phone.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        # The grid's own box scrolls: Sunday's cell is reachable and typed into at 390 px.
        sunday = phone.locator(f"#c-{ids['project']}_0-6")
        sunday.scroll_into_view_if_needed()
        sunday.fill("3")
        phone.get_by_role("button", name="Save week").click()
        phone.wait_for_selector("text=Saved 1 cell.")
        assert phone.locator(f"#c-{ids['project']}_0-6").input_value() == "3:00"
    finally:
        context.close()
