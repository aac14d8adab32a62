"""Invoices: built from a client's billable, finished, not yet invoiced time,
numbered without gaps or duplicates, and moved through draft -> issued -> paid.

Decisions:
- Lines group the time as chosen at creation (Invoice.line_grouping): per project (the
  default), per task (project and task), or one line per entry. Each is priced at the entry's
  rate (rate_service: project > person > default), so a group whose people are billed at
  different rates gets one line per rate.
- The seller's details (SellerDetails, set by an admin) are copied onto the invoice
  when it is issued: what was sent never changes when the details are edited later.
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
from app.models import Client, Invoice, InvoiceLine, Project, SellerDetails, TimeEntry
from app.models.invoice import LINE_GROUPINGS
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
    line_grouping: str = "project"


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


def build_lines(entries: list[TimeEntry], grouping: str = "project", timezone: str = "UTC") -> list[InvoiceLine]:
    """The invoice's lines for `entries`, grouped per project, per task or per entry, and per rate."""
    rate_of = _rates()
    if grouping == "entry":
        return [_entry_line(entry, ZoneInfo(timezone), rate_of(entry)) for entry in entries]
    seconds: dict[tuple[Project, object, Decimal], float] = defaultdict(float)
    for entry in entries:
        task = entry.task if grouping == "task" else None
        seconds[(entry.project, task, rate_of(entry))] += (entry.ended_at - entry.started_at).total_seconds()

    def order(key):
        project, task, rate = key
        return project.name.lower(), project.id, task is not None, task.title.lower() if task else "", \
            task.id if task else 0, -rate

    return [
        InvoiceLine(description=_group_name(project, task), hours=hours_for(seconds[(project, task, rate)]),
                    unit_price=rate)
        for project, task, rate in sorted(seconds, key=order)
    ]


def _group_name(project: Project, task) -> str:
    return f"{project.name} › {task.title}"[:500] if task is not None else project.name


def _rates():
    """entry -> the rate its time is billed at; the default rate is read once, when needed."""
    default: list[Decimal] = []

    def rate_of(entry: TimeEntry) -> Decimal:
        if entry.project.hourly_rate:
            return entry.project.hourly_rate
        if not default:
            default.append(rate_service.default_rate())
        return rate_service.rate_for(entry.project.hourly_rate, entry.user.hourly_rate, default[0])
    return rate_of


def _entry_line(entry: TimeEntry, zone: ZoneInfo, rate: Decimal) -> InvoiceLine:
    """One entry: its local date, what it was about, and where it was booked."""
    day = entry.started_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date().isoformat()
    where = _group_name(entry.project, entry.task)
    text = f"{day} {entry.description.strip()} ({where})" if entry.description.strip() else f"{day} {where}"
    seconds = (entry.ended_at - entry.started_at).total_seconds()
    return InvoiceLine(description=text[:500], hours=hours_for(seconds), unit_price=rate)


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
    if request.line_grouping not in LINE_GROUPINGS:
        raise InvoiceError(f"Unknown line grouping: {request.line_grouping}")
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
                      tax_rate=request.tax_rate, notes=request.notes.strip(), period_start=request.start,
                      period_end=request.end, line_grouping=request.line_grouping, timezone=request.timezone,
                      lines=build_lines(entries, request.line_grouping, request.timezone))
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
    client's project or to none, or out of the invoice's period) is released for a later
    invoice; those are returned.
    A draft whose last entry went keeps no lines, waiting to be deleted or left."""
    if invoice.status != "draft":
        raise InvoiceError(f"Invoice {invoice.number} is {invoice.status}; only drafts can be changed.")
    db.session.flush()  # the edit or delete must be seen by the query below
    entries = list(db.session.scalars(select(TimeEntry).where(TimeEntry.invoice_id == invoice.id)
                                      .order_by(TimeEntry.started_at, TimeEntry.id)))
    for entry in entries:
        db.session.expire(entry, ["project", "task"])  # an edit sets the ids; the loaded objects are stale
    released = [e for e in entries if not _belongs_on(e, invoice)]
    for entry in released:
        entry.invoice_id = None
    invoice.lines = build_lines([e for e in entries if e not in released], invoice.line_grouping,
                                invoice.timezone or "UTC")
    return released


def _belongs_on(entry: TimeEntry, invoice: Invoice) -> bool:
    return entry.billable and entry.ended_at is not None and entry.project is not None \
        and entry.project.client_id == invoice.client_id and _in_period(entry, invoice)


def _in_period(entry: TimeEntry, invoice: Invoice) -> bool:
    """Within the dates the invoice covers (always, for invoices made before they were kept)."""
    if invoice.period_start is None or invoice.period_end is None:
        return True
    lower, upper = utc_bounds(invoice.period_start, invoice.period_end, invoice.timezone or "UTC")
    return lower <= entry.started_at < upper


def move_to(invoice: Invoice, status: str) -> Invoice:
    """draft -> issued -> paid, one step at a time; there is no way back."""
    if NEXT_STATUS.get(invoice.status) != status:
        raise InvoiceError(f"Invoice {invoice.number} is {invoice.status}; it cannot become {status}.")
    invoice.status = status
    if status == "issued":
        _copy_seller(invoice)
    notification_service.invoice_changed(db.session, invoice)
    _commit(invoice, "upsert")
    return invoice


def seller_details() -> SellerDetails:
    """The one row of seller details (empty until an admin fills it in; not yet saved then)."""
    return db.session.scalar(select(SellerDetails).order_by(SellerDetails.id).limit(1)) or SellerDetails(
        name="", address="", tax_id="", payment_terms="")


def save_seller_details(*, name: str, address: str, tax_id: str, payment_terms: str) -> SellerDetails:
    details = seller_details()
    details.name, details.address = name.strip(), address.strip()
    details.tax_id, details.payment_terms = tax_id.strip(), payment_terms.strip()
    db.session.add(details)
    db.session.commit()
    return details


def _copy_seller(invoice: Invoice) -> None:
    details = seller_details()
    invoice.seller_name, invoice.seller_address = details.name, details.address
    invoice.seller_tax_id, invoice.seller_payment_terms = details.tax_id, details.payment_terms


@dataclass(frozen=True)
class Seller:
    name: str
    address: str
    tax_id: str
    payment_terms: str


def seller_of(invoice: Invoice) -> Seller:
    """Who the invoice is from: as copied at issue, or the current details on a draft."""
    if invoice.status != "draft" and invoice.seller_name is not None:
        return Seller(invoice.seller_name, invoice.seller_address or "", invoice.seller_tax_id or "",
                      invoice.seller_payment_terms or "")
    details = seller_details()
    return Seller(details.name, details.address, details.tax_id, details.payment_terms)


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
