"""Reading calendar event times, for the calendar connectors: provider times
(RFC 3339 with an offset, or a wall-clock time with a zone name) -> naive UTC.

A time that cannot be placed (an unknown zone, a malformed value) raises
EventTimeUnreadable with a reason; the connector then skips the event and
records why, instead of failing the sync.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class EventTimeUnreadable(ValueError):
    pass


def to_utc_naive(value: str, zone_name: str | None = None) -> datetime:
    """`value` in UTC without tzinfo. A value without an offset (a "floating" time) is read
    in `zone_name`, or taken as UTC when no zone is given."""
    text = (value or "").strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Graph writes seven fractional digits; Python reads at most six.
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = head + "." + digits[:6] + rest[len(digits):]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise EventTimeUnreadable(f"unreadable time {value!r}") from None
    if moment.tzinfo is None:
        if zone_name and zone_name.upper() not in ("UTC", "ETC/UTC"):
            try:
                moment = moment.replace(tzinfo=ZoneInfo(zone_name))
            except (ZoneInfoNotFoundError, ValueError):
                raise EventTimeUnreadable(f"unknown time zone {zone_name!r}") from None
        else:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def rfc3339(utc_naive: datetime) -> str:
    """A naive UTC datetime as RFC 3339 ("2026-03-29T09:00:00Z")."""
    return utc_naive.replace(microsecond=0).isoformat() + "Z"

