"""Accounting connections seen from TimeHub's invoices and clients, the same for every provider:

- where each invoice stands at each accounting connection (sent / waiting / failed with
  the provider's reason / paid / not sent), with a retry, and a manual "send";
- the preview of exactly what an export would send;
- the customer matching an admin confirms: every provider customer is read (all pages),
  look-alikes are suggested, and only the admin's choice (a customer, or "create new")
  is saved. Nothing here matches by itself.
"""
from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import BOOKING_SETTING, CREATE_NEW, CUSTOMER_MATCHES_SETTING, Accounting
from app.integrations.exchange import AccountingParty, AllowListOption
from app.integrations.http import INTERACTIVE_RETRY
from app.models import Client, ExternalLink, Integration, Invoice, OutboxItem, Project, TimeEntry
from app.models.base import utcnow
from app.models.integration import IntegrationStatus
from app.services import export_gate, work_queue
from app.services.connections import connector_for, run_context
from app.services.sync_service import SessionLinks


@dataclass(frozen=True)
class ExportState:
    integration_id: int
    provider_name: str
    # "sent", "waiting", "held" (the client's first export waits for the admin's preview),
    # "failed", "paid", "not sent", "changed" (at the provider)
    state: str
    reason: str = ""      # the provider's words when failed
    remote_id: str | None = None


def accounting_integrations() -> list[Integration]:
    """Active connections whose connector keeps invoices at an accounting provider."""
    return [integration for integration in db.session.scalars(
                select(Integration).where(Integration.status == IntegrationStatus.ACTIVE).order_by(Integration.id))
            if issubclass(registry.get_connector(integration.provider), Accounting)]


def accounting_integration(integration_id: int) -> Integration | None:
    integration = db.session.get(Integration, integration_id)
    if integration is None or integration.status != IntegrationStatus.ACTIVE \
            or not issubclass(registry.get_connector(integration.provider), Accounting):
        return None
    return integration


def _link(integration_id: int, kind: str, local_id: int) -> str | None:
    return db.session.scalar(select(ExternalLink.external_id).where(
        ExternalLink.integration_id == integration_id, ExternalLink.local_kind == kind,
        ExternalLink.local_id == local_id))


def _latest(integration_id: int, kind: str, local_id: int) -> OutboxItem | None:
    return db.session.scalars(select(OutboxItem).where(
        OutboxItem.integration_id == integration_id, OutboxItem.local_kind == kind,
        OutboxItem.local_id == local_id).order_by(OutboxItem.id.desc()).limit(1)).first()


def export_states(invoice: Invoice) -> list[ExportState]:
    """Where `invoice` stands at each accounting connection; a failed client push (its
    customer) counts as the invoice's failure, since the invoice waits for it. An edit made
    at the provider (the link's remote note) is shown before anything else: TimeHub leaves
    that copy alone."""
    states = []
    for integration in accounting_integrations():
        name = registry.get_spec(integration.provider).name
        remote_id = _link(integration.id, "invoice", invoice.id)
        note = db.session.scalar(select(ExternalLink.remote_note).where(
            ExternalLink.integration_id == integration.id, ExternalLink.local_kind == "invoice",
            ExternalLink.local_id == invoice.id))
        latest = _latest(integration.id, "invoice", invoice.id)
        customer = _latest(integration.id, "client", invoice.client_id)
        if note:
            state = ExportState(integration.id, name, "changed", note, remote_id)
        elif latest is not None and latest.status == "failed":
            state = ExportState(integration.id, name, "failed", latest.last_error or "", remote_id)
        elif customer is not None and customer.status == "failed" and remote_id is None:
            state = ExportState(integration.id, name, "failed", customer.last_error or "", None)
        elif latest is not None and latest.status == "pending" \
                and not export_gate.is_confirmed(db.session, integration, invoice.client_id):
            state = ExportState(integration.id, name, "held", export_gate.hold_message(integration, invoice.client),
                                remote_id)
        elif latest is not None and latest.status == "pending":
            state = ExportState(integration.id, name, "waiting", latest.last_error or "", remote_id)
        elif remote_id is not None:
            state = ExportState(integration.id, name, "paid" if invoice.status == "paid" else "sent", "", remote_id)
        else:
            state = ExportState(integration.id, name, "not sent")
        states.append(state)
    return states


def send(invoice: Invoice, integration: Integration) -> None:
    """The invoice page's send / retry: the invoice's failed changes (and its client's) go
    back in the queue, and a fresh upsert is queued so that a draft or an unsent invoice
    goes too. The push carries the same idempotency rules as any other."""
    for kind, local_id in (("client", invoice.client_id), ("invoice", invoice.id)):
        for item in db.session.scalars(select(OutboxItem).where(
                OutboxItem.integration_id == integration.id, OutboxItem.local_kind == kind,
                OutboxItem.local_id == local_id, OutboxItem.status == "failed")):
            item.status, item.attempts, item.next_attempt_at = "pending", 0, utcnow()
    db.session.add(OutboxItem(integration_id=integration.id, local_kind="invoice", local_id=invoice.id,
                              action="upsert"))
    db.session.commit()
    work_queue.queue_push(integration.id)


def preview(invoice: Invoice, integration: Integration) -> dict:
    """Exactly what an export of `invoice` would send now (ProviderError when unreachable)."""
    with closing(connector_for(integration, retry=INTERACTIVE_RETRY)) as connector:
        return connector.invoice_preview(invoice, run_context(integration, SessionLinks(db.session, integration.id)))


class StalePreview(Exception):
    """What an export would send changed since the preview the admin confirmed."""

    def __init__(self, current: dict):
        super().__init__("the preview changed")
        self.current = current


def is_held(invoice: Invoice, integration: Integration) -> bool:
    """Whether `invoice`'s export there is queued and waits for its client's first export to be confirmed."""
    latest = _latest(integration.id, "invoice", invoice.id)
    return latest is not None and latest.status == "pending" \
        and not export_gate.is_confirmed(db.session, integration, invoice.client_id)


def confirm_first_export(invoice: Invoice, integration: Integration, shown_digest: str) -> None:
    """The admin confirms the preview they saw (its digest): when it is still exactly what an
    export sends, the client is confirmed there and its held changes go now. Otherwise
    StalePreview carries the new preview and nothing changes (ProviderError when unreachable)."""
    if not is_held(invoice, integration):
        raise export_gate.GateError(f"Invoice {invoice.number} does not wait for a confirmation; nothing was changed.")
    _confirm_unchanged(integration, invoice.client_id, preview(invoice, integration), shown_digest)


def _confirm_unchanged(integration: Integration, client_id: int, current: dict, shown_digest: str) -> None:
    if export_gate.digest(current) != shown_digest:
        raise StalePreview(current)
    export_gate.confirm(db.session, integration, client_id)
    db.session.commit()
    work_queue.queue_push(integration.id)


# -- a client's time (QuickBooks time activities) ---------------------------------------------

# The time activities a preview shows (and its digest covers); it counts every held one.
TIME_PREVIEW_LIMIT = 20


def takes_time(integration: Integration) -> bool:
    return "time_entry" in getattr(registry.get_connector(integration.provider), "push_kinds", ())


def time_preview(client: Client, integration: Integration, held: list[int] | None = None) -> dict:
    """Exactly what the first export of `client`'s held time would send now: the customer,
    the first TIME_PREVIEW_LIMIT time activities, and how many wait (ProviderError when
    unreachable). `held`: the client's held entries, when the caller read them already."""
    if held is None:
        held = export_gate.held_time(db.session, integration).get(client.id, [])
    entries = [db.session.get(TimeEntry, entry_id) for entry_id in held[:TIME_PREVIEW_LIMIT]]
    with closing(connector_for(integration, retry=INTERACTIVE_RETRY)) as connector:
        shown = connector.time_preview(client, entries,
                                       run_context(integration, SessionLinks(db.session, integration.id)))
    return {**shown, "time_activities_waiting": len(held)}


def confirm_time_export(client: Client, integration: Integration, shown_digest: str) -> None:
    """As confirm_first_export, for a client whose held changes are time (no invoice yet)."""
    held = export_gate.held_time(db.session, integration).get(client.id)
    if not held:
        raise export_gate.GateError(f"No time of {client.name} waits for a confirmation; nothing was changed.")
    _confirm_unchanged(integration, client.id, time_preview(client, integration, held), shown_digest)


# -- customer matching ---------------------------------------------------------------------

@dataclass(frozen=True)
class ClientMatch:
    client: Client
    linked: str | None                   # the remote id the engine linked, if any
    chosen: str | None                   # the admin's saved choice: remote id, CREATE_NEW or None
    suggestions: list[AccountingParty]   # look-alikes, for the admin to confirm


@dataclass(frozen=True)
class MatchingPage:
    matches: list[ClientMatch]
    candidates: list[AccountingParty]
    bookings: list[AllowListOption]
    booking_default: str | None
    projects: list[Project]                 # client projects, each may override the default booking
    project_bookings: dict[str, str]        # project id -> booking option chosen for its lines
    held_time: dict[int, int]               # client id -> time entries waiting for its first export's preview


def matching_page(integration: Integration) -> MatchingPage:
    """Every client with its link, the admin's choice and the look-alikes among every
    provider customer (read with all pages); what lines can be booked to, by default and
    per project."""
    with closing(connector_for(integration, retry=INTERACTIVE_RETRY)) as connector:
        candidates = connector.customer_candidates()
        bookings = connector.booking_options()
        chosen = (integration.settings or {}).get(CUSTOMER_MATCHES_SETTING) or {}
        matches = [ClientMatch(client, _link(integration.id, "client", client.id), chosen.get(str(client.id)),
                               connector.suggestions(client, candidates))
                   for client in db.session.scalars(select(Client).where(Client.archived.is_(False))
                                                    .order_by(Client.name))]
    booking = (integration.settings or {}).get(BOOKING_SETTING) or {}
    projects = list(db.session.scalars(select(Project).join(Client).where(
        Project.archived.is_(False), Client.archived.is_(False)).order_by(Client.name, Project.name)))
    held_time = {client_id: len(ids) for client_id, ids in export_gate.held_time(db.session, integration).items()}
    return MatchingPage(matches, candidates, bookings, booking.get("default"), projects,
                        {str(k): str(v) for k, v in (booking.get("projects") or {}).items()}, held_time)


class MatchingError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def save_matching(integration: Integration, page: MatchingPage, choices: dict[int, str],
                  booking_default: str | None, project_bookings: dict[int, str] | None = None) -> None:
    """Save the admin's choices: "" (decide later), CREATE_NEW, or a remote id that exists
    at the provider; the default booking and each project's override ("" = the default)
    among the provider's options. Nothing is saved when one choice is not valid."""
    known = {party.remote_id for party in page.candidates}
    saved = {}
    for client_id, choice in choices.items():
        if not choice:
            continue
        if choice != CREATE_NEW and choice not in known:
            raise MatchingError("One of the chosen customers no longer exists at the provider; reload the page.")
        saved[str(client_id)] = choice
    offered = {option.external_id for option in page.bookings}
    if booking_default and booking_default not in offered:
        raise MatchingError("Choose what invoice lines are booked to from the list.")
    overrides = {}
    for project_id, choice in (project_bookings or {}).items():
        if not choice:
            continue
        if choice not in offered:
            raise MatchingError("Choose each project's booking from the list (or leave it on the default).")
        overrides[str(project_id)] = choice
    settings = dict(integration.settings or {})
    settings[CUSTOMER_MATCHES_SETTING] = saved
    booking = dict(settings.get(BOOKING_SETTING) or {})
    if booking_default:
        booking["default"] = booking_default
    if overrides:
        booking["projects"] = overrides
    else:
        booking.pop("projects", None)  # every project on the default
    settings[BOOKING_SETTING] = booking
    integration.settings = settings
    db.session.commit()
