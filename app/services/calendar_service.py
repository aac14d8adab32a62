"""The calendar page's data: a week laid out on a time grid, a month of totals, and
imported calendar events offered as suggestions that become time entries.

Layout works on local wall-clock time in the viewer's zone: each item (a time entry
or an event) is cut at every local midnight, so a day column never holds more than
that one day, and placed by its local start and end minutes on a 24-hour grid.
On the days daylight saving changes, the wall clock (and so the grid) skips or
repeats an hour; the durations shown stay the real ones.

Suggestions are the events of the viewer's own calendars (or a shared calendar
naming their e-mail) that may become time: not all-day, declined, free, cancelled
or TimeHub's own, and not turned into time by this person before.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from app import timefmt
from app.extensions import db
from app.models import CalendarEvent, CalendarEventPerson, CalendarSeriesChoice, Task, TimeEntry, User
from app.models.base import utcnow
from app.services import time_service
from app.services.time_service import EntryFields

MINUTES_PER_DAY = 24 * 60
# Entries are found by their start (indexed); one may have started this long before the week.
LONGEST_ENTRY = timedelta(days=7)


class AlreadyConverted(Exception):
    """The event was turned into time by this person already."""


@dataclass
class Block:
    """One item's part within one local day, placed on the 24-hour grid."""

    item: object                 # a TimeEntry or a Suggestion
    kind: str                    # "entry" or "suggestion"
    top: int                     # minutes after local midnight (wall clock)
    bottom: int                  # minutes after local midnight, up to 1440
    duration: timedelta          # real time of this part
    continues_before: bool = False
    continues_after: bool = False

    @property
    def top_percent(self) -> float:
        return round(self.top * 100 / MINUTES_PER_DAY, 3)

    @property
    def height_percent(self) -> float:
        return round(max(self.bottom - self.top, 15) * 100 / MINUTES_PER_DAY, 3)


@dataclass
class DayColumn:
    day: date
    blocks: list[Block] = field(default_factory=list)

    @property
    def total(self) -> timedelta:
        return sum((b.duration for b in self.blocks if b.kind == "entry"), timedelta())

    @property
    def entries(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "entry"]

    @property
    def suggestions(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "suggestion"]


@dataclass
class Suggestion:
    event: CalendarEvent
    person: CalendarEventPerson
    # The project and task remembered for this event's series, if any.
    project_id: int | None = None
    task_id: int | None = None

    @property
    def started_at(self) -> datetime:
        return self.event.starts_at

    @property
    def ended_at(self) -> datetime:
        return self.event.ends_at


def _wall_minutes(moment_utc: datetime, tz: ZoneInfo) -> int:
    local = timefmt.to_local(moment_utc, tz)
    return local.hour * 60 + local.minute


def day_bounds(days: list[date], tz: ZoneInfo) -> list[tuple[date, datetime, datetime]]:
    """(day, its first instant, the next day's first instant) in naive UTC, for each day."""
    return [(day, *timefmt.day_range_utc(day, day, tz)) for day in days]


def split_by_day(item, kind: str, start: datetime, end: datetime, bounds: list[tuple[date, datetime, datetime]],
                 tz: ZoneInfo) -> dict[date, Block]:
    """`item` from `start` to `end` (naive UTC) cut at the local midnights of `bounds` (day_bounds)."""
    parts: dict[date, Block] = {}
    for day, day_start, day_end in bounds:
        if day_start > end or day_end <= start:
            continue
        part_start, part_end = max(start, day_start), min(end, day_end)
        if part_end <= part_start and not (start == end and day_start <= start < day_end):
            continue
        top = 0 if part_start == day_start else _wall_minutes(part_start, tz)
        bottom = MINUTES_PER_DAY if part_end == day_end else _wall_minutes(part_end, tz)
        parts[day] = Block(item, kind, top, max(bottom, top), part_end - part_start,
                           continues_before=start < day_start, continues_after=end > day_end)
    return parts


def week_columns(user: User, days: list[date], tz: ZoneInfo, *, with_suggestions: bool = True,
                 now: datetime | None = None) -> list[DayColumn]:
    """The days' columns: the user's entries (running ones up to now) and their suggestions."""
    now = now or utcnow()
    start, end = timefmt.day_range_utc(days[0], days[-1], tz)
    columns = {day: DayColumn(day) for day in days}
    bounds = day_bounds(days, tz)
    for entry in entries_overlapping(user.id, start, end):
        for day, block in split_by_day(entry, "entry", entry.started_at, entry.ended_at or max(now, entry.started_at),
                                       bounds, tz).items():
            columns[day].blocks.append(block)
    if with_suggestions:
        for suggestion in suggestions(user, start, end):
            for day, block in split_by_day(suggestion, "suggestion", suggestion.started_at, suggestion.ended_at,
                                           bounds, tz).items():
                columns[day].blocks.append(block)
    for column in columns.values():
        column.blocks.sort(key=lambda b: (b.top, b.kind != "entry"))
    return [columns[day] for day in days]


def entries_overlapping(user_id: int, start: datetime, end: datetime) -> list[TimeEntry]:
    query = (select(TimeEntry).options(selectinload(TimeEntry.project), selectinload(TimeEntry.task))
             .where(TimeEntry.user_id == user_id, TimeEntry.started_at < end,
                    TimeEntry.started_at >= start - LONGEST_ENTRY)
             .order_by(TimeEntry.started_at, TimeEntry.id))
    now = utcnow()
    return [e for e in db.session.scalars(query) if (e.ended_at or max(now, e.started_at)) > start
            or e.started_at >= start]


def suggestions(user: User, start: datetime, end: datetime) -> list[Suggestion]:
    """The user's events in [start, end) that may still become time, earliest first."""
    rows = db.session.execute(
        select(CalendarEvent, CalendarEventPerson)
        .join(CalendarEventPerson, CalendarEventPerson.event_id == CalendarEvent.id)
        .where(CalendarEventPerson.user_id == user.id, CalendarEventPerson.converted_at.is_(None),
               CalendarEvent.suggestible.is_(True), CalendarEvent.archived.is_(False),
               CalendarEvent.starts_at < end, CalendarEvent.ends_at > start)
        .order_by(CalendarEvent.starts_at, CalendarEvent.id)).all()
    series = {event.series_key for event, _ in rows if event.series_key}
    choices = {}
    if series:
        choices = {c.series_key: c for c in db.session.scalars(select(CalendarSeriesChoice).where(
            CalendarSeriesChoice.user_id == user.id, CalendarSeriesChoice.series_key.in_(series)))}
    found = []
    for event, person in rows:
        choice = choices.get(event.series_key) if event.series_key else None
        found.append(Suggestion(event, person, choice.project_id if choice else None,
                                choice.task_id if choice else None))
    return found


def month_weeks(user: User, month_start: date, tz: ZoneInfo) -> list[list[tuple[date, timedelta, int]]]:
    """The weeks (Monday first) covering the month: (day, time entered, suggestions left) each."""
    first = timefmt.week_start(month_start)
    following = (month_start.replace(day=28) + timedelta(days=4)).replace(day=1)
    last = timefmt.week_start(following - timedelta(days=1)) + timedelta(days=6)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    columns = week_columns(user, days, tz)
    cells = [(c.day, c.total, len(c.suggestions)) for c in columns]
    return [cells[n:n + 7] for n in range(0, len(cells), 7)]


def convert(user: User, event_id: int, *, project_id: int | None, task_id: int | None,
            description: str | None = None) -> TimeEntry:
    """Turn one of the user's suggestions into a time entry, once: concurrent or repeated
    clicks make one entry (the claim on the person's row is taken by a single UPDATE in
    the entry's own transaction). The project and task are remembered for the series."""
    person = db.session.scalars(select(CalendarEventPerson).where(
        CalendarEventPerson.event_id == event_id, CalendarEventPerson.user_id == user.id)).one_or_none()
    event = db.session.get(CalendarEvent, event_id) if person else None
    if person is None or event is None or not event.suggestible or event.archived:
        raise LookupError(event_id)
    if task_id is not None and project_id is None:
        task = db.session.get(Task, task_id)
        project_id = task.project_id if task else None
    claimed = db.session.execute(update(CalendarEventPerson).where(
        CalendarEventPerson.id == person.id, CalendarEventPerson.converted_at.is_(None),
    ).values(converted_at=utcnow()), execution_options={"synchronize_session": False}).rowcount
    if claimed != 1:
        db.session.rollback()
        raise AlreadyConverted(event_id)
    if event.series_key:
        _remember(user.id, event.series_key, project_id, task_id)
    fields = EntryFields(started_at=event.starts_at, ended_at=event.ends_at,
                         description=(description if description is not None else event.title)[:1000],
                         project_id=project_id, task_id=task_id)
    try:
        entry = time_service.build_entry(user, fields)
        db.session.flush()
        db.session.execute(update(CalendarEventPerson).where(CalendarEventPerson.id == person.id)
                           .values(time_entry_id=entry.id), execution_options={"synchronize_session": False})
        time_service.commit_created(entry)
    except Exception:
        db.session.rollback()
        raise
    return entry


def _remember(user_id: int, series_key: str, project_id: int | None, task_id: int | None) -> None:
    choice = db.session.scalars(select(CalendarSeriesChoice).where(
        CalendarSeriesChoice.user_id == user_id, CalendarSeriesChoice.series_key == series_key)).one_or_none()
    if choice is None:
        db.session.add(CalendarSeriesChoice(user_id=user_id, series_key=series_key, project_id=project_id,
                                            task_id=task_id))
    else:
        choice.project_id, choice.task_id = project_id, task_id
