"""The weekly timesheet: one user's time as rows (project, task) x 7 local days.

A cell is the sum of the user's entries on that project and task that *start* on that
local day (the user's time zone), as on the time page. Typing a new total into a cell
changes the entries behind it, always through time_service (validation, draft
invoices, the outbox):

- an empty cell typed into: one new entry starting at DEFAULT_START local time;
- more than before: the cell's last entry grows by the difference;
- less: entries are shortened from the last one back, and any left with nothing deleted;
- empty or 0: every entry of the cell is deleted.

A cell holding a running timer or an entry on an issued or paid invoice is refused
with the reason, and then nothing of that save is written (check_cell runs for every
typed cell first); only a cell invoiced between that check and its write can leave the
cells before it saved, and the answer says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import timefmt
from app.extensions import db
from app.models import Project, Task, TimeEntry, User
from app.services import time_service
from app.services.time_service import EntryFields, TimeEntryInvalid, TimeEntryLocked

DAYS = 7
DEFAULT_START = time(9, 0)  # where a cell's first entry starts: a working morning in any zone

RowKey = tuple[int | None, int | None]  # (project id, task id)


class CellRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Cell:
    entries: list[TimeEntry] = field(default_factory=list)

    @property
    def seconds(self) -> int:
        return sum(int(e.duration.total_seconds()) for e in self.entries)

    @property
    def shown(self) -> str:
        """What the input shows (H:MM, whole minutes down), and what an unchanged input sends back."""
        return timefmt.format_duration(self.seconds) if self.entries else ""

    @property
    def running(self) -> bool:
        return any(e.is_running for e in self.entries)

    @property
    def locked_reason(self) -> str | None:
        for entry in self.entries:
            if time_service.is_locked(entry):
                return TimeEntryLocked(entry).message.replace("This entry", "Time in this cell")
        if self.running:
            return "A timer is running in this cell; stop it on the time page first."
        return None


@dataclass
class Row:
    key: RowKey
    label: str
    cells: list[Cell] = field(default_factory=lambda: [Cell() for _ in range(DAYS)])

    @property
    def seconds(self) -> int:
        return sum(cell.seconds for cell in self.cells)


@dataclass
class Grid:
    monday: date
    rows: list[Row]

    @property
    def days(self) -> list[date]:
        return [self.monday + timedelta(days=n) for n in range(DAYS)]

    def day_seconds(self, index: int) -> int:
        return sum(row.cells[index].seconds for row in self.rows)

    @property
    def seconds(self) -> int:
        return sum(row.seconds for row in self.rows)

    def row(self, key: RowKey) -> Row | None:
        return next((row for row in self.rows if row.key == key), None)


def row_label(project: Project | None, task: Task | None) -> str:
    if project is None:
        return "No project"
    return f"{project.name} › {task.title}" if task is not None else project.name


def build_grid(user: User, monday: date, tz: ZoneInfo) -> Grid:
    """The user's week from `monday` (a local date), rows ordered by label."""
    start, end = timefmt.day_range_utc(monday, monday + timedelta(days=DAYS - 1), tz)
    entries = db.session.scalars(
        select(TimeEntry).options(selectinload(TimeEntry.project), selectinload(TimeEntry.task),
                                  selectinload(TimeEntry.invoice))
        .where(TimeEntry.user_id == user.id, TimeEntry.started_at >= start, TimeEntry.started_at < end)
        .order_by(TimeEntry.started_at, TimeEntry.id))
    rows: dict[RowKey, Row] = {}
    for entry in entries:
        key = (entry.project_id, entry.task_id)
        row = rows.setdefault(key, Row(key, row_label(entry.project, entry.task)))
        index = (timefmt.local_date(entry.started_at, tz) - monday).days
        row.cells[index].entries.append(entry)
    return Grid(monday, sorted(rows.values(), key=lambda r: (r.key[0] is None, r.label.lower())))


def new_row(project_id: int | None, task_id: int | None) -> Row:
    """An empty row for a project or task chosen to add to the week; CellRefused when unknown."""
    task = db.session.get(Task, task_id) if task_id is not None else None
    if task_id is not None and task is None:
        raise CellRefused("No such task.")
    project = db.session.get(Project, task.project_id if task else project_id) if (task or project_id) else None
    if (task or project_id) and project is None:
        raise CellRefused("No such project.")
    if project is not None and project.archived:
        raise CellRefused(f"Project {project.name} is archived.")
    return Row((project.id if project else None, task.id if task else None), row_label(project, task))


def check_cell(row: Row, index: int, seconds: int) -> None:
    """CellRefused when the cell cannot become `seconds`: checked for every cell of a save
    before any is written, so that a refused save changes nothing."""
    cell = row.cells[index]
    if seconds == cell.seconds:
        return
    if (reason := cell.locked_reason) is not None:
        raise CellRefused(reason)
    project = db.session.get(Project, row.key[0]) if row.key[0] is not None else None
    if not cell.entries and project is not None and project.archived:
        raise CellRefused(f"Project {project.name} is archived: no new time on it.")


def set_cell(user: User, row: Row, index: int, day: date, seconds: int, tz: ZoneInfo) -> bool:
    """Make the cell total `seconds` (0 = empty). True when something changed.

    Raises CellRefused (see check_cell), TimeEntryInvalid (refused by time_service)."""
    cell = row.cells[index]
    if seconds == cell.seconds:
        return False
    check_cell(row, index, seconds)
    try:
        if not cell.entries:
            started = timefmt.to_utc(datetime.combine(day, DEFAULT_START), tz)
            project_id, task_id = row.key
            cell.entries.append(time_service.create_entry(user, EntryFields(
                started_at=started, ended_at=started + timedelta(seconds=seconds),
                project_id=project_id, task_id=task_id)))
        elif seconds > cell.seconds:
            last = cell.entries[-1]
            _set_length(last, last.duration + timedelta(seconds=seconds - cell.seconds))
        else:
            _shrink(cell, seconds)
    except TimeEntryLocked as exc:  # invoiced meanwhile
        raise CellRefused(exc.message) from None
    return True


def _shrink(cell: Cell, seconds: int) -> None:
    """Keep the first `seconds` of the cell's time, in start order."""
    left = seconds
    for entry in list(cell.entries):
        length = int(entry.duration.total_seconds())
        if left <= 0:
            time_service.delete_entry(entry)
            cell.entries.remove(entry)
        elif length > left:
            _set_length(entry, timedelta(seconds=left))
        left -= length


def _set_length(entry: TimeEntry, length: timedelta) -> None:
    time_service.update_entry(entry, EntryFields(
        started_at=entry.started_at, ended_at=entry.started_at + length, description=entry.description,
        project_id=entry.project_id, task_id=entry.task_id))


__all__ = ["CellRefused", "Grid", "Row", "TimeEntryInvalid", "build_grid", "check_cell", "new_row", "set_cell"]
