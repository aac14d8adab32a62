"""Every page kind at 390 px wide (a phone), in Chromium: nothing scrolls sideways, the
navigation and Sign out stay reachable. A screenshot of each lands in test-artifacts/phone/
for a person to look at."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.models import Client, Integration, Invoice, InvoiceLine, Project, SyncRun, Task, TimeEntry, User
from app.models.base import utcnow
from tests.e2e.conftest import ARTIFACTS, sign_in

PHONE = {"width": 390, "height": 844}
ADMIN_EMAIL, PASSWORD = "admin@example.com", "correct horse battery"
LONG = "Reviewing the quarterly reconciliation of the supplier invoices with the accounting team"


def _seed(ids: dict) -> None:
    """Enough rows that every page shows its tables at their widest."""
    admin = db.session.scalars(db.select(User)).one()
    client = Client(name="Acme Corporation International", currency="EUR", email="billing@acme-international.com")
    project = Project(name="Website relaunch 2026", client=client, hourly_rate=Decimal("95.00"))
    db.session.add_all([client, project])
    db.session.flush()
    task = Task(project_id=project.id, title="Checkout page with the new payment provider", external_key="ACME-1234")
    db.session.add(task)
    db.session.flush()
    now = utcnow().replace(microsecond=0)
    entries = [TimeEntry(user_id=admin.id, project_id=project.id, task_id=task.id, description=LONG,
                         started_at=now - timedelta(hours=h + 2), ended_at=now - timedelta(hours=h + 1),
                         billable=bool(h % 2)) for h in range(4)]
    running = TimeEntry(user_id=admin.id, project_id=project.id, description=LONG, started_at=now - timedelta(minutes=5))
    invoice = Invoice(number="INV-2026-0001", client=client, currency="EUR", status="draft", issue_date=date.today(),
                      due_date=date.today() + timedelta(days=30), tax_rate=Decimal("19"),
                      lines=[InvoiceLine(description=project.name, hours=Decimal("12.50"), unit_price=Decimal("95"))])
    integration = Integration(provider="jira", is_global=True, status="active", account_label="acme.atlassian.net")
    db.session.add_all([*entries, running, invoice, integration])
    db.session.flush()
    db.session.add(SyncRun(integration_id=integration.id, trigger="manual", status="failed", started_at=now,
                           finished_at=now, pulled=1200, created=300, failed=2,
                           error="HTTP 503 from https://acme.atlassian.net/rest/api/3/search?jql=project%3DACME"))
    db.session.commit()
    ids.update(entry=entries[0].id, project=project.id, client=client.id, task=task.id, invoice=invoice.id,
               integration=integration.id, admin=admin.id)


PAGES = {
    "time": "/",
    "time-everyone": "/?user=all",
    "entry-edit": "/entries/{entry}/edit",
    "calendar": "/calendar",
    "report": "/reports?group=project&user=all",
    "report-by-tag": "/reports?group=tag&period=month&user=all",
    "timesheet": "/timesheet",
    "rates": "/admin/rates",
    "projects": "/projects",
    "project": "/projects/{project}",
    "task-edit": "/projects/{project}/tasks/{task}/edit",
    "clients": "/clients",
    "client-edit": "/clients/{client}/edit",
    "invoices": "/invoices",
    "invoice": "/invoices/{invoice}",
    "invoice-new": "/invoices/new",
    "invoice-seller": "/invoices/seller",
    "integrations": "/integrations",
    "integration-setup": "/admin/integrations/jira",
    "sync-history": "/integrations/{integration}",
    "sync-settings": "/integrations/{integration}/settings",
    "sync-preview": "/integrations/{integration}/preview",
    "users": "/admin/users",
    "user-edit": "/admin/users/{admin}/edit",
    "invitations": "/admin/invitations",
    "account": "/account",
    "not-found": "/no/such/page",
}


@pytest.fixture
def phone(browser):
    # Not is_mobile: Chromium would then zoom a too-wide page out to fit, hiding the overflow measured here.
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def overflow(page) -> dict:
    return page.evaluate("""() => ({
        scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth,
        wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
               && !e.closest('.scroll-x, .table-scroll')).slice(0, 5).map(e => e.tagName + '.' + e.className),
    })""")


def test_every_page_fits_a_phone(live_server, phone):
    ids: dict = {}
    live_server.create_user(email=ADMIN_EMAIL, password=PASSWORD, admin=True, name="Ada Administrator")
    live_server.query(lambda: _seed(ids))
    sign_in(phone, live_server.url, ADMIN_EMAIL, PASSWORD)
    shots = ARTIFACTS / "phone"
    shots.mkdir(parents=True, exist_ok=True)
    wide = {}
    for name, path in PAGES.items():
        phone.goto(live_server.url + path.format(**ids))
        phone.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        measured = overflow(phone)
        if measured["scrollWidth"] > measured["innerWidth"]:
            wide[name] = measured
        sign_out = phone.get_by_role("button", name="Sign out", exact=True)
        box = sign_out.bounding_box()
        if box is None or box["x"] < 0 or box["x"] + box["width"] > PHONE["width"]:
            wide[f"{name}: Sign out"] = box
    assert wide == {}, f"pages wider than the phone: {wide}"


def test_login_and_first_run_pages_fit_a_phone(live_server, phone):
    shots = ARTIFACTS / "phone"
    shots.mkdir(parents=True, exist_ok=True)
    for name, path in (("setup", "/setup"),):
        phone.goto(live_server.url + path)
        phone.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        measured = overflow(phone)
        assert measured["scrollWidth"] <= measured["innerWidth"], (name, measured)
    live_server.create_user(email=ADMIN_EMAIL, password=PASSWORD, admin=True)
    phone.goto(live_server.url + "/login")
    phone.screenshot(path=str(shots / "login.png"), full_page=True)
    measured = overflow(phone)
    assert measured["scrollWidth"] <= measured["innerWidth"], ("login", measured)
