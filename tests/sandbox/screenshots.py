"""Re-take the README's sandbox screenshots: `.venv/bin/python -m tests.sandbox.screenshots`.

Builds a sandbox in a temporary folder, serves it on a free loopback port with in-process
jobs, and clicks through it in Debian's Chromium (Playwright, no browser download) as a
visitor would: Ulla's Google Calendar events as suggestions in her week, the admin's
integrations page, the admin connecting Jira and seeing its issues arrive, then issuing an
invoice to Xero (checked, not pictured). Writes docs/screenshots/sandbox-*.png."""
from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from app import jobs
from app.extensions import db
from app.models import Client, Task
from app.services import invoice_service
from app.services.integration_service import IntegrationService
from app.services.invoice_service import InvoiceRequest
from app.web_security import QuietRequestHandler
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_executable, sign_in
from tests.sandbox.build import Sandbox, build
from tests.sandbox.people import ADMIN, USERS

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 860}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.2)


def jira_tasks(sandbox: Sandbox) -> int:
    with sandbox.app.app_context():
        try:
            return len(db.session.scalars(select(Task.id).where(Task.external_key.like("WEB-%"))).all())
        finally:
            db.session.remove()


def ullas_week(page: Page, sandbox: Sandbox) -> None:
    ulla = USERS[0]
    sign_in(page, sandbox.base_url, ulla.email, sandbox.passwords[ulla.email])
    page.goto(sandbox.base_url + "/integrations")
    page.locator('article.card.integration[data-provider="google_calendar"]').get_by_role(
        "button", name="Connect my account").click()
    expect(page.locator(".flash").first).to_contain_text("Google Calendar is connected")
    monday = date.today() - timedelta(days=date.today().weekday())
    suggestion = page.locator("form.suggestion", has_text="Acme kick-off")
    for _ in range(60):                     # the first sync runs as a background job
        page.goto(f"{sandbox.base_url}/calendar?week={monday.isoformat()}")
        if suggestion.count():
            break
        time.sleep(1)
    expect(suggestion).to_be_visible()
    page.screenshot(path=str(OUT / "sandbox-calendar.png"))
    page.context.clear_cookies()


def admin_connects_jira(page: Page, sandbox: Sandbox) -> None:
    sign_in(page, sandbox.base_url, ADMIN.email, sandbox.passwords[ADMIN.email])
    page.goto(sandbox.base_url + "/integrations")             # every provider set up, nothing connected yet
    page.screenshot(path=str(OUT / "sandbox-integrations.png"))
    page.goto(sandbox.base_url + "/admin/integrations/jira")
    page.get_by_role("button", name="Connect", exact=True).click()   # the OAuth app is already saved
    page.get_by_label("Website relaunch").check()
    page.get_by_role("button", name="Save settings").click()
    wait_for(lambda: jira_tasks(sandbox) == 3, "Jira's issues to arrive")
    page.goto(sandbox.base_url + "/projects")
    page.get_by_role("link", name="Website relaunch").click()
    expect(page.get_by_text("WEB-1")).to_be_visible()
    page.screenshot(path=str(OUT / "sandbox-jira.png"))


def admin_issues_an_invoice_to_xero(page: Page, sandbox: Sandbox) -> None:
    """The README's Xero steps, checked (no picture): connect, confirm the match, issue."""
    page.goto(sandbox.base_url + "/admin/integrations/xero")
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator(".flash").first).to_contain_text("Demo Company (NZ)")
    with sandbox.app.app_context():
        integration_id = IntegrationService().integration_for(None, "xero").id
        client = db.session.scalars(select(Client)).one()
        today = date.today()
        invoice = invoice_service.create_invoice(InvoiceRequest(client_id=client.id, start=today - timedelta(days=7),
                                                                end=today, issue_date=today))
        invoice_id, number, client_name = invoice.id, invoice.number, client.name
        db.session.remove()
    page.goto(f"{sandbox.base_url}/integrations/{integration_id}/customers")
    page.get_by_label(f"Customer for {client_name}").select_option(label=f"{client_name} (suggested)")
    page.select_option('select[name="booking_default"]', index=1)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash").first).to_contain_text("Saved")
    page.goto(f"{sandbox.base_url}/invoices/{invoice_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Issue invoice").click()
    xero = sandbox.providers["xero"].fake
    wait_for(lambda: xero.accounting.by_number(number), "the invoice to reach the fake Xero")


def main() -> None:
    executable = chromium_executable()
    if executable is None:
        raise SystemExit("no Chromium: apt-get install -y chromium")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        sandbox = build(Path(folder) / "instance-sandbox", f"http://127.0.0.1:{port}", setenv=os.environ.__setitem__)
        server = make_server("127.0.0.1", port, sandbox.app, threaded=True, request_handler=QuietRequestHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        consumer = jobs.start_in_process_consumer()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.set_default_timeout(20_000)
                ullas_week(page, sandbox)
                admin_connects_jira(page, sandbox)
                admin_issues_an_invoice_to_xero(page, sandbox)
                browser.close()
        finally:
            consumer.stop(graceful=False)
            server.shutdown()
            violations = sandbox.close()
    print("\n".join(violations) or f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
