"""Reports: finished time over a period, summed per project, client or user.

Decisions:
- A period is a run of whole local days in the viewer's time zone (day, the
  Monday-to-Sunday week, the calendar month, or any from..to range); an entry
  belongs to it when it *started* inside it, as for invoices. Running timers
  are left out until they stop.
- Only hours: rates and amounts are for admins on the invoice pages.
- Who: users see their own time only; admins may pick one user or everyone
  (`visible_user_ids`, the same rule as the time page).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import timefmt
from app.extensions import db
from app.models import Client, Project, TimeEntry, User
from app.services.invoice_service import hours_for

PERIODS = ("day", "week", "month", "custom")
GROUPS = ("project", "client", "user")
# A custom range longer than this is refused: a report is read, not a data dump.
MAX_DAYS = 366


class ReportInvalid(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Period:
    kind: str
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def shifted(self, direction: int) -> "Period":
        """The period before (-1) or after (+1) this one, of the same kind."""
        if self.kind == "month":
            anchor = (self.first - timedelta(days=1)) if direction < 0 else (self.last + timedelta(days=1))
            return period_for("month", anchor)
        step = timedelta(days=self.days * direction)
        return Period(self.kind, self.first + step, self.last + step)

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.first.strftime("%A, %d %B %Y")
        if self.kind == "month":
            return self.first.strftime("%B %Y")
        return f"{self.first.strftime('%d %b %Y')} – {self.last.strftime('%d %b %Y')}"


def period_for(kind: str, anchor: date, first: date | None = None, last: date | None = None) -> Period:
    if kind == "day":
        return Period("day", anchor, anchor)
    if kind == "week":
        monday = timefmt.week_start(anchor)
        return Period("week", monday, monday + timedelta(days=6))
    if kind == "month":
        length = calendar.monthrange(anchor.year, anchor.month)[1]
        return Period("month", anchor.replace(day=1), anchor.replace(day=length))
    if kind == "custom":
        if first is None or last is None:
            raise ReportInvalid("Give both dates of the range.")
        if last < first:
            raise ReportInvalid("The end date is before the start date.")
        if (last - first).days + 1 > MAX_DAYS:
            raise ReportInvalid(f"A report covers at most {MAX_DAYS} days.")
        return Period("custom", first, last)
    raise ReportInvalid(f"Unknown period: {kind}")


@dataclass
class Row:
    key: object
    label: str
    billable_seconds: int = 0
    other_seconds: int = 0
    entries: int = 0

    @property
    def seconds(self) -> int:
        return self.billable_seconds + self.other_seconds

    @property
    def hours(self) -> Decimal:
        return hours_for(self.seconds)

    @property
    def billable_hours(self) -> Decimal:
        return hours_for(self.billable_seconds)

    @property
    def other_hours(self) -> Decimal:
        return hours_for(self.other_seconds)


@dataclass
class Report:
    period: Period
    group: str
    rows: list[Row] = field(default_factory=list)

    @property
    def total(self) -> Row:
        total = Row(None, "Total")
        for row in self.rows:
            total.billable_seconds += row.billable_seconds
            total.other_seconds += row.other_seconds
            total.entries += row.entries
        return total

    @cached_property
    def largest_seconds(self) -> int:
        return max((r.seconds for r in self.rows), default=0)

    def share(self, row: Row) -> float:
        """The row's part of the largest row, 0..1, for the bars of the chart (the largest is
        found once: per row, it made a report of 200 projects 40,000 steps)."""
        largest = self.largest_seconds
        return row.seconds / largest if largest else 0.0


def build_report(period: Period, group: str, tz: ZoneInfo, *, user_ids: list[int] | None,
                 project_id: int | None = None) -> Report:
    """Finished entries that started in `period` (local days in `tz`), summed per `group`."""
    if group not in GROUPS:
        raise ReportInvalid(f"Unknown grouping: {group}")
    start, end = timefmt.day_range_utc(period.first, period.last, tz)
    query = (select(TimeEntry.started_at, TimeEntry.ended_at, TimeEntry.billable, TimeEntry.user_id,
                    TimeEntry.project_id, Project.name, Project.client_id, Client.name, User.name)
             .join(User, User.id == TimeEntry.user_id)
             .outerjoin(Project, Project.id == TimeEntry.project_id)
             .outerjoin(Client, Client.id == Project.client_id)
             .where(TimeEntry.started_at >= start, TimeEntry.started_at < end, TimeEntry.ended_at.is_not(None)))
    if user_ids is not None:
        query = query.where(TimeEntry.user_id.in_(user_ids))
    if project_id is not None:
        query = query.where(TimeEntry.project_id == project_id)
    rows: dict[object, Row] = {}
    for started, ended, billable, user_id, project, project_name, client_id, client_name, user_name \
            in db.session.execute(query):
        key, label = {
            "project": (project, (f"{project_name} ({client_name})" if client_name else project_name)
                        if project is not None else "No project"),
            "client": (client_id, client_name or "No client"),
            "user": (user_id, user_name),
        }[group]
        row = rows.setdefault(key, Row(key, label))
        seconds = int((ended - started).total_seconds())
        if billable:
            row.billable_seconds += seconds
        else:
            row.other_seconds += seconds
        row.entries += 1
    # Biggest first; the "none" row (no project / no client) last among equals.
    ordered = sorted(rows.values(), key=lambda r: (-r.seconds, r.key is None, r.label.lower()))
    return Report(period, group, ordered)


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(report: Report) -> list[list[str]]:
    heading = {"project": "Project", "client": "Client", "user": "User"}[report.group]
    lines = [[heading, "Billable hours", "Non-billable hours", "Total hours", "Entries"]]
    for row in [*report.rows, report.total]:
        lines.append([csv_cell(row.label), str(row.billable_hours), str(row.other_hours), str(row.hours),
                      str(row.entries)])
    return lines
