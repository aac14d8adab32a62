"""Edits an accountant makes to an invoice at QuickBooks or Xero after TimeHub sent it: seen
by the modified-since poll (QuickBooks SyncToken, Xero UpdatedDateUTC), reported as "changed"
on the invoice page, and never overwritten, neither by a later send nor by a draft's edit.
TimeHub's own writes and payments are not edits. Real HTTP to the fakes."""
from __future__ import annotations

import html
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.models import Invoice
from app.services import invoice_service
from app.services.sync_service import run_sync
from tests.conftest import post_form
from tests.integration.test_accounting_sync import (  # noqa: F401 (fixture)
    billable_client,
    draft_for,
    exported,
    integration_of,
    link_of,
    outbox,
    push,
    set_preferences,
    side,
)


def edit_at_provider(side, remote_id: str, unit_price: float) -> None:
    if side.slug == "xero":
        side.api.edit_at_xero(remote_id, unit_amount=unit_price)
    else:
        side.api.edit_in_quickbooks(remote_id, unit_price=unit_price)


def remote_prices(side, remote_id: str) -> list[float]:
    if side.slug == "xero":
        return [line["UnitAmount"] for line in side.api.invoices[remote_id]["LineItems"]]
    return [line["SalesItemLineDetail"]["UnitPrice"] for line in side.api.invoices[remote_id]["Line"]]


def invoice_page(admin_client, invoice) -> str:
    return html.unescape(admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True))


def test_an_accountants_edit_is_reported_on_the_invoice_and_a_send_does_not_overwrite_it(
        db, admin, admin_client, side):
    invoice, remote_id = exported(db, admin, side)
    integration = integration_of(db, side.slug)
    assert run_sync(integration.id).status == "succeeded"
    assert "status-sent" in invoice_page(admin_client, invoice)  # TimeHub's own write is no edit

    edit_at_provider(side, remote_id, 120.0)  # 2.5 h at 100 became 2.5 h at 120
    assert run_sync(integration.id).status == "succeeded"
    page = invoice_page(admin_client, invoice)
    name = "Xero" if side.slug == "xero" else "QuickBooks Online"
    assert "status-changed" in page
    assert f"Changed in {name}: amount before tax 300.00 (here 250.00)" in page
    assert db.session.get(Invoice, invoice.id).status == "issued"

    # The admin presses "send" anyway: the accountant's version stays.
    response = post_form(admin_client, f"/invoices/{invoice.id}/export/{integration.id}",
                         page=f"/invoices/{invoice.id}")
    assert response.status_code == 302
    push(db, side.slug)
    assert remote_prices(side, remote_id) == [120.0]
    assert outbox(db, "invoice")[-1].status == "failed"
    assert "does not overwrite" in outbox(db, "invoice")[-1].last_error


def test_a_drafts_edit_after_an_unseen_edit_at_the_provider_is_refused_not_written(db, admin, admin_client, side):
    """The accountant edits the sent draft before any poll saw it; the draft's next edit here
    finds the provider's copy newer than TimeHub's own write and leaves it alone."""
    set_preferences(db, side.slug, {"send_drafts": True})
    client = billable_client(db, admin)
    invoice = draft_for(client)
    push(db, side.slug)
    remote_id = link_of(db, side.slug, "invoice", invoice.id)

    # TimeHub's own edit goes, and a poll afterwards reports nothing.
    invoice_service.update_draft(db.session.get(Invoice, invoice.id), due_date=None, tax_rate=Decimal("0"),
                                 notes="Net 30")
    push(db, side.slug)
    assert outbox(db, "invoice")[-1].status == "done"
    run_sync(integration_of(db, side.slug).id)
    assert "status-changed" not in invoice_page(admin_client, invoice)

    edit_at_provider(side, remote_id, 90.0)
    invoice_service.update_draft(db.session.get(Invoice, invoice.id), due_date=date.today() + timedelta(days=7),
                                 tax_rate=Decimal("0"), notes="Net 7")
    push(db, side.slug)
    item = outbox(db, "invoice")[-1]
    assert item.status == "failed" and "since TimeHub sent it" in item.last_error
    assert remote_prices(side, remote_id) == [90.0]


@pytest.mark.parametrize("side", ["xero"], indirect=True)
def test_an_invoice_voided_in_xero_is_reported(db, admin, admin_client, side):
    invoice, remote_id = exported(db, admin, side)
    side.api.edit_at_xero(remote_id, Status="VOIDED")
    run_sync(integration_of(db, side.slug).id)
    assert "Voided in Xero" in invoice_page(admin_client, invoice)


@pytest.mark.parametrize("side", ["xero"], indirect=True)
def test_a_date_inside_xeros_locked_period_is_reported_in_plain_words_and_nothing_is_made(
        db, admin, admin_client, side):
    side.api.lock_date = date.today()
    client = billable_client(db, admin)
    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    assert side.invoices(invoice.number) == []
    page = invoice_page(admin_client, invoice)
    assert "status-failed" in page and "cannot be before the period lock date" in page


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_a_stale_synctoken_from_an_email_sent_meanwhile_is_re_read_and_the_edit_goes(db, admin, side):
    """Someone e-mails the sent draft from QuickBooks between TimeHub's read and its write:
    the SyncToken moved (Fault 5010), nothing TimeHub sent changed, so one re-read and retry."""
    set_preferences(db, side.slug, {"send_drafts": True})
    invoice = draft_for(billable_client(db, admin))
    push(db, side.slug)
    remote_id = link_of(db, side.slug, "invoice", invoice.id)
    side.api.email_after_read = remote_id
    due = date.today() + timedelta(days=21)
    invoice_service.update_draft(db.session.get(Invoice, invoice.id), due_date=due, tax_rate=Decimal("0"),
                                 notes="Net 21")
    push(db, side.slug)
    assert outbox(db, "invoice")[-1].status == "done"
    assert side.api.invoices[remote_id]["DueDate"] == due.isoformat()
    updates = [r for r in side.fake.api.requests if r.method == "POST" and r.path.endswith("/invoice")
               and (r.json() or {}).get("Id") == remote_id]
    assert len(updates) == 2  # the stale one, then the one with the re-read SyncToken
