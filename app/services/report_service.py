"""Reports: finished time over a period, summed per project, client or user.

Decisions:
- A period is a run of whole local days in the viewer's time zone (day, the
  Monday-to-Sunday week, the calendar month, or any from..to range); an entry
  belongs to it when it *started* inside it, as for invoices. Running timers
  are left out until they stop.
- Hours for everyone; amounts (billable hours x each entry's rate, see rate_service)
  only when the caller asks, which the routes do for admins alone. Amounts are summed
  per currency (the client's), never across currencies; time without a client has no
  currency ("").
- Grouped by tag, an entry with two tags counts in both rows: the total is computed
  from the entries themselves, so it is never double.
- Who: users see their own time only; admins may pick one user or everyone
  (`visible_user_ids`, the same rule as the time page).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import timefmt
from app.extensions import db
from app.models import Client, Project, Tag, Task, TimeEntry, User, time_entry_tags
from app.services import rate_service
from app.services.hours import hours_for

PERIODS = ("day", "week", "month", "custom")
GROUPS = ("project", "client", "task", "user", "tag")
GROUP_HEADINGS = {"project": "Project", "client": "Client", "task": "Task", "user": "User", "tag": "Tag"}
BILLABLE_FILTERS = ("", "yes", "no")  # everything, billable only, non-billable only
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
    amounts: dict[str, Decimal] = field(default_factory=dict)  # currency -> billable amount

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

    def amount_in(self, currency: str) -> Decimal:
        """The row's billable amount in `currency`, in cents."""
        return rate_service.cents(self.amounts.get(currency, Decimal("0")))

    def add(self, seconds: int, billable: bool, currency: str, amount: Decimal | None) -> None:
        if billable:
            self.billable_seconds += seconds
            if amount is not None:
                self.amounts[currency] = self.amounts.get(currency, Decimal("0")) + amount
        else:
            self.other_seconds += seconds
        self.entries += 1


@dataclass
class Report:
    period: Period
    group: str
    rows: list[Row] = field(default_factory=list)
    total: Row = field(default_factory=lambda: Row(None, "Total"))
    days: list[Row] = field(default_factory=list)  # one per day of the period, for the chart
    with_money: bool = False

    @property
    def heading(self) -> str:
        return GROUP_HEADINGS[self.group]

    @property
    def currencies(self) -> list[str]:
        """Every currency an amount is in, named ones first."""
        return sorted(self.total.amounts, key=lambda c: (c == "", c))

    def share(self, row: Row) -> float:
        """The row's part of the largest row, 0..1, for the bars of the chart."""
        largest = max((r.seconds for r in self.rows), default=0)
        return row.seconds / largest if largest else 0.0

    @property
    def busiest_day_seconds(self) -> int:
        return max((day.seconds for day in self.days), default=0)


def build_report(period: Period, group: str, tz: ZoneInfo, *, user_ids: list[int] | None,
                 project_id: int | None = None, tag_id: int | None = None, billable: str = "",
                 with_money: bool = False) -> Report:
    """Finished entries that started in `period` (local days in `tz`), summed per `group`."""
    if group not in GROUPS:
        raise ReportInvalid(f"Unknown grouping: {group}")
    if billable not in BILLABLE_FILTERS:
        raise ReportInvalid(f"Unknown billable filter: {billable}")
    start, end = timefmt.day_range_utc(period.first, period.last, tz)
    query = (select(TimeEntry.id, TimeEntry.started_at, TimeEntry.ended_at, TimeEntry.billable, TimeEntry.user_id,
                    TimeEntry.project_id, Project.name, Project.client_id, Client.name, User.name,
                    TimeEntry.task_id, Task.title, Project.hourly_rate, User.hourly_rate, Client.currency)
             .join(User, User.id == TimeEntry.user_id)
             .outerjoin(Project, Project.id == TimeEntry.project_id)
             .outerjoin(Client, Client.id == Project.client_id)
             .outerjoin(Task, Task.id == TimeEntry.task_id)
             .where(TimeEntry.started_at >= start, TimeEntry.started_at < end, TimeEntry.ended_at.is_not(None)))
    if user_ids is not None:
        query = query.where(TimeEntry.user_id.in_(user_ids))
    if project_id is not None:
        query = query.where(TimeEntry.project_id == project_id)
    if tag_id is not None:
        query = query.where(select(time_entry_tags.c.tag_id).where(
            time_entry_tags.c.time_entry_id == TimeEntry.id, time_entry_tags.c.tag_id == tag_id).exists())
    if billable:
        query = query.where(TimeEntry.billable.is_(billable == "yes"))
    found = db.session.execute(query).all()
    tags = _tags_of([row[0] for row in found]) if group == "tag" else {}
    default_rate = rate_service.default_rate() if with_money else None
    report = Report(period, group, with_money=with_money)
    days = {period.first + timedelta(days=n): Row(period.first + timedelta(days=n), "") for n in range(period.days)}
    rows: dict[object, Row] = {}
    for (entry_id, started, ended, is_billable, user_id, project, project_name, client_id, client_name, user_name,
         task_id, task_title, project_rate, user_rate, currency) in found:
        seconds = int((ended - started).total_seconds())
        amount = rate_service.amount(seconds, rate_service.rate_for(project_rate, user_rate, default_rate)) \
            if with_money and is_billable else None
        currency = currency or ""
        if group == "tag":
            keys = tags.get(entry_id) or [(None, "No tag")]
        else:
            keys = [{
                "project": (project, (f"{project_name} ({client_name})" if client_name else project_name)
                            if project is not None else "No project"),
                "client": (client_id, client_name or "No client"),
                "task": (task_id, f"{project_name} › {task_title}" if task_id is not None else "No task"),
                "user": (user_id, user_name),
            }[group]]
        for key, label in keys:
            rows.setdefault(key, Row(key, label)).add(seconds, is_billable, currency, amount)
        report.total.add(seconds, is_billable, currency, amount)
        day = days.get(timefmt.local_date(started, tz))
        if day is not None:
            day.add(seconds, is_billable, currency, None)
    # Biggest first; the "none" row (no project / no client / no tag) last among equals.
    report.rows = sorted(rows.values(), key=lambda r: (-r.seconds, r.key is None, r.label.lower()))
    report.days = list(days.values())
    return report


def _tags_of(entry_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Each entry's tags as (id, name), in chunks so that no query carries an endless IN list."""
    tags: dict[int, list[tuple[int, str]]] = {}
    for first in range(0, len(entry_ids), 5000):
        chunk = entry_ids[first:first + 5000]
        for entry_id, tag_id, name in db.session.execute(
                select(time_entry_tags.c.time_entry_id, Tag.id, Tag.name)
                .join(Tag, Tag.id == time_entry_tags.c.tag_id)
                .where(time_entry_tags.c.time_entry_id.in_(chunk))):
            tags.setdefault(entry_id, []).append((tag_id, name))
    return tags


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def money_heading(currency: str) -> str:
    return f"Billable amount ({currency})" if currency else "Billable amount (no client)"


def table_rows(report: Report) -> list[list[object]]:
    """The report as a table: a heading row, a row per group, the total; numbers stay Decimal/int
    (the CSV writes them as text, the spreadsheet as numbers, the PDF as text)."""
    heading: list[object] = [report.heading, "Billable hours", "Non-billable hours", "Total hours", "Entries"]
    currencies = report.currencies if report.with_money else []
    heading += [money_heading(c) for c in currencies]
    lines = [heading]
    for row in [*report.rows, report.total]:
        lines.append([row.label, row.billable_hours, row.other_hours, row.hours, row.entries,
                      *(row.amount_in(c) for c in currencies)])
    return lines


def csv_rows(report: Report) -> list[list[str]]:
    return [[csv_cell(cell) if isinstance(cell, str) else str(cell) for cell in line] for line in table_rows(report)]
