"""Provider event times -> naive UTC (app.integrations.calendar_times)."""
from datetime import datetime

import pytest

from app.integrations.calendar_times import EventTimeUnreadable, rfc3339, to_utc_naive


@pytest.mark.parametrize("value, zone, expected", [
    ("2026-03-29T09:00:00Z", None, datetime(2026, 3, 29, 9, 0)),
    ("2026-03-29T09:00:00+02:00", "America/New_York", datetime(2026, 3, 29, 7, 0)),   # the offset wins
    ("2026-03-29T09:00:00", "Europe/Paris", datetime(2026, 3, 29, 7, 0)),             # floating, CEST
    ("2026-03-28T09:00:00", "Europe/Paris", datetime(2026, 3, 28, 8, 0)),             # floating, CET
    ("2026-11-25T08:00:00.0000000", "UTC", datetime(2026, 11, 25, 8, 0)),             # Graph's seven digits
    ("2026-11-25T08:00:00", None, datetime(2026, 11, 25, 8, 0)),                      # no zone: UTC
])
def test_times_are_placed_in_utc(value, zone, expected):
    assert to_utc_naive(value, zone) == expected


@pytest.mark.parametrize("value, zone", [
    ("2026-11-25T08:00:00", "W. Europe Standard Time"),   # a Windows zone name Python does not know
    ("tomorrow morning", None),
    ("", None),
])
def test_unplaceable_times_say_why(value, zone):
    with pytest.raises(EventTimeUnreadable):
        to_utc_naive(value, zone)


def test_rfc3339_writes_utc_with_a_z():
    assert rfc3339(datetime(2026, 3, 29, 9, 0, 12, 345)) == "2026-03-29T09:00:12Z"
