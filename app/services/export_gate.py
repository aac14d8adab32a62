"""The accounting export gate: a client's first export to an accounting connection waits
until an admin has seen exactly what would be sent (the invoice's preview, or the preview
of the client's time activities at QuickBooks) and confirmed it.

Which clients are confirmed is kept per connection in its settings (CONFIRMED_SETTING, a
bounded list of client ids). A client with an invoice or a time activity already linked at
the connection had its first export before the gate existed and counts as confirmed.

The sync engine asks `holds` before pushing a client's customer, an invoice or time: a held
change is not sent, stays pending (nothing is lost) and is parked for RECHECK_AFTER, so it
is not retried in a loop; confirming releases it at once. The sync preview asks the same
function, so it shows as held exactly what the next push holds.
"""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.integrations import registry
from app.integrations.capabilities import Accounting
from app.models import Client, ExternalLink, Integration, Invoice, OutboxItem, Project, TimeEntry
from app.models.base import utcnow

CONFIRMED_SETTING = "export_confirmed_clients"
# Far more clients than a team invoices; the bound keeps the settings row small.
MAX_CONFIRMED_CLIENTS = 10_000
# What the gate holds: the client's customer, its invoices and the time on its projects.
HELD_KINDS = frozenset({"client", "invoice", "time_entry"})
# A held change is looked at again this much later (a confirmation releases it sooner).
RECHECK_AFTER = timedelta(hours=1)
# Every held change's last_error starts so: how `release` tells them from changes backing off.
HELD_PREFIX = "Waiting for your preview"


class GateError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def gated(integration: Integration) -> bool:
    return issubclass(registry.get_connector(integration.provider), Accounting)


def confirmed_ids(integration: Integration) -> set[int]:
    stored = (integration.settings or {}).get(CONFIRMED_SETTING) or []
    return {value for value in stored if isinstance(value, int)}


def is_confirmed(session: Session, integration: Integration, client_id: int) -> bool:
    if client_id in confirmed_ids(integration):
        return True
    invoice_sent = select(ExternalLink.id).join(Invoice, Invoice.id == ExternalLink.local_id).where(
        ExternalLink.integration_id == integration.id, ExternalLink.local_kind == "invoice",
        Invoice.client_id == client_id).limit(1)
    time_sent = select(ExternalLink.id).join(TimeEntry, TimeEntry.id == ExternalLink.local_id).where(
        ExternalLink.integration_id == integration.id, ExternalLink.local_kind == "time_entry",
        TimeEntry.project_id.in_(_projects_of(client_id))).limit(1)
    return session.scalar(invoice_sent) is not None or session.scalar(time_sent) is not None


def _projects_of(client_id: int):
    return select(Project.id).where(Project.client_id == client_id)


def client_of(session: Session, kind: str, local_id: int) -> Client | None:
    """The client whose first export a change of (kind, local_id) would be; None: not gated."""
    if kind == "client":
        return session.get(Client, local_id)
    if kind == "invoice":
        invoice = session.get(Invoice, local_id)
        return invoice.client if invoice is not None else None
    if kind == "time_entry":
        entry = session.get(TimeEntry, local_id)
        return entry.project.client if entry is not None and entry.project is not None else None
    return None


def holds(session: Session, integration: Integration, kind: str, local_id: int, action: str) -> Client | None:
    """The unconfirmed client an upsert of (kind, local_id) waits for, or None when it may go.
    Deletes always go: a copy exists there only once its client was exported."""
    if kind not in HELD_KINDS or action != "upsert" or not gated(integration):
        return None
    client = client_of(session, kind, local_id)
    if client is None or is_confirmed(session, integration, client.id):
        return None
    return client


def hold_message(integration: Integration, client: Client) -> str:
    name = registry.get_spec(integration.provider).name
    return (f"{HELD_PREFIX}: review what will be sent to {name} before the first export for "
            f"{client.name}.")[:2000]


def park(integration: Integration, client: Client, items: list[OutboxItem]) -> None:
    """Keep held changes queued without using up their attempts; the caller commits."""
    message = hold_message(integration, client)
    for item in items:
        item.last_error = message
        item.next_attempt_at = utcnow() + RECHECK_AFTER


def digest(preview: dict) -> str:
    """A fingerprint of a preview: the confirmation carries it, so what is confirmed is what was shown."""
    canonical = json.dumps(preview, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def confirm(session: Session, integration: Integration, client_id: int) -> None:
    """Mark `client_id` confirmed at `integration` (the row locked, so two confirmations at
    once both stay) and release its held changes to go now; the caller commits."""
    session.refresh(integration, with_for_update=True)
    confirmed = (integration.settings or {}).get(CONFIRMED_SETTING) or []
    if client_id not in confirmed:
        if len(confirmed) >= MAX_CONFIRMED_CLIENTS:
            raise GateError("Too many clients are confirmed for this connection; nothing was changed.")
        integration.settings = {**(integration.settings or {}), CONFIRMED_SETTING: [*confirmed, client_id]}
    release(session, integration, client_id)


def release(session: Session, integration: Integration, client_id: int) -> int:
    """Make the client's held changes at `integration` due now (not those backing off after an error)."""
    invoices = select(Invoice.id).where(Invoice.client_id == client_id)
    entries = select(TimeEntry.id).where(TimeEntry.project_id.in_(_projects_of(client_id)))
    return session.execute(update(OutboxItem).where(
        OutboxItem.integration_id == integration.id, OutboxItem.status == "pending",
        OutboxItem.last_error.startswith(HELD_PREFIX, autoescape=True),
        or_(and_(OutboxItem.local_kind == "client", OutboxItem.local_id == client_id),
            and_(OutboxItem.local_kind == "invoice", OutboxItem.local_id.in_(invoices)),
            and_(OutboxItem.local_kind == "time_entry", OutboxItem.local_id.in_(entries))),
    ).values(next_attempt_at=utcnow(), last_error=None), execution_options={"synchronize_session": False}).rowcount


def held_changes(session: Session, integration: Integration) -> dict[str, list[int]]:
    """kind -> local ids of the records whose queued change the engine holds (parked or due
    now), oldest first: what a preview shows as held until confirmed."""
    if not gated(integration):
        return {}
    latest: dict[tuple[str, int], str] = {}
    for kind, local_id, action in session.execute(select(
            OutboxItem.local_kind, OutboxItem.local_id, OutboxItem.action).where(
            OutboxItem.integration_id == integration.id, OutboxItem.status == "pending",
            OutboxItem.local_kind.in_(HELD_KINDS)).order_by(OutboxItem.id)):
        latest.pop((kind, local_id), None)
        latest[(kind, local_id)] = action  # the newest change of a record is the one pushed
    held: dict[str, list[int]] = {}
    for (kind, local_id), action in latest.items():
        if holds(session, integration, kind, local_id, action) is not None:
            held.setdefault(kind, []).append(local_id)
    return held


def held_time(session: Session, integration: Integration) -> dict[int, list[int]]:
    """client id -> the time entries whose export waits for that client's confirmation, oldest first."""
    by_client: dict[int, list[int]] = {}
    for entry_id in held_changes(session, integration).get("time_entry", []):
        client = client_of(session, "time_entry", entry_id)
        by_client.setdefault(client.id, []).append(entry_id)
    return by_client
