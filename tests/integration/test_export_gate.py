"""The accounting export gate (app/services/export_gate.py): a client's first export to Xero or
QuickBooks waits until an admin confirms its preview, over real HTTP to the fakes (the `side`
fixture of test_accounting_sync.py), on whichever stack the run uses."""
from __future__ import annotations

import html
import re
from datetime import timedelta
from unittest.mock import ANY

import pytest
from sqlalchemy import select

from app.models import Client, Invoice, OutboxItem, Project, TimeEntry
from app.models.base import utcnow
from app.services import accounting_service, export_gate, invoice_service, sync_preview
from app.services.sync_service import push_pending, record_change
from tests.conftest import post_form
from tests.integration.test_accounting_sync import (  # noqa: F401 (fixture)
    billable_client,
    draft_for,
    integration_of,
    link_of,
    outbox,
    preview_of,
    push,
    set_preferences,
    side,
)

HELD = "Waiting for your preview: review what will be sent to {provider} before the first export for {client}."


def provider(side) -> str:
    return {"xero": "Xero", "quickbooks": "QuickBooks Online"}[side.slug]


def writes(side) -> list:
    """Every request that could change something at the provider."""
    return [r for r in side.fake.api.requests if r.method in ("POST", "PUT", "DELETE")]


def issued_invoice(db, admin, name: str = "Acme"):
    client = billable_client(db, admin, name=name, email=f"billing@{name.lower()}.test", confirmed=False)
    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    return client, invoice


def another_invoice(db, admin, client) -> Invoice:
    """More billable time for `client`, invoiced and issued."""
    project = db.session.scalars(select(Project).where(Project.client_id == client.id)).first()
    start = utcnow().replace(microsecond=0) - timedelta(hours=5)
    db.session.add(TimeEntry(user_id=admin.id, project_id=project.id, started_at=start,
                             ended_at=start + timedelta(hours=1), billable=True))
    db.session.commit()
    invoice = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, invoice.id), "issued")
    return invoice


def shown_digest(admin_client, invoice, integration) -> str:
    page = admin_client.get(f"/invoices/{invoice.id}/export/{integration.id}/preview").get_data(as_text=True)
    assert "Confirm and export" in page
    return re.search(r'name="digest" value="([0-9a-f]{64})"', page).group(1)


def confirm(admin_client, invoice, integration, digest: str):
    return post_form(admin_client, f"/invoices/{invoice.id}/export/{integration.id}/confirm", {"digest": digest},
                     page=f"/invoices/{invoice.id}/export/{integration.id}/preview")


def test_a_clients_first_export_is_held_queued_and_parked_until_its_preview_is_confirmed(
        db, admin, admin_client, side):
    client, invoice = issued_invoice(db, admin)
    integration = integration_of(db, side.slug)
    push(db, side.slug)

    assert writes(side) == [] and side.customers() == [] and side.invoices(invoice.number) == []
    held = outbox(db, "client") + outbox(db, "invoice")
    message = HELD.format(provider=provider(side), client="Acme")
    assert [(i.status, i.attempts, i.last_error) for i in held] == [("pending", 0, message)] * 2
    assert all(i.next_attempt_at > utcnow() + timedelta(minutes=50) for i in held)  # parked, not in a hot loop
    requests_before = len(side.fake.api.requests)
    assert push_pending(integration.id) == 0 and len(side.fake.api.requests) == requests_before

    page = admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "status-held" in page and html.escape(message) in page and "Review and confirm" in page

    digest = shown_digest(admin_client, invoice, integration)
    expected = preview_of(db, side.slug, invoice)
    assert digest == export_gate.digest(expected)
    response = confirm(admin_client, invoice, integration, digest)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/invoices/{invoice.id}")
    released = outbox(db, "client") + outbox(db, "invoice")
    assert all(i.next_attempt_at <= utcnow() and i.last_error is None for i in released)  # due now, not in an hour
    push_pending(integration.id)

    [sent] = side.sent("invoice")
    assert side.without_customer(sent) == side.without_customer(expected["invoice"])
    assert side.sent("customer") == [side.preview_customer(expected)]
    assert len(side.invoices(invoice.number)) == 1
    assert link_of(db, side.slug, "invoice", invoice.id) is not None
    assert [i.status for i in outbox(db, "client") + outbox(db, "invoice")] == ["done", "done"]
    assert "status-sent" in admin_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)


def test_a_stale_digest_is_refused_with_the_new_preview_and_nothing_is_sent(db, admin, admin_client, side):
    client, invoice = issued_invoice(db, admin)
    integration = integration_of(db, side.slug)
    push(db, side.slug)
    digest = shown_digest(admin_client, invoice, integration)
    client.email = "accounts@acme.test"  # what the customer would be created with changed meanwhile
    db.session.commit()

    response = confirm(admin_client, invoice, integration, digest)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "changed since you looked" in page and "accounts@acme.test" in page
    new_digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page).group(1)
    assert new_digest != digest
    assert not export_gate.is_confirmed(db.session, integration_of(db, side.slug), client.id)
    push(db, side.slug)
    assert writes(side) == []

    assert confirm(admin_client, invoice, integration, "not-a-digest").status_code == 400
    assert confirm(admin_client, invoice, integration, new_digest).status_code == 302
    push(db, side.slug)
    assert len(side.invoices(invoice.number)) == 1


def test_later_exports_of_a_confirmed_client_go_straight_through_and_another_client_waits_again(
        db, admin, admin_client, side):
    client, first = issued_invoice(db, admin)
    integration = integration_of(db, side.slug)
    push(db, side.slug)
    assert confirm(admin_client, first, integration, shown_digest(admin_client, first, integration)).status_code == 302
    push(db, side.slug)

    second = another_invoice(db, admin, client)
    push(db, side.slug)
    assert len(side.invoices(second.number)) == 1 and len(side.customers()) == 1

    other, third = issued_invoice(db, admin, name="Borealis")
    push(db, side.slug)
    assert side.invoices(third.number) == [] and len(side.customers()) == 1
    page = admin_client.get(f"/invoices/{third.id}").get_data(as_text=True)
    assert html.escape(HELD.format(provider=provider(side), client="Borealis")) in page
    assert "Confirm and export" not in admin_client.get(
        f"/invoices/{second.id}/export/{integration.id}/preview").get_data(as_text=True)
    requests_before = len(side.fake.api.requests)
    response = confirm(admin_client, second, integration, "0" * 64)  # nothing of it waits: refused, no provider call
    assert response.status_code == 302 and len(side.fake.api.requests) == requests_before


def test_the_sync_preview_shows_held_exports_as_held_as_the_next_push_does(db, admin, side):
    client, invoice = issued_invoice(db, admin)
    integration = integration_of(db, side.slug)
    sync_preview.request_preview(integration)
    changes = sync_preview.run_preview(integration.id).changes
    pushes = [c for c in changes if c["action"] in ("push", "held")]
    assert pushes == [{"kind": "client", "action": "held", "count": 1, "examples": ["Acme"]},
                      {"kind": "invoice", "action": "held", "count": 1, "examples": [invoice.number]}]
    push(db, side.slug)
    assert writes(side) == []

    export_gate.confirm(db.session, integration_of(db, side.slug), client.id)
    db.session.commit()
    sync_preview.request_preview(integration_of(db, side.slug))
    changes = sync_preview.run_preview(integration.id).changes
    assert [(c["kind"], c["action"], c["count"]) for c in changes if c["action"] in ("push", "held")] == [
        ("client", "push", 1), ("invoice", "push", 1)]
    assert push(db, side.slug) == 2


def test_only_an_admin_confirms_and_only_with_a_csrf_token(db, admin, admin_client, user_client, side):
    client, invoice = issued_invoice(db, admin)
    integration = integration_of(db, side.slug)
    push(db, side.slug)
    digest = shown_digest(admin_client, invoice, integration)
    url = f"/invoices/{invoice.id}/export/{integration.id}/confirm"

    assert post_form(user_client, url, {"digest": digest}, page="/").status_code == 403
    assert admin_client.post(url, data={"digest": digest}).status_code == 400  # no CSRF token
    assert not export_gate.is_confirmed(db.session, integration_of(db, side.slug), client.id)
    push(db, side.slug)
    assert writes(side) == []
    assert [i.status for i in outbox(db, "invoice")] == ["pending"]


def test_a_provider_that_cannot_be_asked_at_confirmation_confirms_nothing(db, admin, admin_client, side):
    client, invoice = issued_invoice(db, admin)
    integration = integration_of(db, side.slug)
    push(db, side.slug)
    digest = shown_digest(admin_client, invoice, integration)
    side.api.fail_next(50)  # the provider down when the admin presses the button

    response = confirm(admin_client, invoice, integration, digest)
    assert response.status_code == 502 and "could not be asked" in response.get_data(as_text=True)
    assert not export_gate.is_confirmed(db.session, integration_of(db, side.slug), client.id)
    assert writes(side) == []


def test_a_client_exported_before_the_gate_existed_is_not_held(db, admin, side):
    client = billable_client(db, admin)  # confirmed, then its first invoice exported
    first = draft_for(client)
    invoice_service.move_to(db.session.get(Invoice, first.id), "issued")
    push(db, side.slug)
    integration = integration_of(db, side.slug)
    integration.settings = {k: v for k, v in integration.settings.items() if k != export_gate.CONFIRMED_SETTING}
    db.session.commit()  # as a connection made before the gate: no list, one invoice linked

    second = another_invoice(db, admin, client)
    push(db, side.slug)
    assert len(side.invoices(first.number)) == 1 and len(side.invoices(second.number)) == 1


# -- a client's time (QuickBooks time activities), confirmed where the clients are listed ---------

def time_waiting(db, admin, side, *, pushed: bool = True):
    """QuickBooks takes billable time; a new client's two and a half hours are queued for it
    and, when `pushed`, a push has met them (and held them)."""
    set_preferences(db, side.slug, {"export_time": True, "people": {"Employee:55": admin.id}})
    client = billable_client(db, admin, email="billing@acme.test", queued=False, confirmed=False)
    entry = db.session.scalars(select(TimeEntry).join(Project).where(Project.client_id == client.id)).one()
    record_change(db.session, "time_entry", entry, "upsert")
    db.session.commit()
    if pushed:
        push(db, side.slug)
    return client, entry, integration_of(db, side.slug)


def time_preview_url(integration, client) -> str:
    return f"/integrations/{integration.id}/clients/{client.id}/time-preview"


def shown_time_digest(admin_client, integration, client) -> str:
    page = admin_client.get(time_preview_url(integration, client)).get_data(as_text=True)
    assert "Confirm and export" in page
    return re.search(r'name="digest" value="([0-9a-f]{64})"', page).group(1)


def confirm_time(admin_client, integration, client, digest: str):
    return post_form(admin_client, time_preview_url(integration, client) + "/confirm", {"digest": digest},
                     page=time_preview_url(integration, client))


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_a_clients_first_time_export_waits_until_its_preview_is_confirmed_from_the_customers_page(
        db, admin, admin_client, side):
    client, entry, integration = time_waiting(db, admin, side)
    assert writes(side) == [] and side.api.time_activities == {}
    [item] = outbox(db, "time_entry")
    assert (item.status, item.attempts) == ("pending", 0)
    assert item.last_error == HELD.format(provider=provider(side), client="Acme")
    assert item.next_attempt_at > utcnow() + timedelta(minutes=50)
    sync_preview.request_preview(integration)
    assert [c for c in sync_preview.run_preview(integration.id).changes if c["kind"] == "time_entry"] == [
        {"kind": "time_entry", "action": "held", "count": 1, "examples": [ANY]}]

    customers = admin_client.get(f"/integrations/{integration.id}/customers").get_data(as_text=True)
    assert "1 time activity waits for your preview" in customers and time_preview_url(integration, client) in customers
    digest = shown_time_digest(admin_client, integration, client)
    expected = accounting_service.time_preview(db.session.get(Client, client.id), integration_of(db, side.slug))
    assert digest == export_gate.digest(expected) and expected["time_activities_waiting"] == 1
    [shown] = expected["time_activities"]
    assert shown["CustomerRef"] == {"value": "(created on export)"} and (shown["Hours"], shown["Minutes"]) == (2, 30)

    response = confirm_time(admin_client, integration, client, digest)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/integrations/{integration.id}/customers")
    push_pending(integration.id)
    assert side.sent("customer") == [expected["customer"]]
    [sent] = side.sent("timeactivity")
    assert side.without_customer(sent) == side.without_customer(shown)
    assert [sent["CustomerRef"]["value"]] == [customer["Id"] for customer in side.customers()]
    assert [i.status for i in outbox(db, "time_entry")] == ["done"] and len(side.api.time_activities) == 1
    assert "waits for your preview" not in admin_client.get(
        f"/integrations/{integration.id}/customers").get_data(as_text=True)


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_time_changed_since_its_preview_is_refused_with_the_new_one_and_nothing_is_sent(
        db, admin, admin_client, side):
    client, entry, integration = time_waiting(db, admin, side)
    digest = shown_time_digest(admin_client, integration, client)
    entry = db.session.get(TimeEntry, entry.id)
    entry.ended_at = entry.started_at + timedelta(hours=1)  # edited while the admin looked
    db.session.commit()

    response = confirm_time(admin_client, integration, client, digest)
    assert response.status_code == 409 and "changed since you looked" in response.get_data(as_text=True)
    assert not export_gate.is_confirmed(db.session, integration_of(db, side.slug), client.id)
    push(db, side.slug)
    assert writes(side) == []
    assert confirm_time(admin_client, integration, client, "not-a-digest").status_code == 400


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_only_an_admin_sees_or_confirms_a_time_preview_and_only_where_time_is_taken(
        db, admin, admin_client, user_client, side):
    client, entry, integration = time_waiting(db, admin, side)
    digest = shown_time_digest(admin_client, integration, client)
    assert user_client.get(time_preview_url(integration, client)).status_code == 403
    assert post_form(user_client, time_preview_url(integration, client) + "/confirm", {"digest": digest},
                     page="/").status_code == 403
    assert admin_client.post(time_preview_url(integration, client) + "/confirm",
                             data={"digest": digest}).status_code == 400  # no CSRF token
    assert admin_client.get(f"/integrations/{integration.id}/clients/999999/time-preview").status_code == 404
    push(db, side.slug)
    assert writes(side) == [] and not export_gate.is_confirmed(db.session, integration_of(db, side.slug), client.id)


@pytest.mark.parametrize("side", ["xero"], indirect=True)
def test_a_connection_that_takes_no_time_has_no_time_preview(db, admin, admin_client, side):
    client = billable_client(db, admin, confirmed=False)
    assert admin_client.get(time_preview_url(integration_of(db, side.slug), client)).status_code == 404


@pytest.mark.parametrize("side", ["quickbooks"], indirect=True)
def test_a_client_whose_time_went_before_the_gate_existed_is_not_held(db, admin, side):
    client, entry, integration = time_waiting(db, admin, side, pushed=False)
    export_gate.confirm(db.session, integration, client.id)
    db.session.commit()
    push(db, side.slug)
    integration = integration_of(db, side.slug)
    integration.settings = {k: v for k, v in integration.settings.items() if k != export_gate.CONFIRMED_SETTING}
    db.session.commit()  # as a connection made before the gate: no list, one time activity linked

    project = db.session.scalars(select(Project).where(Project.client_id == client.id)).one()
    start = utcnow().replace(microsecond=0) - timedelta(hours=5)
    later = TimeEntry(user_id=admin.id, project_id=project.id, started_at=start, ended_at=start + timedelta(hours=1),
                      billable=True)
    db.session.add(later)
    db.session.flush()
    record_change(db.session, "time_entry", later, "upsert")
    db.session.commit()
    push(db, side.slug)
    assert len(side.api.time_activities) == 2
