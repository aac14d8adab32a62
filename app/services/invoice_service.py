"""Invoices: built from a client's billable, finished, not yet invoiced time,
numbered without gaps or duplicates, and moved through draft -> issued -> paid.

Decisions:
- One line per project: the project's hours in the range times its hourly rate.
  Clients read invoices per project; task detail stays in TimeHub. The rate is the
  entry's (rate_service: project > person > default), so a project without a rate of
  its own gets one line per rate its people's time is billed at.
- The date range is inclusive and read in the acting admin's time zone: an entry
  belongs to the range when it *started* inside it.
- Hours are rounded to the cent of an hour (0.01 h, half up) per line, the
  precision the line stores, so that the printed hours x rate equals the amount.
- Money is Decimal throughout; every amount is rounded to cents.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Client, Invoice, InvoiceLine, Project, TimeEntry
from app.services import notification_service, rate_service
from app.services.hours import hours_for
from app.services.sync_service import record_change

# Two admins creating invoices at the same moment may pick the same number;
# the database refuses the second, which then tries the next number.
NUMBER_ATTEMPTS = 5
NEXT_STATUS = {"draft": "issued", "issued": "paid"}


class InvoiceError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class InvoiceRequest:
    client_id: int
    start: date
    end: date
    issue_date: date
    due_date: date | None = None
    tax_rate: Decimal = Decimal("0")
    notes: str = ""
    timezone: str = "UTC"


def utc_bounds(start: date, end: date, timezone: str) -> tuple[datetime, datetime]:
    """The naive-UTC half-open interval covering local days `start`..`end` inclusive."""
    zone = ZoneInfo(timezone)

    def to_utc(day: date) -> datetime:
        local = datetime.combine(day, time.min, tzinfo=zone)
        return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    return to_utc(start), to_utc(end + timedelta(days=1))


def invoiceable_entries(client_id: int, start: date, end: date, timezone: str) -> list[TimeEntry]:
    """The client's billable, finished, not yet invoiced entries that started in the range."""
    lower, upper = utc_bounds(start, end, timezone)
    return list(db.session.scalars(
        select(TimeEntry)
        .join(Project, TimeEntry.project_id == Project.id)
        .where(Project.client_id == client_id, TimeEntry.billable.is_(True), TimeEntry.ended_at.is_not(None),
               TimeEntry.invoice_id.is_(None), TimeEntry.started_at >= lower, TimeEntry.started_at < upper)
        .order_by(TimeEntry.started_at, TimeEntry.id)
    ))


def build_lines(entries: list[TimeEntry]) -> list[InvoiceLine]:
    """One line per project and rate, in project-name order (then the higher rate first)."""
    default = None  # read once, and only when a project has no rate of its own
    seconds: dict[tuple[Project, Decimal], float] = defaultdict(float)
    for entry in entries:
        rate = entry.project.hourly_rate
        if not rate:
            default = rate_service.default_rate() if default is None else default
            rate = rate_service.rate_for(rate, entry.user.hourly_rate, default)
        seconds[(entry.project, rate)] += (entry.ended_at - entry.started_at).total_seconds()
    return [
        InvoiceLine(description=project.name, hours=hours_for(seconds[(project, rate)]), unit_price=rate)
        for project, rate in sorted(seconds, key=lambda pr: (pr[0].name.lower(), pr[0].id, -pr[1]))
    ]


def next_number(year: int) -> str:
    """INV-<year>-<4-digit sequence>, one past the highest number of that year."""
    prefix = f"INV-{year}-"
    # Longest first, so that "INV-2026-10000" outranks "INV-2026-9999" once four digits run out.
    highest = db.session.scalar(select(Invoice.number).where(Invoice.number.like(prefix + "%"))
                                .order_by(func.length(Invoice.number).desc(), Invoice.number.desc()).limit(1))
    sequence = int(highest.removeprefix(prefix)) + 1 if highest else 1
    return f"{prefix}{sequence:04d}"


def create_invoice(request: InvoiceRequest) -> Invoice:
    """Create a draft invoice and mark its entries as invoiced, in one transaction."""
    if request.end < request.start:
        raise InvoiceError("The end date is before the start date.")
    for _attempt in range(NUMBER_ATTEMPTS):
        number = next_number(request.issue_date.year)
        try:
            return _create_once(request, number)
        except IntegrityError:
            db.session.rollback()
            if not _number_exists(number):
                raise
    raise InvoiceError("Could not allocate an invoice number; please try again.")


def _number_exists(number: str) -> bool:
    """True when `number` was taken meanwhile: the conflict is a lost race, worth retrying."""
    return db.session.scalar(select(func.count(Invoice.id)).where(Invoice.number == number)) > 0


def _create_once(request: InvoiceRequest, number: str) -> Invoice:
    client = db.session.get(Client, request.client_id)
    if client is None:
        raise InvoiceError("Unknown client.")
    entries = invoiceable_entries(client.id, request.start, request.end, request.timezone)
    if not entries:
        raise InvoiceError(f"{client.name} has no billable, finished, uninvoiced time between "
                           f"{request.start.isoformat()} and {request.end.isoformat()}.")
    invoice = Invoice(number=number, client=client, currency=client.currency,
                      status="draft", issue_date=request.issue_date, due_date=request.due_date,
                      tax_rate=request.tax_rate, notes=request.notes.strip(), lines=build_lines(entries))
    db.session.add(invoice)
    db.session.flush()
    ids = [entry.id for entry in entries]
    # Claim only entries still free: an entry invoiced meanwhile by someone else aborts this one.
    claimed = db.session.execute(
        update(TimeEntry).where(TimeEntry.id.in_(ids), TimeEntry.invoice_id.is_(None))
        .values(invoice_id=invoice.id).execution_options(synchronize_session=False)
    ).rowcount
    if claimed != len(ids):
        db.session.rollback()
        raise InvoiceError("Some of this time was invoiced meanwhile; please create the invoice again.")
    _commit(invoice, "upsert")
    return invoice


def update_draft(invoice: Invoice, *, due_date: date | None, tax_rate: Decimal, notes: str) -> Invoice:
    """Change a draft's terms; its lines come from the time and stay as they are."""
    if invoice.status != "draft":
        raise InvoiceError(f"Invoice {invoice.number} is {invoice.status}; only drafts can be changed.")
    if due_date is not None and due_date < invoice.issue_date:
        raise InvoiceError("The due date is before the issue date.")
    invoice.due_date, invoice.tax_rate, invoice.notes = due_date, tax_rate, notes.strip()
    _commit(invoice, "upsert")
    return invoice


def refresh_draft(invoice: Invoice) -> list[TimeEntry]:
    """Rebuild a draft's lines from its entries as they are now, after one was edited or
    deleted; no commit (the caller commits the entry and the draft together).

    An entry that no longer belongs on the invoice (made non-billable, moved to another
    client's project or to none) is released for a later invoice; those are returned.
    A draft whose last entry went keeps no lines, waiting to be deleted or left."""
    if invoice.status != "draft":
        raise InvoiceError(f"Invoice {invoice.number} is {invoice.status}; only drafts can be changed.")
    db.session.flush()  # the edit or delete must be seen by the query below
    entries = list(db.session.scalars(select(TimeEntry).where(TimeEntry.invoice_id == invoice.id)
                                      .order_by(TimeEntry.started_at, TimeEntry.id)))
    for entry in entries:
        db.session.expire(entry, ["project"])  # an edit sets project_id; the loaded project is stale
    released = [e for e in entries if not _belongs_on(e, invoice)]
    for entry in released:
        entry.invoice_id = None
    invoice.lines = build_lines([e for e in entries if e not in released])
    return released


def _belongs_on(entry: TimeEntry, invoice: Invoice) -> bool:
    return entry.billable and entry.ended_at is not None and entry.project is not None \
        and entry.project.client_id == invoice.client_id


def move_to(invoice: Invoice, status: str) -> Invoice:
    """draft -> issued -> paid, one step at a time; there is no way back."""
    if NEXT_STATUS.get(invoice.status) != status:
        raise InvoiceError(f"Invoice {invoice.number} is {invoice.status}; it cannot become {status}.")
    invoice.status = status
    notification_service.invoice_changed(db.session, invoice)
    _commit(invoice, "upsert")
    return invoice


def delete_draft(invoice: Invoice) -> None:
    """Delete a draft and release its time entries for a later invoice."""
    if invoice.status != "draft":
        raise InvoiceError(f"Invoice {invoice.number} is {invoice.status}; only drafts can be deleted.")
    db.session.execute(update(TimeEntry).where(TimeEntry.invoice_id == invoice.id).values(invoice_id=None)
                       .execution_options(synchronize_session=False))
    record_change(db.session, "invoice", invoice, "delete")
    db.session.delete(invoice)
    db.session.commit()


def _commit(invoice: Invoice, action: str) -> None:
    """The invoice's change and its outbox rows (accounting integrations) commit together."""
    record_change(db.session, "invoice", invoice, action)
    db.session.commit()


def entry_count(invoice: Invoice) -> int:
    return db.session.scalar(select(func.count(TimeEntry.id)).where(TimeEntry.invoice_id == invoice.id))
