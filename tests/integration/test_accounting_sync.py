"""QuickBooks Online and Xero as accounting connectors, end to end over real HTTP to their
fakes (tests/fakes/quickbooks_api.py, tests/fakes/xero_accounting.py), on whichever stack
the run uses (SQLite, or PostgreSQL + Redis).

The app reaches each fake only through the settings an admin has (<SLUG>_* endpoint
variables, the OAuth app saved on its setup page, the real OAuth flow). Xero requests are
validated against xero.json / xero-identity.json, QuickBooks bodies against Intuit's XSDs.
Money is involved, so the properties proven here are "nothing twice" (lost answers, re-runs,
faults), "nothing guessed" (look-alike customers), and "what the preview shows is what goes".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import httpx2
import pytest
from sqlalchemy import select

from app.integrations.capabilities import BOOKING_SETTING, CREATE_NEW, CUSTOMER_MATCHES_SETTING
from app.models import Client, ExternalLink, Integration, Invoice, OutboxItem, Project, TimeEntry
from app.models.base import utcnow
from app.services import export_gate, invoice_service
from app.services.connections import connector_for, run_context
from app.services.integration_service import IntegrationService
from app.services.invoice_service import InvoiceRequest
from app.services.sync_service import SessionLinks, push_pending, record_change, retry_failed, run_sync
from tests.fakes.quickbooks import FakeQuickBooks
from tests.fakes.xero import FakeXero
from tests.oauth_steps import connect
from tests.tracker_harness import live_app, process_deliveries  # noqa: F401 (fixture)

CALLBACK = "http://localhost/integrations/{slug}/callback"


# -- the two providers, seen the same way by the tests ----------------------------------------

@dataclass
class QuickBooksSide:
    fake: FakeQuickBooks
    slug = "quickbooks"
    booking = "1"

    @property
    def api(self):
        return self.fake.accounting

    def app_secrets(self) -> dict:
        return {"webhook_verifier_token": self.api.verifier_token}

    def invoices(self, number: str) -> list[dict]:
        return self.api.by_number(number)

    def live_invoices(self, number: str) -> list[dict]:
        return [i for i in self.invoices(number) if not i.get("_voided")]

    def customers(self) -> list[dict]:
        return list(self.api.customers.values())

    def customer_of(self, invoice: dict) -> str:
        return invoice["CustomerRef"]["value"]

    def add_customer(self, name: str, email: str = "") -> str:
        return self.api.add_customer(name, email)["Id"]

    def sent(self, entity: str) -> list[dict]:
        return [r.json() for r in self.fake.api.requests
                if r.method == "POST" and r.path.endswith(f"/{entity}") and "operation" not in r.args]

    def preview_customer(self, preview: dict) -> dict:
        return preview["customer"]

    def without_customer(self, body: dict) -> dict:
        return {k: v for k, v in body.items() if k != "CustomerRef"}

    def pay(self, remote_id: str) -> None:
        self.api.pay(remote_id)

    def webhook(self, remote_id: str, key: str | None = None) -> tuple[bytes, dict]:
        payment = next(p for p in self.api.payments.values()
                       if p["Line"][0]["LinkedTxn"][0]["TxnId"] == remote_id)
        return self.api.signed_webhook([{"name": "Payment", "id": payment["Id"], "operation": "Create",
                                         "lastUpdated": payment["MetaData"]["LastUpdatedTime"]}], key)

    def due_date(self, invoice: dict) -> str | None:
        return invoice.get("DueDate")

    def removed(self, invoice: dict) -> bool:
        return bool(invoice.get("_voided"))


@dataclass
class XeroSide:
    fake: FakeXero
    slug = "xero"
    booking = "200|OUTPUT2"

    @property
    def api(self):
        return self.fake.accounting

    def app_secrets(self) -> dict:
        return {"webhook_key": self.api.webhook_key}

    def invoices(self, number: str) -> list[dict]:
        return self.api.by_number(number)

    def live_invoices(self, number: str) -> list[dict]:
        return [i for i in self.invoices(number) if i["Status"] not in ("DELETED", "VOIDED")]

    def customers(self) -> list[dict]:
        return list(self.api.contacts.values())

    def customer_of(self, invoice: dict) -> str:
        return invoice["Contact"]["ContactID"]

    def add_customer(self, name: str, email: str = "") -> str:
        return self.api.add_contact(name, email)["ContactID"]

    def sent(self, entity: str) -> list[dict]:
        resource = {"customer": "Contacts", "invoice": "Invoices"}[entity]
        return [item for r in self.fake.api.requests if r.method == "PUT" and r.path.endswith(f"/{resource}")
                for item in r.json()[resource]]

    def preview_customer(self, preview: dict) -> dict:
        return preview["contact"]

    def without_customer(self, body: dict) -> dict:
        return {k: v for k, v in body.items() if k != "Contact"}

    def pay(self, remote_id: str) -> None:
        self.api.pay(remote_id)

    def webhook(self, remote_id: str, key: str | None = None) -> tuple[bytes, dict]:
        return self.api.signed_webhook([self.api.invoice_event(remote_id)], key)

    def due_date(self, invoice: dict) -> str | None:
        return invoice.get("DueDate")

    def removed(self, invoice: dict) -> bool:
        return invoice["Status"] in ("DELETED", "VOIDED")


SIDES = {"quickbooks": (FakeQuickBooks, QuickBooksSide), "xero": (FakeXero, XeroSide)}


@pytest.fixture(params=sorted(SIDES))
def side(request, app, db, admin, admin_client, monkeypatch):
    """A fake provider the app is pointed at, connected through the real OAuth flow, with
    invoice lines booked to one of its items / accounts."""
    fake_class, side_class = SIDES[request.param]
    slug = request.param
    with fake_class(redirect_uris=(CALLBACK.format(slug=slug),)) as fake:
        for name, value in fake.env(slug).items():
            monkeypatch.setenv(name, value)
        chosen = side_class(fake)
        IntegrationService().save_app_credentials(admin, slug, {
            "client_id": fake.oauth.client_id, "client_secret": fake.oauth.client_secret, **chosen.app_secrets()})
        response = connect(admin_client, slug)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        set_preferences(db, slug, {BOOKING_SETTING: {"default": chosen.booking}})
        yield chosen


def integration_of(db, slug: str) -> Integration:
    db.session.expire_all()
    return IntegrationService().integration_for(None, slug)


def set_preferences(db, slug: str, values: dict) -> Integration:
    integration = integration_of(db, slug)
    integration.settings = {**(integration.settings or {}), **values}
    db.session.commit()
    return integration


def confirm_first_export(db, client: Client) -> None:
    """What an admin's "Confirm and export" leaves behind, at every accounting connection: the
    client's exports go without waiting (tests/integration/test_export_gate.py proves the gate)."""
    for integration in db.session.scalars(select(Integration)):
        if export_gate.gated(integration):
            export_gate.confirm(db.session, integration, client.id)
    db.session.commit()


def billable_client(db, admin, name: str = "Acme", email: str = "billing@acme.test", *,
                    queued: bool = True, confirmed: bool = True) -> Client:
    """A client with two and a half billable hours; `queued`: its creation is queued for the
    accounting connections, as saving it on the clients page does; `confirmed`: its first
    export was confirmed already (confirm_first_export)."""
    client = Client(name=name, email=email, currency="EUR")
    db.session.add(client)
    db.session.flush()
    if confirmed:
        confirm_first_export(db, client)
    if queued:
        record_change(db.session, "client", client, "upsert")
    project = Project(name=f"{name} site", client_id=client.id, hourly_rate=Decimal("100"))
    db.session.add(project)
    db.session.flush()
    start = utcnow().replace(microsecond=0) - timedelta(days=1)
    db.session.add(TimeEntry(user_id=admin.id, project_id=project.id, started_at=start,
                             ended_at=start + timedelta(hours=2, minutes=30), billable=True))
    db.session.commit()
    return client


def draft_for(client: Client) -> Invoice:
    today = utcnow().date()
    return invoice_service.create_invoice(InvoiceRequest(client_id=client.id, start=today - timedelta(days=3),
                                                         end=today, issue_date=today, notes="Thank you"))


def push(db, slug: str) -> int:
    """What the push job does, once every waiting change is due."""
    integration = integration_of(db, slug)
    db.session.execute(OutboxItem.__table__.update().where(OutboxItem.status == "pending")
                       .values(next_attempt_at=utcnow()))
    db.session.commit()
    return push_pending(integration.id)


def link_of(db, slug: str, kind: str, local_id: int) -> str | None:
    integration = integration_of(db, slug)
    return db.session.scalar(select(ExternalLink.external_id).where(
        ExternalLink.integration_id == integration.id, ExternalLink.local_kind == kind,
        ExternalLink.local_id == local_id))


def outbox(db, kind: str) -> list[OutboxItem]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.local_kind == kind).order_by(OutboxItem.id)))


def preview_of(db, slug: str, invoice: Invoice) -> dict:
    integration = integration_of(db, slug)
    connector = connector_for(integration)
    return connector.invoice_preview(db.session.get(Invoice, invoice.id),
                                     run_context(integration, SessionLinks(db.session, integration.id)))


# -- export ----------------------------------------------------------------------------------

def test_an_issued_invoice_goes_out_once_customer_first_exactly_as_previewed(db, admin, side):
    client = billable_client(db, admin)
    invoice = draft_for(client)
    assert push(db, side.slug) == 1  # the client's change; a draft stays here
    assert side.sent("invoice") == []
    customer_id = link_of(db, side.slug, "client", client.id)
    assert [c["Name" if side.slug == "xero" else "DisplayName"] for c in side.customers()] == ["Acme"]

    preview = preview_of(db, side.slug, invoice)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)

    [sent] = side.sent("invoice")
    assert sent == {**preview["invoice"], **{k: v for k, v in sent.items() if k in ("CustomerRef", "Contact")}}
    assert side.without_customer(sent) == side.without_customer(preview["invoice"])
    [remote] = side.invoices(invoice.number)
    assert side.customer_of(remote) == customer_id
    assert link_of(db, side.slug, "invoice", invoice.id) == (remote.get("Id") or remote.get("InvoiceID"))
    # A re-run sends nothing more.
    before = len(side.fake.api.requests)
    assert push(db, side.slug) == 0
    assert len(side.fake.api.requests) == before


def test_the_preview_before_a_clients_first_export_shows_the_customer_to_be_created(db, admin, side):
    """A client that existed before the connection: its customer is made with its first invoice."""
    client = billable_client(db, admin, name="Borealis", email="ap@borealis.test", queued=False)
    invoice = draft_for(client)
    preview = preview_of(db, side.slug, invoice)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)

    [customer_sent] = side.sent("customer")
    assert customer_sent == side.preview_customer(preview)
    [sent] = side.sent("invoice")
    assert side.without_customer(sent) == side.without_customer(preview["invoice"])
    assert len(side.live_invoices(invoice.number)) == 1


def test_a_lost_answer_never_makes_a_second_invoice(db, admin, side):
    client = billable_client(db, admin)
    push(db, side.slug)
    invoice = draft_for(client)
    side.api.drop_answers(1)  # the provider stores the invoice; its answer never arrives
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)

    assert side.api.dropped == 1
    assert len(side.invoices(invoice.number)) == 1
    remote = side.invoices(invoice.number)[0]
    assert link_of(db, side.slug, "invoice", invoice.id) == (remote.get("Id") or remote.get("InvoiceID"))
    assert [item.status for item in outbox(db, "invoice")] == ["done"]


def test_after_a_crash_the_next_run_finds_the_invoice_by_number_instead_of_creating_it(db, admin, side):
    """Every answer of one run lost (the retries too), and the provider's memory of the
    idempotency key gone by the next run: the number is what prevents a duplicate."""
    client = billable_client(db, admin)
    push(db, side.slug)
    invoice = draft_for(client)
    side.api.drop_answers(50)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    [item] = [i for i in outbox(db, "invoice") if i.status != "skipped"][-1:]
    assert item.status == "pending" and item.attempts == 1
    assert len(side.invoices(invoice.number)) == 1  # it arrived, unanswered
    side.api.drop_answers(0)
    side.api.forget_idempotency_keys() if side.slug == "xero" else side.api.forget_request_ids()

    push(db, side.slug)
    [remote] = side.invoices(invoice.number)
    assert link_of(db, side.slug, "invoice", invoice.id) == (remote.get("Id") or remote.get("InvoiceID"))
    assert outbox(db, "invoice")[-1].status == "done"


def test_server_errors_and_lost_answers_reach_the_same_end_state(db, admin, side):
    clients = [billable_client(db, admin, name=f"Client {n}", email=f"c{n}@example.test") for n in range(3)]
    invoices = [draft_for(client) for client in clients]
    side.api.fail_next(2)
    side.api.drop_answers(2)
    for invoice in invoices:
        invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    for _ in range(3):
        push(db, side.slug)
    for invoice in invoices:
        assert len(side.invoices(invoice.number)) == 1
        assert link_of(db, side.slug, "invoice", invoice.id) is not None
    assert sorted(c["Name" if side.slug == "xero" else "DisplayName"] for c in side.customers()) == [
        "Client 0", "Client 1", "Client 2"]


# -- drafts: edits update, deletion voids ----------------------------------------------------

def test_a_sent_draft_follows_its_edits_and_is_voided_when_deleted(db, admin, side):
    set_preferences(db, side.slug, {"send_drafts": True})
    client = billable_client(db, admin)
    invoice = draft_for(client)
    push(db, side.slug)
    [remote] = side.invoices(invoice.number)
    assert side.due_date(remote) in (None, invoice.issue_date.isoformat())

    due = invoice.issue_date + timedelta(days=14)
    invoice_service.update_draft(db.session.get(Invoice, invoice.id), due_date=due, tax_rate=Decimal("0"),
                                 notes="Net 14")
    push(db, side.slug)
    [remote] = side.invoices(invoice.number)
    assert side.due_date(remote) == due.isoformat()

    invoice_service.delete_draft(db.session.get(Invoice, invoice.id))
    push(db, side.slug)
    [remote] = side.invoices(invoice.number)
    assert side.removed(remote)
    assert link_of(db, side.slug, "invoice", invoice.id) is None


# -- customers: suggested, confirmed, never guessed -------------------------------------------

def test_a_look_alike_customer_is_suggested_never_linked_or_duplicated_until_the_admin_decides(db, admin, side):
    existing = side.add_customer("ACME Ltd.", "someone@else.test")
    client = billable_client(db, admin, name="Acme")
    push(db, side.slug)
    [item] = outbox(db, "client")
    assert item.status == "failed" and "ACME Ltd." in item.last_error and "confirm" in item.last_error
    assert len(side.customers()) == 1
    assert link_of(db, side.slug, "client", client.id) is None

    integration = integration_of(db, side.slug)
    suggested = connector_for(integration).suggestions(client, connector_for(integration).customer_candidates())
    assert [party.remote_id for party in suggested] == [existing]

    set_preferences(db, side.slug, {CUSTOMER_MATCHES_SETTING: {str(client.id): existing}})
    retry_failed(db.session, integration.id)
    push(db, side.slug)
    assert link_of(db, side.slug, "client", client.id) == existing
    assert len(side.customers()) == 1


def test_create_new_makes_a_separate_customer_when_the_admin_says_so(db, admin, side):
    side.add_customer("Acme Inc")
    client = billable_client(db, admin, name="Acme", email="")
    set_preferences(db, side.slug, {CUSTOMER_MATCHES_SETTING: {str(client.id): CREATE_NEW}})
    push(db, side.slug)
    assert len(side.customers()) == 2
    assert link_of(db, side.slug, "client", client.id) not in (None, side.customers()[0].get("Id"))


def test_every_page_of_customers_is_read(db, admin, side):
    count = 2500 if side.slug == "quickbooks" else 250  # three pages at each provider's page size
    for n in range(count):
        side.add_customer(f"Customer {n:04d}")
    integration = integration_of(db, side.slug)
    candidates = connector_for(integration).customer_candidates()
    assert len(candidates) == count and len({c.remote_id for c in candidates}) == count


# -- paid status back -----------------------------------------------------------------------

def exported(db, admin, side) -> tuple[Invoice, str]:
    client = billable_client(db, admin)
    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    return invoice, link_of(db, side.slug, "invoice", invoice.id)


def status_of(db, invoice: Invoice) -> str:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id).status


def test_a_payment_at_the_provider_marks_the_invoice_paid_at_the_next_poll(db, admin, side):
    invoice, remote_id = exported(db, admin, side)
    integration = integration_of(db, side.slug)
    run_sync(integration.id)
    assert status_of(db, invoice) == "issued"
    side.pay(remote_id)
    run = run_sync(integration.id)
    assert run.status == "succeeded", run.error
    assert status_of(db, invoice) == "paid"
    # Marking it paid here sends nothing back: the provider's invoice is its accountant's now.
    assert [i.status for i in outbox(db, "invoice")][-1] in ("done", "pending")
    push(db, side.slug)
    assert len(side.invoices(invoice.number)) == 1


def test_a_payment_webhook_marks_the_invoice_paid_and_forged_or_replayed_ones_change_nothing(
        db, admin, side, live_app):
    invoice, remote_id = exported(db, admin, side)
    side.pay(remote_id)
    integration = integration_of(db, side.slug)
    url = f"{live_app}/webhooks/{side.slug}/{integration.webhook_token}"

    forged_body, forged_headers = side.webhook(remote_id, key="not-the-key")
    assert httpx2.post(url, content=forged_body, headers=forged_headers).status_code == 401
    assert process_deliveries(db) == 0

    body, headers = side.webhook(remote_id)
    first = httpx2.post(url, content=body, headers=headers)
    assert first.status_code == (200 if side.slug == "xero" else 202)
    replay = httpx2.post(url, content=body, headers=headers)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate delivery ignored"
    assert process_deliveries(db) == 1
    assert status_of(db, invoice) == "paid"


@pytest.mark.parametrize("side", ["xero"], indirect=True)
def test_xeros_intent_to_receive_check_is_answered_200_signed_and_401_otherwise(db, side, live_app):
    integration = integration_of(db, side.slug)
    url = f"{live_app}/webhooks/xero/{integration.webhook_token}"
    body, headers = side.api.signed_webhook([])
    assert httpx2.post(url, content=body, headers=headers).status_code == 200
    body, headers = side.api.signed_webhook([], key="wrong")
    assert httpx2.post(url, content=body, headers=headers).status_code == 401


# -- what the provider refuses, in plain words --------------------------------------------------

@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_a_closed_quickbooks_period_is_reported_in_plain_words(db, admin, side):
    side.api.closed_before = date.today() + timedelta(days=1)
    client = billable_client(db, admin)
    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    item = outbox(db, "invoice")[-1]
    assert item.status == "failed"
    assert "Account Period Closed" in item.last_error and "6210" in item.last_error
    assert side.invoices(invoice.number) == []


@pytest.mark.parametrize("side", ["xero"], indirect=True)
def test_xero_validation_errors_are_reported_in_plain_words(db, admin, side):
    set_preferences(db, side.slug, {BOOKING_SETTING: {"default": "999"}})
    client = billable_client(db, admin)
    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    item = outbox(db, "invoice")[-1]
    assert item.status == "failed"
    assert item.last_error == "Xero answered 400: Account code '999' is not a valid code for this document."


@pytest.mark.parametrize("side", ["xero"], indirect=True)
def test_xero_invoices_arrive_as_drafts_unless_approved_ones_were_chosen(db, admin, side):
    first = draft_for(billable_client(db, admin, name="First", email=""))
    invoice_service.move_to(db.session.get(Invoice, first.id), "issued")
    push(db, side.slug)
    set_preferences(db, side.slug, {"authorise_invoices": True})
    second = draft_for(billable_client(db, admin, name="Second", email=""))
    invoice_service.move_to(db.session.get(Invoice, second.id), "issued")
    push(db, side.slug)
    [sent_first] = side.invoices(first.number)
    [sent_second] = side.invoices(second.number)
    assert (sent_first["Type"], sent_first["Status"]) == ("ACCREC", "DRAFT")
    assert (sent_second["Type"], sent_second["Status"]) == ("ACCREC", "AUTHORISED")


# -- the pages ---------------------------------------------------------------------------------

def test_the_invoice_page_shows_failed_with_the_reason_then_sent_after_a_retry_then_paid(
        db, admin, admin_client, side):
    from tests.conftest import post_form
    side.add_customer("ACME Ltd.")
    client = billable_client(db, admin, name="Acme")
    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    page = admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "status-failed" in page and "looks like" in page and "ACME Ltd." in page
    integration = integration_of(db, side.slug)

    # The admin picks "create new" on the customers page, then retries from the invoice.
    customers_page = admin_client.get(f"/integrations/{integration.id}/customers")
    assert customers_page.status_code == 200 and "ACME Ltd. (suggested)" in customers_page.get_data(as_text=True)
    response = post_form(admin_client, f"/integrations/{integration.id}/customers",
                         {f"client:{client.id}": CREATE_NEW, "booking_default": side.booking},
                         page=f"/integrations/{integration.id}/customers")
    assert response.status_code == 302
    response = post_form(admin_client, f"/invoices/{invoice.id}/export/{integration.id}",
                         page=f"/invoices/{invoice.id}")
    assert response.status_code == 302
    push(db, side.slug)
    assert len(side.live_invoices(invoice.number)) == 1 and len(side.customers()) == 2
    assert "status-sent" in admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)

    side.pay(link_of(db, side.slug, "invoice", invoice.id))
    run_sync(integration.id)
    assert "status-paid" in admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)


def test_the_customers_page_refuses_a_customer_that_does_not_exist(db, admin, admin_client, side):
    from tests.conftest import post_form
    client = billable_client(db, admin)
    integration = integration_of(db, side.slug)
    response = post_form(admin_client, f"/integrations/{integration.id}/customers",
                         {f"client:{client.id}": "no-such-customer"}, page=f"/integrations/{integration.id}/customers")
    assert response.status_code == 422
    assert CUSTOMER_MATCHES_SETTING not in (integration_of(db, side.slug).settings or {})


def test_the_preview_page_shows_what_goes(db, admin, admin_client, side):
    client = billable_client(db, admin)
    invoice = draft_for(client)
    integration = integration_of(db, side.slug)
    page = admin_client.get(f"/invoices/{invoice.id}/export/{integration.id}/preview")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert invoice.number in text and "Acme site" in text and "(created on export)" in text
    assert admin_client.get(f"/invoices/{invoice.id}/export/999/preview").status_code == 404


# -- limits and tokens -------------------------------------------------------------------------

def test_the_shared_limiter_keeps_exports_under_the_providers_limit(db, admin, side, monkeypatch):
    """The provider's minute shrunk to one second (with its count scaled down the same way):
    TimeHub's budget, a little under it, is never exceeded, so the provider never answers 429."""
    from app.integrations import ratelimit
    limit, concurrent = (8, 10) if side.slug == "quickbooks" else (5, 5)
    side.api.window, side.api.minute_limit = 1.0, limit
    monkeypatch.setitem(ratelimit.overrides, side.slug, ratelimit.RateLimit(limit - 1, 1.0, concurrent))
    clients = [billable_client(db, admin, name=f"Client {n}", email="") for n in range(4)]
    invoices = [draft_for(client) for client in clients]
    for invoice in invoices:
        invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    assert side.api.rate_limited == 0
    assert all(len(side.invoices(invoice.number)) == 1 for invoice in invoices)


def test_a_429_with_retry_after_is_waited_out_and_nothing_is_sent_twice(db, admin, side, monkeypatch):
    """A budget above the provider's limit (another app sharing the company, say): QuickBooks'
    429 and Retry-After pause the client; Xero's X-MinLimit-Remaining says the minute is used
    up before a 429 is needed. Every invoice still goes once."""
    from app.integrations import ratelimit
    side.api.window, side.api.minute_limit = 1.0, 3
    monkeypatch.setitem(ratelimit.overrides, side.slug, ratelimit.RateLimit(100, 1.0, 5))
    clients = [billable_client(db, admin, name=f"Client {n}", email="") for n in range(3)]
    invoices = [draft_for(client) for client in clients]
    for invoice in invoices:
        invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    for _ in range(3):
        push(db, side.slug)
    assert side.api.rate_limited == 0 if side.slug == "xero" else side.api.rate_limited > 0
    assert all(len(side.invoices(invoice.number)) == 1 for invoice in invoices)
    assert len(side.customers()) == 3


def test_a_revoked_grant_stops_exports_without_losing_or_doubling_them(db, admin, side):
    client = billable_client(db, admin)
    push(db, side.slug)
    invoice = draft_for(client)
    side.fake.oauth.revoke_all()
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    push(db, side.slug)
    assert side.invoices(invoice.number) == []
    assert [item.status for item in outbox(db, "invoice")] == ["pending"]


# -- QuickBooks time activities ------------------------------------------------------------------

@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_billable_time_becomes_one_time_activity_that_follows_edits_and_deletion(db, admin, side):
    set_preferences(db, side.slug, {"export_time": True, "people": {"Employee:55": admin.id}})
    client = billable_client(db, admin)
    entry = db.session.scalars(select(TimeEntry)).one()
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    side.api.drop_answers(1)  # the first answer is lost: the requestid keeps it one activity
    push(db, side.slug)
    [activity] = side.api.time_activities.values()
    assert activity["NameOf"] == "Employee" and activity["EmployeeRef"] == {"value": "55"}
    assert activity["CustomerRef"]["value"] == link_of(db, side.slug, "client", client.id)
    assert (activity["Hours"], activity["Minutes"], activity["BillableStatus"]) == (2, 30, "Billable")
    assert activity["HourlyRate"] == 100.0 and activity["ItemRef"] == {"value": side.booking}
    assert activity["TxnDate"] == entry.started_at.date().isoformat()

    entry = db.session.get(TimeEntry, entry.id)
    entry.ended_at = entry.started_at + timedelta(hours=1)
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    push(db, side.slug)
    [activity] = side.api.time_activities.values()
    assert (activity["Hours"], activity["Minutes"]) == (1, 0)

    entry = db.session.get(TimeEntry, entry.id)
    record_change(db.session, "time_entry", entry, "delete")
    db.session.delete(entry)
    db.session.commit()
    push(db, side.slug)
    assert side.api.time_activities == {}
    assert side.api.schema_problems == []


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_time_of_a_user_without_a_chosen_employee_waits_with_the_reason(db, admin, side):
    set_preferences(db, side.slug, {"export_time": True})
    billable_client(db, admin)
    entry = db.session.scalars(select(TimeEntry)).one()
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    push(db, side.slug)
    [item] = outbox(db, "time_entry")
    assert item.status == "failed" and "employee or vendor" in item.last_error and admin.email in item.last_error
    assert side.api.time_activities == {}
    people = connector_for(integration_of(db, side.slug)).people_options()
    assert [p.external_id for p in people] == ["Employee:55", "Vendor:56"]
