"""/calendar: a week of entries in the viewer's time zone."""
import re
from datetime import datetime, timedelta

import pytest

from app import timefmt
from app.models import TimeEntry
from app.models.base import utcnow
from tests.conftest import login

DAY_RE = re.compile(r'<section class="day( today)?" data-day="(\d{4}-\d{2}-\d{2})"[^>]*>(.*?)</section>', re.S)


def day_columns(html: str) -> dict[str, str]:
    return {day: body for _, day, body in DAY_RE.findall(html)}


def add_entry(db, user, start, end, description):
    entry = TimeEntry(user_id=user.id, started_at=start, ended_at=end, description=description)
    db.session.add(entry)
    db.session.commit()
    return entry


@pytest.fixture
def new_yorker(app, make_user):
    person = make_user("ny@example.com", timezone="America/New_York", name="Nia York")
    return login(app.test_client(), person), person


def test_a_late_evening_entry_lands_on_its_local_day(new_yorker, db):
    client, person = new_yorker
    # Thursday 19 Nov 2026, 23:30-23:50 in New York is Friday 04:30-04:50 UTC.
    add_entry(db, person, datetime(2026, 11, 20, 4, 30), datetime(2026, 11, 20, 4, 50), "late call")
    html = client.get("/calendar?week=2026-11-19").get_data(as_text=True)
    columns = day_columns(html)
    assert list(columns) == [f"2026-11-{d}" for d in range(16, 23)]  # Monday to Sunday
    assert "late call" in columns["2026-11-19"] and "23:30–23:50" in columns["2026-11-19"]
    assert "late call" not in columns["2026-11-20"]


def test_per_day_and_week_totals(user_client, user, db):
    add_entry(db, user, datetime(2026, 11, 16, 9), datetime(2026, 11, 16, 10, 30), "a")
    add_entry(db, user, datetime(2026, 11, 16, 13), datetime(2026, 11, 16, 13, 15), "b")
    add_entry(db, user, datetime(2026, 11, 22, 8), datetime(2026, 11, 22, 10), "c")
    add_entry(db, user, datetime(2026, 11, 23, 8), datetime(2026, 11, 23, 10), "next week")
    html = user_client.get("/calendar?week=2026-11-18").get_data(as_text=True)
    columns = day_columns(html)
    assert 'class="mono day-total">1:45<' in columns["2026-11-16"]
    assert 'class="mono day-total">2:00<' in columns["2026-11-22"]
    assert 'class="mono day-total">0:00<' in columns["2026-11-17"]
    assert 'id="week-total">3:45<' in html and "next week" not in html


def test_a_week_across_the_dst_switch_in_berlin(app, make_user, db):
    person = make_user(timezone="Europe/Berlin")
    client = login(app.test_client(), person)
    # Sunday 29 March 2026, 00:30-04:30 local is only 3 hours: 02:00-03:00 never happened.
    add_entry(db, person, datetime(2026, 3, 28, 23, 30), datetime(2026, 3, 29, 2, 30), "night shift")
    columns = day_columns(client.get("/calendar?week=2026-03-29").get_data(as_text=True))
    assert "00:30–04:30" in columns["2026-03-29"] and ">3:00<" in columns["2026-03-29"]
    assert "night shift" not in columns["2026-03-28"]


def test_week_navigation_links(user_client):
    html = user_client.get("/calendar?week=2026-11-19").get_data(as_text=True)
    assert "Week of 16 November 2026" in html
    assert 'href="/calendar?week=2026-11-09" rel="prev"' in html
    assert 'href="/calendar?week=2026-11-23" rel="next"' in html
    assert 'href="/calendar">This week<' in html


def test_today_is_highlighted_and_a_running_timer_is_marked(new_yorker, db):
    client, person = new_yorker
    tz = person.tz
    today = timefmt.today_in(tz)
    db.session.add(TimeEntry(user_id=person.id, started_at=utcnow() - timedelta(minutes=1), ended_at=None,
                             description="on it"))
    db.session.commit()
    html = client.get("/calendar").get_data(as_text=True)
    highlighted = [day for today_class, day, _ in DAY_RE.findall(html) if today_class]
    assert highlighted == [today.isoformat()]
    running_day = timefmt.local_date(utcnow() - timedelta(minutes=1), tz).isoformat()
    column = day_columns(html)[running_day]
    assert "on it" in column and 'class="entry running"' in column and "running</span>" in column


def test_only_your_own_week(user_client, user, db, make_user):
    other = make_user(name="Otto Other")
    add_entry(db, other, datetime(2026, 11, 18, 9), datetime(2026, 11, 18, 10), "otto's secret")
    assert user_client.get(f"/calendar?user={other.id}&week=2026-11-18").status_code == 404
    assert user_client.get("/calendar?user=all").status_code == 404
    own = user_client.get(f"/calendar?user={user.id}&week=2026-11-18")
    assert own.status_code == 200 and "otto's secret" not in own.get_data(as_text=True)


def test_admin_may_look_at_anyones_week(admin_client, user, db):
    add_entry(db, user, datetime(2026, 11, 18, 9), datetime(2026, 11, 18, 10), "user meeting")
    html = admin_client.get(f"/calendar?user={user.id}&week=2026-11-18").get_data(as_text=True)
    assert "user meeting" in day_columns(html)["2026-11-18"] and "Ulla User" in html
    assert f'href="/calendar?week=2026-11-23&amp;user={user.id}"' in html  # navigation keeps the user
    assert "user meeting" not in admin_client.get("/calendar?week=2026-11-18").get_data(as_text=True)
    assert admin_client.get("/calendar?user=9999").status_code == 404


def test_an_unreadable_week_is_400(user_client):
    assert user_client.get("/calendar?week=next-tuesday").status_code == 400


def test_anonymous_visitors_are_sent_to_login(client, admin):
    response = client.get("/calendar")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
