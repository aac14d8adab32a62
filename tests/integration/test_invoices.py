"""Invoices through the real pages, service and database."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, event, func, select, text

from app.models import Client, Invoice, Project, TimeEntry
from app.services import invoice_service
from app.services.invoice_service import InvoiceRequest
from tests.conftest import post_form

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31", "issue_date": "2026-11-02", "due_date": "2026-12-02"}


def post(client, url, data=None):
    return post_form(client, url, data, page="/account")


def entry(db, user, project, start: datetime, minutes: int | None, *, billable=True, invoice=None):
    row = TimeEntry(user=user, project=project, started_at=start, billable=billable, invoice=invoice,
                    ended_at=None if minutes is None else start + timedelta(minutes=minutes))
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def billing(db, admin, make_user):
    """Acme (EUR) with two projects and a mix of entries, only some of them invoiceable."""
    worker = make_user("worker@example.com")
    acme = Client(name="Acme", currency="EUR")
    website = Project(name="Website", client=acme, hourly_rate=Decimal("80.00"))
    shop = Project(name="Shop", client=acme, hourly_rate=Decimal("100.25"))
    other = Project(name="Elsewhere", client=Client(name="Globex", currency="USD"), hourly_rate=Decimal("50"))
    db.session.add_all([website, shop, other])
    db.session.commit()
    earlier = Invoice(number="INV-2025-0007", client=acme, currency="EUR", issue_date=date(2025, 12, 1))
    db.session.add(earlier)
    db.session.commit()
    included = [
        entry(db, admin, website, datetime(2026, 10, 1, 0, 0), 90),
        entry(db, worker, website, datetime(2026, 10, 31, 23, 0), 45),
        entry(db, worker, shop, datetime(2026, 10, 15, 9, 0), 140),
    ]
    excluded = [
        entry(db, worker, website, datetime(2026, 10, 2, 9, 0), 60, billable=False),
        entry(db, admin, website, datetime(2026, 10, 3, 9, 0), None),  # timer still running
        entry(db, worker, website, datetime(2026, 9, 30, 23, 59), 60),  # before the range
        entry(db, worker, website, datetime(2026, 11, 1, 0, 0), 60),  # after the range
        entry(db, worker, website, datetime(2026, 10, 4, 9, 0), 60, invoice=earlier),
        entry(db, worker, other, datetime(2026, 10, 5, 9, 0), 60),  # another client's project
    ]
    return {"client": acme, "included": included, "excluded": excluded, "earlier": earlier}


def create(admin_client, billing, **overrides):
    return post(admin_client, "/invoices/new", {"client_id": billing["client"].id, "tax_rate": "20", **OCTOBER,
                                                **overrides})


def new_invoice(db) -> Invoice:
    return db.session.scalars(select(Invoice).where(Invoice.number != "INV-2025-0007")).one()


def test_invoice_collects_billable_finished_uninvoiced_entries_of_the_range(admin_client, billing, db):
    response = create(admin_client, billing)
    assert response.status_code == 302
    invoice = new_invoice(db)
    assert response.headers["Location"].endswith(f"/invoices/{invoice.id}")
    assert (invoice.number, invoice.status, invoice.currency) == ("INV-2026-0001", "draft", "EUR")
    assert [(line.description, line.hours, line.unit_price, line.amount) for line in invoice.lines] == [
        ("Shop", Decimal("2.33"), Decimal("100.25"), Decimal("233.58")),
        ("Website", Decimal("2.25"), Decimal("80.00"), Decimal("180.00")),
    ]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("413.58"), Decimal("82.72"), Decimal("496.30"))
    db.session.expire_all()
    assert all(e.invoice_id == invoice.id for e in billing["included"])
    assert all(e.invoice_id != invoice.id for e in billing["excluded"])

    html = admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "INV-2026-0001" in html and "496.30 EUR" in html and "233.58" in html
    assert "Issue invoice" in html and "Delete draft" in html


def test_range_follows_the_admins_time_zone(db, make_user, billing):
    # For an admin in Berlin, October starts at 30 September 22:00 UTC and ends at 31 October 23:00 UTC.
    berliner = make_user("berlin@example.com", admin=True, timezone="Europe/Berlin")
    invoice = invoice_service.create_invoice(InvoiceRequest(
        client_id=billing["client"].id, start=date(2026, 10, 1), end=date(2026, 10, 31),
        issue_date=date(2026, 11, 2), timezone=berliner.timezone))
    db.session.expire_all()
    before_range, late_october = billing["excluded"][2], billing["included"][1]
    assert before_range.invoice_id == invoice.id  # 30 Sep 23:59 UTC is 1 Oct 01:59 in Berlin
    assert late_october.invoice_id is None  # 31 Oct 23:00 UTC is 1 Nov 00:00 in Berlin


def test_no_billable_time_is_refused_with_a_clear_message(admin_client, billing, db):
    response = create(admin_client, billing, start="2026-01-01", end="2026-01-31")
    assert response.status_code == 422
    assert "Acme has no billable, finished, uninvoiced time between 2026-01-01 and 2026-01-31." in \
        response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Invoice.id))) == 1  # only the earlier one


def test_invalid_input_rerenders_with_errors_and_saves_nothing(admin_client, billing, db):
    response = create(admin_client, billing, start="2026-10-31", end="2026-10-01", tax_rate="150", client_id="0")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The end date is before the start date." in html
    assert "Number must be between 0 and 100." in html
    assert "Choose a client." in html
    assert db.session.scalar(select(func.count(Invoice.id))) == 1


def test_status_moves_forward_only(admin_client, billing, db):
    create(admin_client, billing)
    invoice = new_invoice(db)
    assert post(admin_client, f"/invoices/{invoice.id}/paid").status_code == 302  # draft cannot jump to paid
    db.session.refresh(invoice)
    assert invoice.status == "draft"

    post(admin_client, f"/invoices/{invoice.id}/issue")
    db.session.refresh(invoice)
    assert invoice.status == "issued"
    post(admin_client, f"/invoices/{invoice.id}/delete")  # issued invoices are kept
    post(admin_client, f"/invoices/{invoice.id}/issue")
    db.session.refresh(invoice)
    assert invoice.status == "issued"
    assert "it cannot become issued" in admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)

    post(admin_client, f"/invoices/{invoice.id}/paid")
    db.session.refresh(invoice)
    assert invoice.status == "paid"
    post(admin_client, f"/invoices/{invoice.id}/issue")
    db.session.refresh(invoice)
    assert invoice.status == "paid"


def test_deleting_a_draft_releases_its_entries(admin_client, billing, db):
    create(admin_client, billing)
    invoice_id = new_invoice(db).id
    response = post(admin_client, f"/invoices/{invoice_id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/invoices")
    db.session.expire_all()
    assert db.session.get(Invoice, invoice_id) is None
    assert all(e.invoice_id is None for e in billing["included"])
    assert billing["excluded"][4].invoice_id == billing["earlier"].id  # others' entries untouched

    assert create(admin_client, billing).status_code == 302  # the same time can be invoiced again
    assert new_invoice(db).total == Decimal("496.30")


def test_numbers_count_up_per_year(db, admin, billing):
    def invoice_for(day, issue_date):
        entry(db, admin, billing["client"].projects[0], datetime(2026, 12, day, 9), 60)
        return invoice_service.create_invoice(InvoiceRequest(
            client_id=billing["client"].id, start=date(2026, 12, day), end=date(2026, 12, day),
            issue_date=issue_date)).number

    assert invoice_for(1, date(2026, 12, 1)) == "INV-2026-0001"
    assert invoice_for(2, date(2026, 12, 2)) == "INV-2026-0002"
    assert invoice_for(3, date(2025, 12, 31)) == "INV-2025-0008"  # after the existing INV-2025-0007


def test_a_number_taken_by_a_concurrent_invoice_is_retried(app, db, billing):
    """Another process commits INV-2026-0001 right after this one chose the same number."""
    rival = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    fired = []

    def rival_takes_the_number(_conn, _cursor, statement, _params, _context, _many):
        if not fired and "FROM invoices" in statement and "LIKE" in statement.upper():
            fired.append(True)
            with rival.begin() as conn:
                conn.execute(text(
                    "INSERT INTO invoices (number, client_id, currency, status, issue_date, tax_rate, notes,"
                    " created_at, updated_at) VALUES ('INV-2026-0001', :client, 'EUR', 'draft', '2026-11-01', 0, '',"
                    " '2026-11-01 00:00:00', '2026-11-01 00:00:00')"), {"client": billing["client"].id})

    event.listen(db.engine, "after_cursor_execute", rival_takes_the_number)
    try:
        invoice = invoice_service.create_invoice(InvoiceRequest(
            client_id=billing["client"].id, start=date(2026, 10, 1), end=date(2026, 10, 31),
            issue_date=date(2026, 11, 2)))
    finally:
        event.remove(db.engine, "after_cursor_execute", rival_takes_the_number)
        rival.dispose()
    assert fired
    assert invoice.number == "INV-2026-0002"
    db.session.expire_all()
    assert all(e.invoice_id == invoice.id for e in billing["included"])
    assert db.session.scalar(select(func.count(Invoice.id)).where(Invoice.number.like("INV-2026-%"))) == 2


def test_invoices_and_rates_are_for_admins_only(user_client, db, admin, billing):
    """Users see their own time, not what it is billed at (issue 15)."""
    invoice = invoice_service.create_invoice(InvoiceRequest(
        client_id=billing["client"].id, start=date(2026, 10, 1), end=date(2026, 10, 31),
        issue_date=date(2026, 11, 2)))
    assert user_client.get("/invoices").status_code == 403
    detail = user_client.get(f"/invoices/{invoice.id}")
    assert detail.status_code == 403 and "413.58" not in detail.get_data(as_text=True)
    time_page = user_client.get("/").get_data(as_text=True)
    assert 'href="/invoices"' not in time_page
    website = billing["included"][0].project
    for url in ("/projects", f"/projects/{website.id}"):
        html = user_client.get(url).get_data(as_text=True)
        assert "80.00" not in html and "Hourly rate" not in html and "Rate:" not in html
    assert user_client.get("/invoices/new").status_code == 403
    assert post(user_client, "/invoices/new", {"client_id": billing["client"].id, **OCTOBER}).status_code == 403
    assert user_client.get(f"/invoices/{invoice.id}/edit").status_code == 403
    for action in ("edit", "issue", "paid", "delete"):
        assert post(user_client, f"/invoices/{invoice.id}/{action}").status_code == 403
    db.session.expire_all()
    assert invoice.status == "draft" and db.session.scalar(select(func.count(Invoice.id))) == 2


def test_invoice_list_filters_by_status(admin_client, billing, db):
    create(admin_client, billing)
    all_html = admin_client.get("/invoices").get_data(as_text=True)
    assert "INV-2026-0001" in all_html and "INV-2025-0007" in all_html
    drafts = admin_client.get("/invoices?status=draft").get_data(as_text=True)
    assert re.search(r">INV-2026-0001<", drafts) and re.search(r">INV-2025-0007<", drafts)
    assert ">INV-2026-0001<" not in admin_client.get("/invoices?status=paid").get_data(as_text=True)


def test_new_invoice_form_can_start_from_a_client(admin_client, billing):
    html = admin_client.get(f"/invoices/new?client={billing['client'].id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{billing["client"].id}">Acme \(EUR\)</option>', html)
    assert "Globex (USD)" in html


def test_time_invoiced_meanwhile_aborts_the_invoice(app, db, billing):
    """Another admin's invoice claims one of the entries between our read and our write."""
    rival = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    taken = billing["included"][0]
    fired = []

    def rival_claims_an_entry(_conn, _cursor, statement, _params, _context, _many):
        if not fired and statement.lstrip().upper().startswith("SELECT") and "FROM time_entries" in statement:
            fired.append(True)
            with rival.begin() as conn:
                conn.execute(text("UPDATE time_entries SET invoice_id = :invoice WHERE id = :entry"),
                             {"invoice": billing["earlier"].id, "entry": taken.id})

    event.listen(db.engine, "after_cursor_execute", rival_claims_an_entry)
    try:
        with pytest.raises(invoice_service.InvoiceError, match="invoiced meanwhile"):
            invoice_service.create_invoice(InvoiceRequest(
                client_id=billing["client"].id, start=date(2026, 10, 1), end=date(2026, 10, 31),
                issue_date=date(2026, 11, 2)))
    finally:
        event.remove(db.engine, "after_cursor_execute", rival_claims_an_entry)
        rival.dispose()
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Invoice.id))) == 1  # only the earlier one
    assert taken.invoice_id == billing["earlier"].id
    assert all(e.invoice_id is None for e in billing["included"][1:])


def test_only_a_drafts_terms_can_be_edited(admin_client, billing, db):
    create(admin_client, billing)
    invoice = new_invoice(db)
    response = post(admin_client, f"/invoices/{invoice.id}/edit",
                    {"due_date": "2026-11-01", "tax_rate": "7", "notes": "x"})
    assert response.status_code == 422
    assert "The due date is before the issue date." in response.get_data(as_text=True)

    response = post(admin_client, f"/invoices/{invoice.id}/edit",
                    {"due_date": "2026-11-16", "tax_rate": "7", "notes": " Net 14 "})
    assert response.status_code == 302
    db.session.refresh(invoice)
    assert (invoice.due_date, invoice.tax_rate, invoice.notes) == (date(2026, 11, 16), Decimal("7.00"), "Net 14")
    assert invoice.total == Decimal("442.53")  # 413.58 + 28.9506

    post(admin_client, f"/invoices/{invoice.id}/issue")
    post(admin_client, f"/invoices/{invoice.id}/edit", {"due_date": "", "tax_rate": "0", "notes": ""})
    db.session.refresh(invoice)
    assert (invoice.tax_rate, invoice.notes) == (Decimal("7.00"), "Net 14")


def test_admins_see_invoices_and_rates(admin_client, billing, db):
    website = billing["included"][0].project
    assert "80.00 EUR" in admin_client.get("/projects").get_data(as_text=True)
    assert "80.00 EUR" in admin_client.get(f"/projects/{website.id}").get_data(as_text=True)
    assert 'href="/invoices"' in admin_client.get("/").get_data(as_text=True)


def _lines(invoice):
    return [(line.description, line.hours) for line in invoice.lines]


def test_editing_an_entry_on_a_draft_updates_the_draft(admin_client, billing, db):
    """Issue 15: the draft kept the old hours after one of its entries was edited."""
    create(admin_client, billing)
    invoice = new_invoice(db)
    shop_entry = billing["included"][2]  # 140 minutes on Shop, by the worker; the admin may edit it
    edit_page = admin_client.get(f"/entries/{shop_entry.id}/edit").get_data(as_text=True)
    assert 'data-draft="INV-2026-0001"' in edit_page and "updates the draft" in edit_page
    response = post(admin_client, f"/entries/{shop_entry.id}/edit", {
        "started": "2026-10-15T09:00", "ended": "2026-10-15T12:00", "project": shop_entry.project_id,
        "billable": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert _lines(invoice) == [("Shop", Decimal("3.00")), ("Website", Decimal("2.25"))]
    assert (invoice.subtotal, invoice.total) == (Decimal("480.75"), Decimal("576.90"))
    assert "Draft invoice INV-2026-0001 updated" in admin_client.get("/").get_data(as_text=True)
    assert "576.90 EUR" in admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert 'data-draft="INV-2026-0001"' in admin_client.get("/?user=all&until=2026-10-31").get_data(as_text=True)


def test_deleting_an_entry_on_a_draft_updates_the_draft(admin_client, billing, db):
    create(admin_client, billing)
    invoice = new_invoice(db)
    response = post(admin_client, f"/entries/{billing['included'][2].id}/delete")
    assert response.status_code == 302
    db.session.expire_all()
    assert _lines(invoice) == [("Website", Decimal("2.25"))] and invoice.subtotal == Decimal("180.00")
    assert invoice_service.entry_count(invoice) == 2


def test_an_entry_made_non_billable_leaves_the_draft(admin_client, billing, db):
    create(admin_client, billing)
    invoice = new_invoice(db)
    shop_entry = billing["included"][2]
    post(admin_client, f"/entries/{shop_entry.id}/edit", {
        "started": "2026-10-15T09:00", "ended": "2026-10-15T11:20", "project": shop_entry.project_id})
    db.session.expire_all()
    assert shop_entry.invoice_id is None and _lines(invoice) == [("Website", Decimal("2.25"))]
    assert "taken off it" in admin_client.get("/").get_data(as_text=True)


def test_an_issued_invoices_entries_stay_locked(admin_client, billing, db):
    create(admin_client, billing)
    invoice = new_invoice(db)
    post(admin_client, f"/invoices/{invoice.id}/issue")
    shop_entry = billing["included"][2]
    response = post(admin_client, f"/entries/{shop_entry.id}/edit", {
        "started": "2026-10-15T09:00", "ended": "2026-10-15T12:00", "project": shop_entry.project_id,
        "billable": "y"})
    assert response.status_code == 409
    assert post(admin_client, f"/entries/{shop_entry.id}/delete").status_code == 409
    db.session.expire_all()
    assert _lines(invoice) == [("Shop", Decimal("2.33")), ("Website", Decimal("2.25"))]
    assert shop_entry.ended_at == datetime(2026, 10, 15, 11, 20)
