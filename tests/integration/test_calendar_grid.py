"""/calendar's week grid and month view: items cut at local midnights, placed by wall-clock
time in the viewer's zone, across daylight-saving changes."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.models import CalendarEvent, CalendarEventPerson, TimeEntry
from app.services import calendar_service
from tests.conftest import login, post_form

PARIS = ZoneInfo("Europe/Paris")


def add_entry(db, user, start, end, description="work"):
    entry = TimeEntry(user_id=user.id, started_at=start, ended_at=end, description=description)
    db.session.add(entry)
    db.session.commit()
    return entry


def week(monday: date) -> list[date]:
    return [monday + timedelta(days=n) for n in range(7)]


def test_an_entry_over_midnight_is_cut_in_two_and_no_day_holds_more_than_a_day(db, make_user):
    paula = make_user("paula@example.com", timezone="Europe/Paris")
    # Tuesday 17 Nov 2026 22:00 Paris (21:00 UTC) to Thursday 19 Nov 04:00 Paris: 30 hours.
    add_entry(db, paula, datetime(2026, 11, 17, 21, 0), datetime(2026, 11, 19, 3, 0), "long haul")
    columns = {c.day: c for c in calendar_service.week_columns(paula, week(date(2026, 11, 16)), PARIS)}
    tuesday, wednesday, thursday = (columns[date(2026, 11, d)] for d in (17, 18, 19))
    assert [(b.top, b.bottom) for b in tuesday.entries] == [(22 * 60, 1440)]
    assert [(b.top, b.bottom) for b in wednesday.entries] == [(0, 1440)]
    assert [(b.top, b.bottom) for b in thursday.entries] == [(0, 4 * 60)]
    assert (tuesday.total, wednesday.total, thursday.total) == (timedelta(hours=2), timedelta(hours=24),
                                                                timedelta(hours=4))
    assert wednesday.entries[0].continues_before and wednesday.entries[0].continues_after
    assert all(c.total <= timedelta(hours=24) for c in columns.values())


def test_the_week_the_clocks_go_forward(db, make_user):
    paula = make_user("paula@example.com", timezone="Europe/Paris")
    # Sunday 29 March 2026: 02:00 Paris does not exist. 01:00 CET (00:00 UTC) to 04:00 CEST (02:00 UTC) is 2 hours.
    add_entry(db, paula, datetime(2026, 3, 29, 0, 0), datetime(2026, 3, 29, 2, 0), "night shift")
    columns = calendar_service.week_columns(paula, week(date(2026, 3, 23)), PARIS)
    sunday = columns[-1]
    [block] = sunday.entries
    assert (block.top, block.bottom, block.duration) == (60, 240, timedelta(hours=2))
    assert sunday.total == timedelta(hours=2)


def test_the_week_the_clocks_go_back_keeps_real_durations_on_a_24_hour_grid(app, db, make_user):
    paula = make_user("paula@example.com", timezone="Europe/Paris")
    # Sunday 25 Oct 2026 has 25 hours in Paris; an entry over the whole local day.
    start, end = datetime(2026, 10, 24, 22, 0), datetime(2026, 10, 25, 23, 0)
    add_entry(db, paula, start, end, "all day long")
    columns = calendar_service.week_columns(paula, week(date(2026, 10, 19)), PARIS)
    [block] = columns[-1].entries
    assert (block.top, block.bottom) == (0, 1440) and block.duration == timedelta(hours=25)
    client = login(app.test_client(), paula)
    html = client.get("/calendar?week=2026-10-25").get_data(as_text=True)
    assert re.search(r'class="slot col-entry at-0 span-96[^"]*"', html)


def test_entries_and_suggestions_sit_on_the_grid_by_local_time(app, db, make_user):
    paula = make_user("paula@example.com", timezone="Europe/Paris")
    add_entry(db, paula, datetime(2026, 3, 30, 7, 0), datetime(2026, 3, 30, 8, 30), "after the change")
    event = CalendarEvent(title="Weekly sync", starts_at=datetime(2026, 3, 30, 12, 0),
                          ends_at=datetime(2026, 3, 30, 12, 45))
    event.people = [CalendarEventPerson(user_id=paula.id)]
    db.session.add(event)
    db.session.commit()
    client = login(app.test_client(), paula)
    html = client.get("/calendar?week=2026-03-30").get_data(as_text=True)
    # 09:00 CEST is quarter 36, 90 minutes are 6 quarters; the event 14:00-14:45 CEST.
    assert 'class="slot col-entry at-36 span-6"' in html
    assert 'class="slot col-suggestion at-56 span-3"' in html
    assert "<script>" not in html and "onchange=" not in html and ' style="' not in html
    assert 'src="/static/calendar.js"' in html


def test_the_month_view_totals_each_day(app, db, make_user):
    paula = make_user("paula@example.com", timezone="Europe/Paris")
    add_entry(db, paula, datetime(2026, 3, 2, 8, 0), datetime(2026, 3, 2, 9, 45))
    client = login(app.test_client(), paula)
    html = client.get("/calendar?view=month&month=2026-03").get_data(as_text=True)
    assert "March 2026" in html
    cell = re.search(r'data-day="2026-03-02">(.*?)</td>', html, re.S).group(1)
    assert "1:45" in cell
    assert html.count('class="month-day') % 7 == 0
    assert client.get("/calendar?view=month&month=2026-13").status_code == 400
    assert client.get("/calendar?view=month&month=soon").status_code == 400


def test_converting_needs_the_form_token_and_an_own_event(app, db, make_user):
    paula = make_user("paula@example.com")
    client = login(app.test_client(), paula)
    assert client.post("/calendar/events/1/convert", data={}).status_code == 400  # no CSRF token
    assert post_form(client, "/calendar/events/9999/convert", {"target": "task:abc"},
                     page="/calendar").status_code == 404


def test_the_viewers_zone_is_kept_per_request_yet_follows_a_sign_in_a_new_zone_and_a_sign_out(app, make_user):
    from app import timefmt
    from app.services.session_service import sign_in, sign_out
    paris = make_user("paris@example.com", timezone="Europe/Paris")
    with app.test_request_context("/calendar"):
        assert timefmt.viewer_tz().key == "UTC"
        sign_in(paris)
        assert timefmt.viewer_tz().key == "Europe/Paris"
        paris.timezone = "America/New_York"
        assert timefmt.viewer_tz().key == "America/New_York"
        sign_out()
        assert timefmt.viewer_tz().key == "UTC"
