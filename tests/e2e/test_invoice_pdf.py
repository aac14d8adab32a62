"""An invoice made through the pages, per task, downloaded as a PDF in Chromium and read back."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pypdf import PdfReader

from app.extensions import db
from app.models import Client, Project, Task, TimeEntry, User
from tests.e2e.conftest import sign_in

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"


def _seed() -> None:
    admin = db.session.scalars(db.select(User)).one()
    client = Client(name="Acme Ltd", currency="EUR")
    project = Project(name="Website", client=client, hourly_rate=Decimal("80"))
    db.session.add(project)
    db.session.flush()
    design = Task(project_id=project.id, title="Design")
    db.session.add(design)
    db.session.flush()
    for day, minutes, task in ((5, 90, design.id), (6, 30, None)):
        start = datetime(2026, 10, day, 9)
        db.session.add(TimeEntry(user_id=admin.id, project_id=project.id, task_id=task, started_at=start,
                                 ended_at=start + timedelta(minutes=minutes), billable=True))
    db.session.commit()


def test_an_invoice_per_task_downloads_as_a_pdf_with_the_seller_and_its_lines(live_server, page, tmp_path):
    live_server.create_user(email=EMAIL, password=PASSWORD, admin=True)
    live_server.query(_seed)
    sign_in(page, live_server.url, EMAIL, PASSWORD)

    page.goto(live_server.url + "/invoices/seller")
    page.fill('input[name="name"]', "Nordlicht Consulting GmbH")
    page.fill('textarea[name="address"]', "Hafenstraße 1\n20457 Hamburg")
    page.fill('input[name="tax_id"]', "DE123456789")
    page.fill('textarea[name="payment_terms"]', "IBAN DE02 1203 0000 0000 2020 51")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(live_server.url + "/invoices")

    page.goto(live_server.url + "/invoices/new")
    page.select_option('select[name="client_id"]', label="Acme Ltd (EUR)")
    page.fill('input[name="start"]', "2026-10-01")
    page.fill('input[name="end"]', "2026-10-31")
    page.get_by_label("task", exact=True).check()
    page.get_by_role("button", name="Create draft").click()
    page.wait_for_url(lambda url: "/invoices/new" not in url)
    assert "Period: 2026-10-01 – 2026-10-31" in page.content()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith("draft-INV-") and download.suggested_filename.endswith(".pdf")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = "\n".join(p.extract_text() for p in PdfReader(saved).pages)
    for expected in ("DRAFT invoice INV-", "Nordlicht Consulting GmbH", "Hafenstraße 1", "Tax ID: DE123456789",
                     "Acme Ltd", "Period: 2026-10-01 to 2026-10-31", "Website › Design", "1.50", "120.00",
                     "160.00 EUR", "IBAN DE02 1203 0000 0000 2020 51"):
        assert expected in text, expected


def test_the_print_view_shows_the_draft_badge_only_until_the_invoice_is_issued(live_server, page):
    live_server.create_user(email=EMAIL, password=PASSWORD, admin=True)
    live_server.query(_seed)
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    page.goto(live_server.url + "/invoices/new")
    page.select_option('select[name="client_id"]', label="Acme Ltd (EUR)")
    page.fill('input[name="start"]', "2026-10-01")
    page.fill('input[name="end"]', "2026-10-31")
    page.get_by_role("button", name="Create draft").click()
    page.wait_for_url(lambda url: "/invoices/new" not in url)
    page.emulate_media(media="print")
    assert page.locator("[data-status] .badge").is_visible()
    assert not page.locator(".topbar").is_visible() and not page.locator(".flash").first.is_visible()
    page.emulate_media(media="screen")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Issue invoice").click()
    page.wait_for_selector(".badge.status-issued")
    page.emulate_media(media="print")
    assert not page.locator("[data-status] .badge").is_visible()
    assert page.locator("h1").is_visible()
