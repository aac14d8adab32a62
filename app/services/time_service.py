"""Time entries: the only place that writes them.

Every change to a time entry (start, stop, create, update, delete) goes
through a function here and is committed by `_commit`, so that the sync
engine can add its outbox row to the same transaction in one place.

Functions take and return naive UTC datetimes; converting from and to the
user's time zone is the caller's job (see app.timefmt). Who may touch which
entry is decided by `visible_entry` / `visible_user_ids`; the write functions
trust that the caller has checked it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.inputs import check_date, optional_id
from app.models import Invoice, Project, Task, TimeEntry, User
from app.models.base import utcnow
from app.services import invoice_service, notification_service, tag_service
from app.services.sync_service import push_notices, record_change
from app.timefmt import MAX_ENTRY_HOURS, local_date

DESCRIPTION_MAX = 1000
# A timer stopped sooner than this was started by mistake: it would show as 0:00 and the
# manual form refuses such an entry, so stopping it discards it instead of saving it.
MIN_TIMER_SECONDS = 60


class TimeEntryInvalid(Exception):
    """Input that would make a wrong entry; `errors` maps a field name to a message.

    Field names: description, project, task, started_at, ended_at, tags.
    """

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class TimeEntryLocked(Exception):
    """The entry is on an invoice that is no longer a draft."""

    def __init__(self, entry: TimeEntry):
        invoice = entry.invoice
        super().__init__(
            f"This entry is on invoice {invoice.number}, which is {invoice.status}; "
            "it can no longer be changed or deleted."
        )
        self.message = str(self)


@dataclass(frozen=True)
class EntryFields:
    """What a person can set on an entry (ended_at None = timer keeps running).

    billable None: the project's default on a new entry, unchanged on an existing one.
    tags: tag names (tag_service.parse_names); None leaves an existing entry's tags as they are."""

    started_at: datetime
    ended_at: datetime | None
    description: str = ""
    project_id: int | None = None
    task_id: int | None = None
    billable: bool | None = None
    tags: tuple[str, ...] | None = None


# ---- reading ---------------------------------------------------------------------------------

def is_locked(entry: TimeEntry) -> bool:
    return entry.invoice_id is not None and entry.invoice is not None and entry.invoice.status != "draft"


def running_entry(user: User) -> TimeEntry | None:
    return db.session.scalars(
        select(TimeEntry).where(TimeEntry.user_id == user.id, TimeEntry.ended_at.is_(None))
    ).one_or_none()


def visible_entry(viewer: User, entry_id: int) -> TimeEntry | None:
    """The entry if `viewer` may see and change it (their own, or any for admins)."""
    entry = db.session.get(TimeEntry, entry_id)
    if entry is None or (entry.user_id != viewer.id and not viewer.is_admin):
        return None
    return entry


def visible_user_ids(viewer: User, requested: str | None) -> list[int] | None:
    """Whose entries a list shows: None = everyone (admins, `requested == "all"`).

    Raises LookupError when the viewer may not see the requested user (the
    caller answers 404): non-admins only ever see themselves.
    """
    if requested in (None, "", str(viewer.id)):
        return [viewer.id]
    if not viewer.is_admin:
        raise LookupError(requested)
    if requested == "all":
        return None
    user_id = optional_id(requested)
    if user_id is None or db.session.get(User, user_id) is None:
        raise LookupError(requested)
    return [user_id]


def entries_between(user_ids: list[int] | None, start: datetime, end: datetime | None) -> list[TimeEntry]:
    """Entries that start in [start, end) (end None = open), newest first."""
    # Tags in one more query, not one per listed entry.
    query = select(TimeEntry).options(selectinload(TimeEntry.tags)).where(TimeEntry.started_at >= start)
    if end is not None:
        query = query.where(TimeEntry.started_at < end)
    if user_ids is not None:
        query = query.where(TimeEntry.user_id.in_(user_ids))
    return list(db.session.scalars(query.order_by(TimeEntry.started_at.desc(), TimeEntry.id.desc())))


@dataclass
class Day:
    day: date
    entries: list[TimeEntry] = field(default_factory=list)

    @property
    def total(self) -> timedelta:
        return sum((entry.duration for entry in self.entries), timedelta())


def group_by_day(entries: list[TimeEntry], tz: ZoneInfo) -> list[Day]:
    """Entries by the local day they start on, keeping the order they came in."""
    days: dict[date, Day] = {}
    for entry in entries:
        day = local_date(entry.started_at, tz)
        days.setdefault(day, Day(day)).entries.append(entry)
    return list(days.values())


# ---- writing ---------------------------------------------------------------------------------

def start_timer(user: User, *, description: str = "", project_id: int | None = None,
                task_id: int | None = None, billable: bool | None = None, tags: tuple[str, ...] | None = None,
                now: datetime | None = None) -> TimeEntry:
    """Start a timer for `user`, stopping their running one first (at the same instant).

    Starting never refuses because another timer runs: switching tasks is one
    click. The database still guarantees one running timer per user, so two
    concurrent starts cannot both win; the loser gets TimeEntryInvalid.
    """
    now = now or utcnow()
    fields = EntryFields(started_at=now, ended_at=None, description=description,
                         project_id=project_id, task_id=task_id, billable=billable, tags=tags)
    _validate(fields)
    running = running_entry(user)
    if running is not None:
        running.ended_at = max(now, running.started_at)
        db.session.flush()  # the stop must reach the database before the new running row
    entry = TimeEntry(user_id=user.id)
    _apply(entry, fields)
    db.session.add(entry)
    _commit(entry, "started", conflict="Another timer was started at the same moment; reload the page.")
    return entry


def stop_timer(user: User, *, now: datetime | None = None) -> TimeEntry | None:
    """Stop the user's running timer; None when none runs.

    A timer stopped within MIN_TIMER_SECONDS is deleted, not kept: the entry is
    returned all the same, and `is_too_short(entry)` tells the caller it is gone."""
    entry = running_entry(user)
    if entry is None:
        return None
    entry.ended_at = max(now or utcnow(), entry.started_at)
    if is_too_short(entry):
        db.session.delete(entry)
        _commit(entry, "deleted")
    else:
        _commit(entry, "stopped")
    return entry


def is_too_short(entry: TimeEntry) -> bool:
    """A stopped timer too short to keep (see MIN_TIMER_SECONDS)."""
    return entry.ended_at is not None and entry.duration.total_seconds() < MIN_TIMER_SECONDS


def create_entry(user: User, fields: EntryFields) -> TimeEntry:
    """A finished entry typed in by hand."""
    entry = build_entry(user, fields)
    commit_created(entry)
    return entry


def build_entry(user: User, fields: EntryFields) -> TimeEntry:
    """A finished entry, validated and added to the session but not committed, for a
    caller that changes something else in the same transaction (then commit_created)."""
    if fields.ended_at is None:
        raise TimeEntryInvalid({"ended_at": "Give an end time or a duration."})
    _validate(fields)
    entry = TimeEntry(user_id=user.id)
    _apply(entry, fields)
    db.session.add(entry)
    return entry


def draft_of(entry: TimeEntry) -> Invoice | None:
    """The draft invoice the entry is on, if any (its lines follow the entry's changes)."""
    invoice = entry.invoice if entry.invoice_id is not None else None
    return invoice if invoice is not None and invoice.status == "draft" else None


def commit_created(entry: TimeEntry) -> None:
    _commit(entry, "created")


def update_entry(entry: TimeEntry, fields: EntryFields) -> TimeEntry:
    """Change an entry. A running entry may stay running (ended_at None); a stopped one may not restart.

    An entry on a draft invoice updates the draft's lines in the same transaction."""
    if is_locked(entry):
        raise TimeEntryLocked(entry)
    if fields.ended_at is None and not entry.is_running:
        raise TimeEntryInvalid({"ended_at": "Give an end time."})
    _validate(fields, current=entry)
    draft = draft_of(entry)
    _apply(entry, fields)
    if draft is not None:
        invoice_service.refresh_draft(draft)
    _commit(entry, "updated", draft=draft)
    return entry


def delete_entry(entry: TimeEntry) -> None:
    if is_locked(entry):
        raise TimeEntryLocked(entry)
    draft = draft_of(entry)
    db.session.delete(entry)
    if draft is not None:
        invoice_service.refresh_draft(draft)
    _commit(entry, "deleted", draft=draft)


def _validate(fields: EntryFields, current: TimeEntry | None = None) -> None:
    errors: dict[str, str] = {}
    if len(fields.description) > DESCRIPTION_MAX:
        errors["description"] = f"At most {DESCRIPTION_MAX} characters."
    if fields.ended_at is not None and fields.ended_at <= fields.started_at:
        errors["ended_at"] = "The end must be after the start."
    elif fields.ended_at is not None and fields.ended_at - fields.started_at > timedelta(hours=MAX_ENTRY_HOURS):
        errors["ended_at"] = f"One entry lasts at most {MAX_ENTRY_HOURS} hours; split longer work into several."
    for name in ("started_at", "ended_at"):
        moment = getattr(fields, name)
        try:
            if moment is not None:
                check_date(moment.date())
        except ValueError as exc:
            errors.setdefault(name, str(exc))
    project = db.session.get(Project, fields.project_id) if fields.project_id is not None else None
    if fields.project_id is not None:
        if project is None:
            errors["project"] = "No such project."
        elif project.archived and (current is None or current.project_id != project.id):
            errors["project"] = f"Project {project.name} is archived."
    if fields.task_id is not None:
        task = db.session.get(Task, fields.task_id)
        if task is None:
            errors["task"] = "No such task."
        elif fields.project_id is not None and task.project_id != fields.project_id:
            errors["task"] = "This task belongs to another project."
    if fields.tags is not None:
        try:
            tag_service.check(fields.tags)
        except tag_service.TagInvalid as exc:
            errors["tags"] = exc.message
    if errors:
        raise TimeEntryInvalid(errors)


def _apply(entry: TimeEntry, fields: EntryFields) -> None:
    entry.started_at = fields.started_at
    entry.ended_at = fields.ended_at
    entry.description = fields.description.strip()
    entry.task_id = fields.task_id
    # A task implies its project, so choosing only a task is enough.
    entry.project_id = fields.project_id if fields.project_id is not None or fields.task_id is None \
        else db.session.get(Task, fields.task_id).project_id
    if fields.billable is not None:
        entry.billable = fields.billable
    elif entry.id is None:  # a new entry: billable as its project says, billable without one
        project = db.session.get(Project, entry.project_id) if entry.project_id is not None else None
        entry.billable = project.billable_by_default if project is not None else True
    if fields.tags is not None:
        entry.tags = tag_service.resolve(list(fields.tags))


def _commit(entry: TimeEntry, action: str, *, conflict: str | None = None, draft: Invoice | None = None) -> None:
    """The single commit point for time entries: the change and its outbox
    rows (for the integrations that push time) commit together, with the
    draft invoice whose lines the change rebuilt (and its outbox rows).

    `action` is one of started, stopped, created, updated, deleted.
    """
    try:
        db.session.flush()  # assigns the id a new entry's outbox rows refer to
        record_change(db.session, "time_entry", entry, "delete" if action == "deleted" else "upsert")
        if draft is not None:
            record_change(db.session, "invoice", draft, "upsert")
        if action != "deleted":
            notification_service.time_entry_changed(db.session, entry, action)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if conflict is None:
            raise
        raise TimeEntryInvalid({"started_at": conflict}) from None


def sync_notices(entry: TimeEntry) -> list[str]:
    """What integrations have to say about the entry just saved (e.g. too short for Jira)."""
    return push_notices(db.session, "time_entry", entry)
