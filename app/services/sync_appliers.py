"""How a RemoteRecord becomes a local row, per local kind.

Each applier gives the columns of a new row (`new_values`) and the columns of a
linked row that differ from a record (`changes`: empty when nothing changed, so an
unchanged record costs no write); the engine writes them in bulk per page
(app/services/sync_writes.py). `prepare` looks up, once per page, what the records
refer to locally (users by e-mail).
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from app.integrations.exchange import RemoteRecord
from app.models import CalendarEvent, CalendarEventPerson, Invoice, Project, Task, User
from app.models.invoice import CENTS
from app.models.task import TASK_STATUSES
from app.services import sync_writes


def _differences(row, values: dict) -> dict:
    """The items of `values` that differ from what `row` holds."""
    return {name: value for name, value in values.items() if getattr(row, name) != value}


class ProjectApplier:
    model = Project

    @staticmethod
    def prepare(session: Session, records: list[RemoteRecord]) -> None:
        return None

    @staticmethod
    def new_values(record: RemoteRecord, parent_id: int | None, context) -> dict:
        return {"name": record.fields["name"][:200]}

    @staticmethod
    def changes(project: Project, record: RemoteRecord, parent_id: int | None, context) -> dict:
        return _differences(project, {"name": record.fields["name"][:200], "archived": False})


class TaskApplier:
    """Tasks under their project. A record's `assignee` field, when present, is None
    (unassigned) or {"user_id": a TimeHub user chosen by hand, or None,
    "email": the provider's e-mail for the person, or None}: the hand-made choice
    wins, then the e-mail; someone who matches no TimeHub user leaves the task unassigned."""

    model = Task
    parent_kind = "project"

    @staticmethod
    def prepare(session: Session, records: list[RemoteRecord]) -> dict:
        assignees = [r.fields["assignee"] for r in records if r.fields.get("assignee")]
        emails = {a["email"].lower() for a in assignees if a.get("email")}
        chosen = {a["user_id"] for a in assignees if a.get("user_id")}
        users = {"by_email": {}, "ids": set()}
        if emails:
            users["by_email"] = dict(session.execute(select(func.lower(User.email), User.id).where(
                func.lower(User.email).in_(emails))).all())
        if chosen:
            users["ids"] = set(session.scalars(select(User.id).where(User.id.in_(chosen))))
        return users

    @staticmethod
    def _assignee(assignee: dict | None, users: dict) -> int | None:
        if not assignee:
            return None
        if assignee.get("user_id") in users["ids"]:
            return assignee["user_id"]
        return users["by_email"].get((assignee.get("email") or "").lower())

    @classmethod
    def _values(cls, record: RemoteRecord, parent_id: int | None, users: dict) -> dict:
        status = record.fields.get("status", "todo")
        values = {
            "title": record.fields["title"][:500],
            "status": status if status in TASK_STATUSES else "todo",
            "external_key": record.fields.get("external_key"),
            "external_url": record.fields.get("external_url"),
            "project_id": parent_id,
            "archived": False,
        }
        if "assignee" in record.fields:
            values["assignee_id"] = cls._assignee(record.fields["assignee"], users)
        return values

    @classmethod
    def new_values(cls, record: RemoteRecord, parent_id: int | None, users: dict) -> dict:
        return cls._values(record, parent_id, users)

    @classmethod
    def changes(cls, task: Task, record: RemoteRecord, parent_id: int | None, users: dict) -> dict:
        return _differences(task, cls._values(record, parent_id, users))


class CalendarEventApplier:
    """Calendar events (one occurrence each), from any calendar provider. Fields:
    `title`, `starts_at` and `ends_at` (naive UTC), `series_key` (the recurring series,
    or None), `suggestible` and `skip_reason` (why it is never offered as time), and
    whose it is: `user_ids` (TimeHub users named by the connector, e.g. the owner of a
    per-user calendar) and `emails` (organiser and attendees, matched to TimeHub users
    case-insensitively). Someone no longer named loses the event unless they already
    turned it into time."""

    model = CalendarEvent
    # An event is a suggestion of the connection it came through (CalendarEvent.integration_id):
    # disconnecting removes it (sync_service.forget_imported).
    owned_by_integration = True

    @staticmethod
    def forget(session: Session, integration_id: int) -> int:
        """Remove the connection's events nobody turned into time, and the suggestions left to
        others on the ones somebody did (those stay, so a reconnect finds them converted and
        never offers them again). Returns how many events went."""
        ours = select(CalendarEvent.id).where(CalendarEvent.integration_id == integration_id)
        session.execute(delete(CalendarEventPerson).where(
            CalendarEventPerson.event_id.in_(ours), CalendarEventPerson.converted_at.is_(None)),
            execution_options={"synchronize_session": False})
        someone_converted = exists().where(CalendarEventPerson.event_id == CalendarEvent.id)
        return session.execute(delete(CalendarEvent).where(
            CalendarEvent.integration_id == integration_id, ~someone_converted),
            execution_options={"synchronize_session": False}).rowcount

    @staticmethod
    def prepare(session: Session, records: list[RemoteRecord]) -> dict:
        emails = {e.lower() for r in records for e in r.fields.get("emails", ()) if e}
        named = {i for r in records for i in r.fields.get("user_ids", ())}
        users = {"by_email": {}, "ids": set()}
        if emails:
            users["by_email"] = dict(session.execute(select(func.lower(User.email), User.id).where(
                func.lower(User.email).in_(emails))).all())
        if named:
            users["ids"] = set(session.scalars(select(User.id).where(User.id.in_(named))))
        return users

    @staticmethod
    def _people(record: RemoteRecord, users: dict) -> set[int]:
        found = {i for i in record.fields.get("user_ids", ()) if i in users["ids"]}
        found.update(users["by_email"][e.lower()] for e in record.fields.get("emails", ())
                     if e and e.lower() in users["by_email"])
        return found

    @staticmethod
    def _values(record: RemoteRecord) -> dict:
        fields = record.fields
        return {"title": (fields.get("title") or "")[:500], "starts_at": fields["starts_at"],
                "ends_at": fields["ends_at"], "series_key": (fields.get("series_key") or None),
                "suggestible": bool(fields.get("suggestible", True)),
                "skip_reason": (fields.get("skip_reason") or None), "archived": False}

    @classmethod
    def new_values(cls, record: RemoteRecord, parent_id: int | None, users: dict) -> dict:
        return cls._values(record)

    @classmethod
    def after_insert(cls, session: Session, created: list[tuple[int, RemoteRecord]], users: dict) -> None:
        """The people of the events just inserted, in one statement."""
        sync_writes.insert_plain(session, CalendarEventPerson, [
            {"event_id": event_id, "user_id": user_id}
            for event_id, record in created for user_id in sorted(cls._people(record, users))])

    @classmethod
    def changes(cls, event: CalendarEvent, record: RemoteRecord, parent_id: int | None, users: dict) -> dict:
        return _differences(event, cls._values(record))

    @classmethod
    def update_related(cls, event: CalendarEvent, record: RemoteRecord, users: dict) -> bool:
        """Whose the event is, through the ORM (people change rarely); True if anyone came or went."""
        changed = False
        wanted = cls._people(record, users)
        present = {person.user_id for person in event.people}
        for person in list(event.people):
            if person.user_id not in wanted and person.converted_at is None:
                event.people.remove(person)
                changed = True
        for user_id in sorted(wanted - present):
            event.people.append(CalendarEventPerson(user_id=user_id))
            changed = True
        return changed


class InvoicePaymentApplier:
    """An accounting provider's word on an invoice TimeHub pushed there: `paid` True marks an
    issued invoice paid here. Only invoices that exist here and are linked are touched
    (`updates_only`: a provider invoice TimeHub never sent creates nothing), and nothing
    else of the invoice changes: the provider does not own its lines or terms."""

    model = Invoice
    updates_only = True

    @staticmethod
    def prepare(session: Session, records: list[RemoteRecord]) -> None:
        return None

    @staticmethod
    def new_values(record: RemoteRecord, parent_id: int | None, context) -> dict:
        raise AssertionError("invoices are never created from a provider's records")

    @staticmethod
    def changes(invoice: Invoice, record: RemoteRecord, parent_id: int | None, context) -> dict:
        return {"status": "paid"} if record.fields.get("paid") and invoice.status == "issued" else {}

    @staticmethod
    def remote_note(invoice: Invoice, record: RemoteRecord) -> str | None:
        """What someone did to the provider's copy since TimeHub wrote it, in words, or None.
        Only records whose version differs from TimeHub's own last write get here (the engine
        skips the others), so a difference from the local invoice is someone else's edit; a
        payment alone changes nothing TimeHub sent. `fields`: provider, removed ("voided" /
        "deleted" / ""), number, issue_date (ISO), subtotal."""
        fields = record.fields
        where = fields.get("provider") or "the provider"
        if fields.get("removed"):
            return f"{fields['removed'].capitalize()} in {where}; TimeHub does not send it again."
        changes = []
        if fields.get("number") not in (None, invoice.number):
            changes.append(f"number {fields['number']} (here {invoice.number})")
        if fields.get("issue_date") not in (None, invoice.issue_date.isoformat()):
            changes.append(f"date {fields['issue_date']} (here {invoice.issue_date.isoformat()})")
        subtotal = fields.get("subtotal")
        # A provider may round each line's half cent the other way (Xero multiplies itself):
        # a cent a line is rounding, more is an edit.
        rounding = CENTS * max(len(invoice.lines), 1)
        if subtotal is not None and abs(Decimal(str(subtotal)) - invoice.subtotal) > rounding:
            changes.append(f"amount before tax {Decimal(str(subtotal)).quantize(CENTS)} (here {invoice.subtotal})")
        if not changes:
            return None
        return f"Changed in {where}: {', '.join(changes)}. TimeHub does not overwrite the accountant's edit."


APPLIERS = {"project": ProjectApplier, "task": TaskApplier, "calendar_event": CalendarEventApplier,
            "invoice": InvoicePaymentApplier}
