"""Times for people: naive UTC in the database, the viewer's time zone on screen.

Pages show stored datetimes in a zone, and forms hand in local dates and times
that become naive UTC again here. Durations are written H:MM everywhere.

DST rules for input (the database never sees local times):
- a local time the clocks skip (e.g. 02:30 on the last Sunday of March in
  Europe/Berlin) is refused with a message, never silently shifted;
- a local time that happens twice (the hour repeated in autumn) is read as
  its first occurrence.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

UTC_ZONE = ZoneInfo("UTC")
MAX_ENTRY_HOURS = 24  # the longest one entry may be; 9,999,999 h is a typo, not work


class TimeInputError(ValueError):
    """Input a person typed that is not a date, time or duration we can read."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---- converting between stored UTC and a zone ---------------------------------------------

def to_local(utc_naive: datetime, tz: ZoneInfo) -> datetime:
    """A stored naive-UTC datetime as an aware datetime in `tz`. A stored time so close to
    the end of the calendar that `tz` would pass year 9999 (data saved before dates were
    bounded) is shown in UTC rather than failing the page."""
    aware = utc_naive.replace(tzinfo=UTC)
    try:
        return aware.astimezone(tz)
    except OverflowError:
        return aware


def to_utc(local_naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz` as naive UTC; refuses times that DST skips."""
    utc = local_naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # A skipped time does not survive the round trip (02:30 comes back as 03:30).
    if utc.astimezone(tz).replace(tzinfo=None) != local_naive:
        raise TimeInputError(
            f"{local_naive:%H:%M} does not exist on {local_naive:%Y-%m-%d} in {tz.key}: "
            "the clocks jump forward past it."
        )
    return utc.replace(tzinfo=None)


def local_date(utc_naive: datetime, tz: ZoneInfo) -> date:
    return to_local(utc_naive, tz).date()


def day_start_utc(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local day, as naive UTC (days are 23 to 25 hours long)."""
    # Not to_utc(): in zones that switch at midnight, 00:00 itself may be skipped;
    # fold=0 then lands exactly on the switch, which is still the day's first instant.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def day_range_utc(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in naive UTC covering the local days first..last inclusive."""
    return day_start_utc(first, tz), day_start_utc(last + timedelta(days=1), tz)


def week_start(day: date) -> date:
    """The Monday of the week holding `day`."""
    return day - timedelta(days=day.weekday())


def today_in(tz: ZoneInfo, now_utc: datetime | None = None) -> date:
    now_utc = now_utc or datetime.now(UTC).replace(tzinfo=None)
    return local_date(now_utc, tz)


# ---- reading what people type --------------------------------------------------------------

_TIME_RE = re.compile(r"^(\d{1,2})(?:[:.]?(\d{2}))?(?::(\d{2}))?$")
_DURATION_CLOCK_RE = re.compile(r"^(\d+):(\d{1,2})$")
_DURATION_DECIMAL_RE = re.compile(r"^(\d+(?:[.,]\d+)?|[.,]\d+)\s*h?$")
_DURATION_UNITS_RE = re.compile(r"^(?:(\d+(?:[.,]\d+)?)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?$")


def parse_date(text: str) -> date:
    """YYYY-MM-DD, as <input type=date> sends it, between 1970 and 2100 (app.inputs)."""
    from app.inputs import DATE_RANGE_MESSAGE, check_date
    text = (text or "").strip()
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise TimeInputError("Enter a date as YYYY-MM-DD.")
    try:
        return check_date(day)
    except ValueError:
        raise TimeInputError(DATE_RANGE_MESSAGE) from None


def parse_time(text: str) -> time:
    """09:30, 9:30, 0930, 9.30 or 9 (seconds, if a browser sends them, are kept)."""
    match = _TIME_RE.match((text or "").strip())
    if match:
        hour, minute, second = (int(part or 0) for part in match.groups())
        if hour < 24 and minute < 60 and second < 60:
            return time(hour, minute, second)
    raise TimeInputError("Enter a time as HH:MM (24-hour clock).")


def parse_local_datetime(text: str) -> datetime:
    """YYYY-MM-DDTHH:MM (what <input type=datetime-local> sends) or with a space."""
    text = (text or "").strip()
    day, sep, clock = text.replace("T", " ", 1).partition(" ")
    if not sep:
        raise TimeInputError("Enter a date and time as YYYY-MM-DD HH:MM.")
    return datetime.combine(parse_date(day), parse_time(clock.strip()))


def parse_duration(text: str) -> timedelta:
    """1:30, 1.5, 1,5h, 1h 30m, 90m or 90min. A bare number means hours."""
    text = (text or "").strip().lower()
    if len(text) > 20:  # "99999…9" of any length is no duration; float() of it would overflow
        raise TimeInputError("Enter a duration such as 1:30, 1.5h or 90m.")
    minutes: float | None = None
    if match := _DURATION_CLOCK_RE.match(text):
        if int(match.group(2)) < 60:
            minutes = int(match.group(1)) * 60 + int(match.group(2))
    elif match := _DURATION_DECIMAL_RE.match(text):
        minutes = float(match.group(1).replace(",", ".")) * 60
    elif text and (match := _DURATION_UNITS_RE.match(text)) and any(match.groups()):
        hours, mins = match.groups()
        minutes = float((hours or "0").replace(",", ".")) * 60 + int(mins or 0)
    if minutes is None:
        raise TimeInputError("Enter a duration such as 1:30, 1.5h or 90m.")
    if minutes <= 0:
        raise TimeInputError("The duration must be longer than zero.")
    if minutes > MAX_ENTRY_HOURS * 60:
        raise TimeInputError(f"One entry lasts at most {MAX_ENTRY_HOURS} hours; split longer work into several.")
    return timedelta(minutes=round(minutes))


# ---- showing times -------------------------------------------------------------------------

def format_duration(value: timedelta | float | int | None) -> str:
    """H:MM, with whole minutes rounded down; accepts a timedelta or seconds."""
    if value is None:
        return "0:00"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    minutes = max(int(seconds // 60), 0)
    return f"{minutes // 60}:{minutes % 60:02d}"


def format_local(utc_naive: datetime | None, tz: ZoneInfo, fmt: str = "%H:%M") -> str:
    return "" if utc_naive is None else to_local(utc_naive, tz).strftime(fmt)


def viewer_tz() -> ZoneInfo:
    """The zone pages are shown in: the signed-in user's, else UTC. Kept on `g` for the request's
    signed-in user (Flask-Login's `g._login_user`), since a week page asks for it for each of
    its hundreds of times; a sign-in, a sign-out or a new zone within the request is seen."""
    from flask import g
    user, cached = g.get("_login_user"), g.get("_viewer_tz")
    if cached is not None and cached[0] is user and cached[1] == getattr(user, "timezone", None):
        return cached[2]
    from flask_login import current_user
    tz = current_user.tz if getattr(current_user, "is_authenticated", False) else UTC_ZONE
    user = g.get("_login_user")
    g._viewer_tz = (user, getattr(user, "timezone", None), tz)
    return tz


def local_filter(utc_naive: datetime | None, fmt: str = "%H:%M") -> str:
    """Jinja: `{{ entry.started_at|local("%a %d %b %H:%M") }}` in the viewer's zone."""
    return format_local(utc_naive, viewer_tz(), fmt)


def register_filters(bp) -> None:
    """Make `local` and `duration` available to every template (called by the blueprints)."""
    bp.add_app_template_filter(local_filter, "local")
    bp.add_app_template_filter(format_duration, "duration")
