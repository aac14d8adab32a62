"""Reports: time per project, client or user over a period, and its CSV export."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from app.models import Client, Project, TimeEntry
from app.services import report_service
from app.services.report_service import ReportInvalid, period_for
from tests.conftest import login


def add(db, user, project, start: datetime, minutes: int | None, billable=True):
    db.session.add(TimeEntry(user=user, project=project, started_at=start, billable=billable,
                             ended_at=None if minutes is None else start + timedelta(minutes=minutes)))
    db.session.commit()


@pytest.fixture
def team(db, admin, user, make_user):
    """Week of Monday 2026-11-02 (UTC users): Ulla and Wim on two clients' projects."""
    wim = make_user("wim@example.com", name="Wim Worker")
    acme, globex = Client(name="Acme", currency="EUR"), Client(name="Globex", currency="USD")
    website = Project(name="Website", client=acme, hourly_rate=Decimal("80"))
    shop = Project(name="Shop", client=globex, hourly_rate=Decimal("50"))
    db.session.add_all([website, shop])
    db.session.commit()
    add(db, user, website, datetime(2026, 11, 2, 9), 90)
    add(db, user, website, datetime(2026, 11, 3, 9), 30, billable=False)
    add(db, user, shop, datetime(2026, 11, 8, 23, 30), 60)           # Sunday night: still this week
    add(db, user, None, datetime(2026, 11, 4, 9), 45)
    add(db, user, website, datetime(2026, 11, 9, 0, 0), 60)          # next Monday: not this week
    add(db, user, website, datetime(2026, 11, 5, 9), None)           # running: left out
    add(db, wim, shop, datetime(2026, 11, 4, 10), 120)
    return {"wim": wim, "website": website, "shop": shop}


def test_periods_are_whole_local_days():
    assert period_for("day", date(2026, 11, 4)).first == date(2026, 11, 4)
    week = period_for("week", date(2026, 11, 4))
    assert (week.first, week.last) == (date(2026, 11, 2), date(2026, 11, 8))
    month = period_for("month", date(2024, 2, 10))
    assert (month.first, month.last) == (date(2024, 2, 1), date(2024, 2, 29))
    assert month.shifted(1).first == date(2024, 3, 1) and month.shifted(-1).last == date(2024, 1, 31)
    assert week.shifted(-1).first == date(2026, 10, 26)
    with pytest.raises(ReportInvalid, match="before the start"):
        period_for("custom", date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ReportInvalid, match="at most"):
        period_for("custom", date(2026, 1, 1), date(2025, 1, 1), date(2026, 6, 1))


def test_a_users_week_by_project(user_client, team):
    html = user_client.get("/reports?period=week&date=2026-11-04&group=project").get_data(as_text=True)
    assert "02 Nov 2026 – 08 Nov 2026" in html
    # Website 1.5 billable + 0.5 other, Shop 1.0, no project 0.75; Wim's time is not Ulla's.
    assert "Website (Acme)" in html and "Shop (Globex)" in html and "No project" in html
    assert 'id="report-total">3.75<' in html
    assert "Wim" not in html and "80.00" not in html


def test_admins_see_everyone_by_user_and_by_client(admin_client, team, db):
    by_user = admin_client.get("/reports?period=week&date=2026-11-04&group=user&user=all").get_data(as_text=True)
    assert "Ulla User" in by_user and "Wim Worker" in by_user and 'id="report-total">5.75<' in by_user
    report = report_service.build_report(period_for("week", date(2026, 11, 4)), "client", team["wim"].tz,
                                         user_ids=None)
    assert [(r.label, r.billable_hours, r.other_hours) for r in report.rows] == [
        ("Globex", Decimal("3.00"), Decimal("0.00")), ("Acme", Decimal("1.50"), Decimal("0.50")),
        ("No client", Decimal("0.75"), Decimal("0.00"))]


def test_the_period_follows_the_viewers_time_zone(app, db, team, make_user):
    # For a Berliner, Sunday 23:30 UTC is already Monday: next week.
    berliner = make_user("berlin@example.com", timezone="Europe/Berlin")
    report = report_service.build_report(period_for("week", date(2026, 11, 4)), "project", berliner.tz,
                                         user_ids=None, project_id=team["shop"].id)
    assert report.total.hours == Decimal("2.00")  # Wim's 2 h only


def test_users_cannot_see_others_time(user_client, team):
    assert user_client.get(f"/reports?user={team['wim'].id}").status_code == 404
    assert user_client.get("/reports?user=all").status_code == 404
    assert user_client.get(f"/reports/export.csv?user={team['wim'].id}").status_code == 404


def test_bad_input_is_400_or_explained_never_500(user_client, team):
    for query in ("period=year", "group=tags", "date=yesterday", "tag=abc", "billable=maybe", "project=abc", "from=2026-13-01&period=custom"):
        assert user_client.get(f"/reports?{query}").status_code == 400, query
    response = user_client.get("/reports?period=custom&from=2026-11-05&to=2026-11-01")
    assert response.status_code == 422 and "before the start" in response.get_data(as_text=True)
    assert user_client.get("/reports?period=custom").status_code == 422


def test_csv_export_is_the_same_report(user_client, team, db):
    page = user_client.get("/reports?period=week&date=2026-11-04&project=" + str(team["website"].id))
    assert 'href="/reports/export.csv?period=week&amp;group=project&amp;project=' in page.get_data(as_text=True)
    response = user_client.get(f"/reports/export.csv?period=week&date=2026-11-04&project={team['website'].id}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="timehub-project-2026-11-02-2026-11-08.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [["Project", "Billable hours", "Non-billable hours", "Total hours", "Entries"],
                    ["Website (Acme)", "1.50", "0.50", "2.00", "2"],
                    ["Total", "1.50", "0.50", "2.00", "2"]]


def test_csv_cells_never_start_a_formula(admin_client, admin, db):
    project = Project(name="=HYPERLINK(\"http://evil.example\")")
    db.session.add(project)
    db.session.commit()
    add(db, admin, project, datetime(2026, 11, 2, 9), 60)
    body = admin_client.get("/reports/export.csv?period=day&date=2026-11-02").get_data(as_text=True)
    assert "'=HYPERLINK" in body and "\n=HYPERLINK" not in body


def test_reports_need_a_sign_in(client, admin):
    assert client.get("/reports").headers["Location"].startswith("/login")


def test_the_nav_links_to_reports(app, user):
    html = login(app.test_client(), user).get("/").get_data(as_text=True)
    assert 'href="/reports"' in html
