"""Invoices as documents: the seller's details, the period, lines per project, task or
entry, the PDF (rendered and read back with pypdf), and the print view's badge."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.models import Client, Invoice, Project, SellerDetails, Task, TimeEntry
from tests.conftest import post_form

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31", "issue_date": "2026-11-02", "due_date": "2026-12-02",
           "tax_rate": "0"}
SELLER = {"name": "Nordlicht Consulting GmbH", "address": "Hafenstraße 1\n20457 Hamburg",
          "tax_id": "DE123456789", "payment_terms": "Pay within 30 days to IBAN DE02 1203 0000 0000 2020 51."}


def post(client, url, data=None, **kwargs):
    return post_form(client, url, data, page="/account", **kwargs)


def entry(db, user, project, start: datetime, minutes: int, *, task=None, description=""):
    row = TimeEntry(user=user, project=project, task=task, started_at=start, description=description,
                    ended_at=start + timedelta(minutes=minutes), billable=True)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def work(db, admin):
    """Acme with one project, two tasks, and time with and without a task."""
    acme = Client(name="Acme Ltd", currency="EUR", email="billing@acme.example")
    website = Project(name="Website", client=acme, hourly_rate=Decimal("80.00"))
    db.session.add(website)
    db.session.flush()
    design, build = Task(title="Design", project=website), Task(title="Build", project=website)
    db.session.add_all([design, build])
    db.session.commit()
    entry(db, admin, website, datetime(2026, 10, 5, 9), 60, task=design, description="Wireframes")
    entry(db, admin, website, datetime(2026, 10, 6, 9), 30, task=design, description="Mock-ups")
    entry(db, admin, website, datetime(2026, 10, 7, 9), 90, task=build, description="Templates")
    entry(db, admin, website, datetime(2026, 10, 8, 9), 15, description="Call")
    return {"client": acme}


def create(client, work, grouping: str | None = None):
    data = {"client_id": work["client"].id, **OCTOBER}
    if grouping:
        data["line_grouping"] = grouping
    response = post(client, "/invoices/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def lines(db, invoice_id: int) -> list[tuple[str, Decimal]]:
    db.session.expire_all()
    return [(line.description, line.hours) for line in db.session.get(Invoice, invoice_id).lines]


def edit_the_call(client, db, started: str, ended: str, description: str) -> TimeEntry:
    """Edit the fixture's "Call" entry (no task) through the edit page."""
    call = db.session.scalars(select(TimeEntry).where(TimeEntry.description == "Call")).one()
    response = post(client, f"/entries/{call.id}/edit", {"started": started, "ended": ended, "description": description,
                                                        "project": str(call.project_id), "task": "", "billable": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return call


def pdf_text(response) -> str:
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)


def test_lines_are_per_project_by_default_per_task_or_per_entry_as_chosen(admin_client, work, db):
    assert lines(db, create(admin_client, work)) == [("Website", Decimal("3.25"))]
    # Each invoice claims its time: delete the draft before building the next one.
    for invoice in db.session.scalars(select(Invoice)):
        post(admin_client, f"/invoices/{invoice.id}/delete")
    assert lines(db, create(admin_client, work, "task")) == [
        ("Website", Decimal("0.25")), ("Website › Build", Decimal("1.50")), ("Website › Design", Decimal("1.50"))]
    for invoice in db.session.scalars(select(Invoice)):
        post(admin_client, f"/invoices/{invoice.id}/delete")
    invoice_id = create(admin_client, work, "entry")
    assert lines(db, invoice_id) == [
        ("2026-10-05 Wireframes (Website › Design)", Decimal("1.00")),
        ("2026-10-06 Mock-ups (Website › Design)", Decimal("0.50")),
        ("2026-10-07 Templates (Website › Build)", Decimal("1.50")),
        ("2026-10-08 Call (Website)", Decimal("0.25")),
    ]
    invoice = db.session.get(Invoice, invoice_id)
    assert (invoice.period_start, invoice.period_end, invoice.line_grouping) == (
        date(2026, 10, 1), date(2026, 10, 31), "entry")


def test_an_unknown_grouping_is_refused(admin_client, work, db):
    response = post(admin_client, "/invoices/new", {"client_id": work["client"].id, **OCTOBER,
                                                    "line_grouping": "client"})
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(select(Invoice.id)) is None


def test_a_per_entry_draft_follows_an_edited_entry(admin_client, work, db):
    invoice_id = create(admin_client, work, "entry")
    edit_the_call(admin_client, db, "2026-10-08T09:00", "2026-10-08T10:00", "Long call")
    assert ("2026-10-08 Long call (Website)", Decimal("1.00")) in lines(db, invoice_id)


def test_the_seller_details_are_set_by_an_admin_and_bounded(admin_client, user_client, db):
    assert user_client.get("/invoices/seller").status_code == 403
    assert post(user_client, "/invoices/seller", SELLER).status_code == 403
    # No CSRF token: refused, nothing stored.
    assert admin_client.post("/invoices/seller", data=SELLER).status_code == 400
    too_long = post(admin_client, "/invoices/seller", {**SELLER, "tax_id": "X" * 65, "name": ""})
    assert too_long.status_code == 422
    html = too_long.get_data(as_text=True)
    assert "Field cannot be longer than 64 characters." in html and "This field is required." in html
    assert db.session.scalar(select(SellerDetails.id)) is None
    assert post(admin_client, "/invoices/seller", SELLER).status_code == 302
    assert post(admin_client, "/invoices/seller", {**SELLER, "tax_id": "DE999"}).status_code == 302
    stored = db.session.scalars(select(SellerDetails)).one()  # one row, updated in place
    assert (stored.name, stored.tax_id) == (SELLER["name"], "DE999")
    form = admin_client.get("/invoices/seller").get_data(as_text=True)
    assert "Hafenstraße 1" in form and "DE999" in form


def test_the_pdf_carries_seller_client_period_lines_totals_and_terms(admin_client, work, db):
    post(admin_client, "/invoices/seller", SELLER)
    invoice_id = create(admin_client, work, "task")
    draft = admin_client.get(f"/invoices/{invoice_id}.pdf")
    assert 'filename="draft-INV-2026-0001.pdf"' in draft.headers["Content-Disposition"]
    text = pdf_text(draft)
    assert "DRAFT invoice INV-2026-0001" in text
    for expected in ("Nordlicht Consulting GmbH", "Hafenstraße 1", "20457 Hamburg", "Tax ID: DE123456789",
                     "Acme Ltd", "billing@acme.example", "Issue date: 2026-11-02", "Due date: 2026-12-02",
                     "Period: 2026-10-01 to 2026-10-31", "Website › Design", "1.50", "120.00", "260.00 EUR",
                     "IBAN DE02 1203 0000 0000 2020 51"):
        assert expected in text, expected

    post(admin_client, f"/invoices/{invoice_id}/issue")
    issued = admin_client.get(f"/invoices/{invoice_id}.pdf")
    assert 'filename="INV-2026-0001.pdf"' in issued.headers["Content-Disposition"]
    text = pdf_text(issued)
    assert "Invoice INV-2026-0001" in text and "DRAFT" not in text


def test_an_issued_invoice_keeps_the_seller_it_was_issued_with(admin_client, work, db):
    post(admin_client, "/invoices/seller", SELLER)
    invoice_id = create(admin_client, work)
    post(admin_client, f"/invoices/{invoice_id}/issue")
    post(admin_client, "/invoices/seller", {**SELLER, "name": "Renamed AG", "tax_id": "CH-1"})
    html = admin_client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "Nordlicht Consulting GmbH" in html and "DE123456789" in html and "Renamed AG" not in html
    assert "Nordlicht Consulting GmbH" in pdf_text(admin_client.get(f"/invoices/{invoice_id}.pdf"))


def test_the_print_view_shows_the_draft_badge_only_on_a_draft(admin_client, work, db):
    invoice_id = create(admin_client, work)
    draft = admin_client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert '<p class="" data-status><span class="badge status-draft">draft</span></p>' in draft
    assert "Period: 2026-10-01 – 2026-10-31" in draft
    post(admin_client, f"/invoices/{invoice_id}/issue")
    issued = admin_client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert '<p class="no-print" data-status><span class="badge status-issued">issued</span></p>' in issued


def test_the_pdf_is_for_admins_only(user_client, admin_client, work, db):
    invoice_id = create(admin_client, work)
    assert user_client.get(f"/invoices/{invoice_id}.pdf").status_code == 403
    assert admin_client.get("/invoices/999999.pdf").status_code == 404


def test_an_entry_moved_out_of_the_period_leaves_the_draft(admin_client, work, db):
    invoice_id = create(admin_client, work, "entry")
    call = edit_the_call(admin_client, db, "2026-11-03T09:00", "2026-11-03T09:15", "Call")
    db.session.expire_all()
    assert db.session.get(TimeEntry, call.id).invoice_id is None
    assert [d for d, _ in lines(db, invoice_id)] == [
        "2026-10-05 Wireframes (Website › Design)", "2026-10-06 Mock-ups (Website › Design)",
        "2026-10-07 Templates (Website › Build)"]


def test_without_dejavu_the_pdf_falls_back_to_helvetica_and_replaces_what_it_cannot_draw(
        admin_client, work, db, monkeypatch):
    from app.services import invoice_pdf

    monkeypatch.setattr(invoice_pdf, "FONT_FILES", (invoice_pdf.Path("/nonexistent/a.ttf"),
                                                    invoice_pdf.Path("/nonexistent/b.ttf")))
    invoice_id = create(admin_client, work, "task")
    text = pdf_text(admin_client.get(f"/invoices/{invoice_id}.pdf"))
    assert "Website ? Design" in text and "Acme Ltd" in text and "260.00 EUR" in text


def test_a_per_task_draft_follows_an_entry_moved_to_another_task(admin_client, work, db):
    invoice_id = create(admin_client, work, "task")
    build = db.session.scalars(select(Task).where(Task.title == "Build")).one()
    call = db.session.scalars(select(TimeEntry).where(TimeEntry.description == "Call")).one()
    response = post(admin_client, f"/entries/{call.id}/edit", {
        "started": "2026-10-08T09:00", "ended": "2026-10-08T09:15", "description": "Call",
        "project": str(call.project_id), "task": str(build.id), "billable": "y"})
    assert response.status_code == 302
    assert lines(db, invoice_id) == [("Website › Build", Decimal("1.75")), ("Website › Design", Decimal("1.50"))]
