"""app.timefmt: conversions between stored UTC and a user's zone, and reading typed input."""
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app import timefmt
from app.timefmt import TimeInputError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_winter_and_summer_offsets_of_berlin():
    assert timefmt.to_utc(datetime(2026, 1, 15, 9, 0), BERLIN) == datetime(2026, 1, 15, 8, 0)
    assert timefmt.to_utc(datetime(2026, 7, 15, 9, 0), BERLIN) == datetime(2026, 7, 15, 7, 0)


def test_around_the_spring_switch_in_berlin():
    # 2026-03-29 is the last Sunday of March: 02:00 CET becomes 03:00 CEST.
    assert timefmt.to_utc(datetime(2026, 3, 29, 1, 30), BERLIN) == datetime(2026, 3, 29, 0, 30)
    assert timefmt.to_utc(datetime(2026, 3, 29, 3, 30), BERLIN) == datetime(2026, 3, 29, 1, 30)
    # An hour apart on the wall clock, one hour apart in reality too (the skipped hour is gone).
    assert timefmt.to_local(datetime(2026, 3, 29, 0, 59), BERLIN).strftime("%H:%M") == "01:59"
    assert timefmt.to_local(datetime(2026, 3, 29, 1, 0), BERLIN).strftime("%H:%M") == "03:00"


def test_a_skipped_local_time_is_refused_not_shifted():
    with pytest.raises(TimeInputError, match="does not exist"):
        timefmt.to_utc(datetime(2026, 3, 29, 2, 30), BERLIN)


def test_a_repeated_autumn_time_reads_as_its_first_occurrence():
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    assert timefmt.to_utc(datetime(2026, 10, 25, 2, 30), BERLIN) == datetime(2026, 10, 25, 0, 30)


def test_day_bounds_follow_the_length_of_the_local_day():
    short_start, short_end = timefmt.day_range_utc(date(2026, 3, 29), date(2026, 3, 29), BERLIN)
    assert (short_start, short_end - short_start) == (datetime(2026, 3, 28, 23, 0), timedelta(hours=23))
    long_start, long_end = timefmt.day_range_utc(date(2026, 10, 25), date(2026, 10, 25), BERLIN)
    assert long_end - long_start == timedelta(hours=25)


def test_local_date_of_a_late_evening_entry():
    # 23:30 in New York is already the next day in UTC.
    assert timefmt.local_date(datetime(2026, 11, 20, 4, 30), NEW_YORK) == date(2026, 11, 19)


def test_week_starts_on_monday():
    assert timefmt.week_start(date(2026, 11, 29)) == date(2026, 11, 23)  # a Sunday
    assert timefmt.week_start(date(2026, 11, 23)) == date(2026, 11, 23)


@pytest.mark.parametrize("text, expected", [
    ("09:30", time(9, 30)), ("9:30", time(9, 30)), ("0930", time(9, 30)), ("9.30", time(9, 30)),
    ("9", time(9, 0)), ("23:59:30", time(23, 59, 30)), (" 17:05 ", time(17, 5)),
])
def test_parse_time_accepts_common_spellings(text, expected):
    assert timefmt.parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "24:00", "12:60", "noon", "9:3", "-1:00"])
def test_parse_time_refuses_the_rest(text):
    with pytest.raises(TimeInputError):
        timefmt.parse_time(text)


def test_parse_date_and_datetime():
    assert timefmt.parse_date("2026-03-29") == date(2026, 3, 29)
    assert timefmt.parse_local_datetime("2026-03-29T18:45") == datetime(2026, 3, 29, 18, 45)
    assert timefmt.parse_local_datetime("2026-03-29 18:45") == datetime(2026, 3, 29, 18, 45)
    for bad in ("29.03.2026", "2026-02-30", ""):
        with pytest.raises(TimeInputError):
            timefmt.parse_date(bad)
    with pytest.raises(TimeInputError):
        timefmt.parse_local_datetime("2026-03-29")  # a date without a time


@pytest.mark.parametrize("text, minutes", [
    ("1:30", 90), ("0:05", 5), ("1.5", 90), ("1,5h", 90), ("2h", 120), ("1h 30m", 90), ("1h30m", 90),
    ("90m", 90), ("45min", 45), (".25", 15),
])
def test_parse_duration(text, minutes):
    assert timefmt.parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "abc", "1:75", "0", "0:00", "h", "1h 30"])
def test_parse_duration_refuses_nonsense_and_zero(text):
    with pytest.raises(TimeInputError):
        timefmt.parse_duration(text)


@pytest.mark.parametrize("value, shown", [
    (timedelta(0), "0:00"), (timedelta(minutes=5), "0:05"), (timedelta(hours=1, minutes=30, seconds=59), "1:30"),
    (timedelta(hours=26, minutes=1), "26:01"), (5400, "1:30"), (None, "0:00"), (timedelta(seconds=-30), "0:00"),
])
def test_format_duration_as_hours_and_minutes(value, shown):
    assert timefmt.format_duration(value) == shown


def test_format_local():
    assert timefmt.format_local(datetime(2026, 7, 1, 21, 15), BERLIN, "%Y-%m-%d %H:%M") == "2026-07-01 23:15"
    assert timefmt.format_local(None, BERLIN) == ""
