"""Xero accounting in a real browser: an admin connects Xero through the fake (two
organisations: the chooser), confirms the match of a look-alike contact, issues an invoice,
confirms the preview of Acme's first export and sees it sent, then paid once the payment is recorded at Xero and a sync runs.

The browser goes to the fake's /authorize, the app calls the fake Xero through the XERO_*
endpoint variables, and an in-process job consumer runs the pushes and the sync.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.integrations.capabilities import BOOKING_SETTING
from app.models import Client, ExternalLink, Integration, Invoice, Project, TimeEntry, User
from app.models.base import utcnow
from app.services import invoice_service
from app.services.invoice_service import InvoiceRequest
from tests.e2e.conftest import sign_in
from tests.e2e.tracker_steps import eventually, worker  # noqa: F401 (fixture)
from tests.fakes.xero import FakeXero, connection

ADMIN_EMAIL, ADMIN_PASSWORD = "ada@example.com", "correct horse battery"


@pytest.fixture
def xero(live_server, monkeypatch):
    with FakeXero(redirect_uris=(f"{live_server.url}/integrations/xero/callback",)) as fake:
        fake.connections = [connection("Demo Company (NZ)"), connection("Acme Holdings")]
        for name, value in fake.env("xero").items():
            monkeypatch.setenv(name, value)
        yield fake


def a_draft_invoice(live_server) -> tuple[int, str]:
    def make():
        admin = db.session.scalars(select(User)).one()
        client = Client(name="Acme", email="ap@acme.test", currency="NZD")
        db.session.add(client)
        db.session.flush()
        project = Project(name="Acme site", client_id=client.id, hourly_rate=Decimal("120"))
        db.session.add(project)
        db.session.flush()
        start = utcnow().replace(microsecond=0) - timedelta(days=1)
        db.session.add(TimeEntry(user_id=admin.id, project_id=project.id, started_at=start,
                                 ended_at=start + timedelta(hours=3), billable=True))
        db.session.commit()
        today = utcnow().date()
        invoice = invoice_service.create_invoice(InvoiceRequest(client_id=client.id, start=today - timedelta(days=3),
                                                                end=today, issue_date=today))
        return invoice.id, invoice.number
    return live_server.query(make)


def remote_id(live_server, invoice_id: int) -> str | None:
    return live_server.query(lambda: db.session.scalar(select(ExternalLink.external_id).where(
        ExternalLink.local_kind == "invoice", ExternalLink.local_id == invoice_id)))


@pytest.mark.e2e
def test_admin_connects_xero_confirms_a_contact_and_sees_the_invoice_sent_then_paid(
        live_server, page: Page, xero: FakeXero, worker):
    live_server.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, admin=True, name="Ada Admin")
    look_alike = xero.accounting.add_contact("ACME Ltd", "accounts@acme.test")
    sign_in(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)

    page.goto(live_server.url + "/admin/integrations/xero")
    page.fill('input[name="client_id"]', xero.oauth.client_id)
    page.fill('input[name="client_secret"]', xero.oauth.client_secret)
    page.get_by_role("button", name="Save", exact=True).click()
    with page.expect_request(lambda r: r.url.startswith(xero.oauth.base_url + "/authorize")):
        page.get_by_role("button", name="Connect", exact=True).click()
    page.get_by_label("Demo Company (NZ)").check()
    page.get_by_role("button", name="Use this organisation").click()
    expect(page.locator(".flash").first).to_contain_text("Demo Company (NZ)")
    integration_id = live_server.query(lambda: db.session.scalars(
        select(Integration.id).where(Integration.provider == "xero")).one())

    invoice_id, number = a_draft_invoice(live_server)
    page.goto(f"{live_server.url}/integrations/{integration_id}/customers")
    page.get_by_label("Customer for Acme").select_option(label="ACME Ltd (suggested)")
    page.select_option('select[name="booking_default"]', value="200|OUTPUT2")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash").first).to_contain_text("Saved")
    booking = live_server.query(lambda: db.session.get(Integration, integration_id).settings[BOOKING_SETTING])
    assert booking == {"default": "200|OUTPUT2"}

    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Issue invoice").click()
    # Acme's first export waits for the admin to see what goes, then to confirm it.
    export_row = page.locator(f'[data-export="{integration_id}"]')
    expect(export_row).to_contain_text("Waiting for your preview")
    export_row.get_by_role("link", name="Review and confirm").click()
    expect(page.locator("[data-preview]")).to_contain_text(look_alike["ContactID"])
    assert remote_id(live_server, invoice_id) is None and xero.accounting.by_number(number) == []
    page.get_by_role("button", name="Confirm and export").click()
    expect(page.locator(".flash").first).to_contain_text("Confirmed")
    eventually(lambda: remote_id(live_server, invoice_id), "the invoice to reach Xero")
    page.reload()
    expect(page.locator(f'[data-export="{integration_id}"]')).to_contain_text("sent")
    [sent] = xero.accounting.by_number(number)
    assert sent["Contact"]["ContactID"] == look_alike["ContactID"] and len(xero.accounting.contacts) == 1

    xero.accounting.pay(sent["InvoiceID"])
    page.goto(f"{live_server.url}/integrations/{integration_id}")
    page.get_by_role("button", name="Sync now").click()
    eventually(lambda: live_server.query(lambda: db.session.get(Invoice, invoice_id).status) == "paid",
               "the payment to come back")
    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    expect(page.locator(f'[data-export="{integration_id}"]')).to_contain_text("paid")
