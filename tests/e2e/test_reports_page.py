"""The report page in Chromium: filters kept in the URL, its bars, and the CSV download."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from app.extensions import db
from app.models import Client, Project, TimeEntry, User
from app.models.base import utcnow
from tests.e2e.conftest import sign_in

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"


def _seed() -> None:
    admin = db.session.scalars(db.select(User)).one()
    website = Project(name="Website", client=Client(name="Acme", currency="EUR"))
    db.session.add(website)
    db.session.flush()
    # Today 08:00 UTC (the user's zone): inside this month whatever the hour the test runs.
    start = utcnow().replace(hour=8, minute=0, second=0, microsecond=0)
    db.session.add_all([
        TimeEntry(user_id=admin.id, project_id=website.id, started_at=start, ended_at=start + timedelta(hours=2)),
        TimeEntry(user_id=admin.id, started_at=start + timedelta(hours=3), ended_at=start + timedelta(hours=4),
                  billable=False),
    ])
    db.session.commit()


def test_report_filters_bars_and_csv_download(live_server, page):
    live_server.create_user(email=EMAIL, password=PASSWORD, admin=True, name="Ada")
    live_server.query(_seed)
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    page.get_by_role("link", name="Reports").click()
    page.select_option("#period", "month")
    page.select_option("#group", "client")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(lambda url: "period=month" in url and "group=client" in url)
    assert page.locator("#report-total").text_content() == "3.00"
    assert page.locator("#report tbody tr").count() == 3  # Acme, No client, Total
    bars = page.locator("svg.report-bar rect.report-bar-billable")
    assert float(bars.first.get_attribute("width")) == 100.0  # the biggest row is all billable
    assert page.locator("svg.report-bar").first.bounding_box()["width"] > 50  # drawn, not collapsed

    page.reload()  # the filters live in the URL
    assert page.locator("#period").input_value() == "month" and page.locator("#group").input_value() == "client"
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("timehub-client-")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0][0] == "Client" and rows[1][:4] == ["Acme", "2.00", "0.00", "2.00"]
    assert rows[-1][:4] == ["Total", "2.00", "1.00", "3.00"]


def test_report_by_tag_chart_and_xlsx_download(live_server, page):
    from openpyxl import load_workbook

    from app.models import Tag

    def seed() -> None:
        admin = db.session.scalars(db.select(User)).one()
        start = utcnow().replace(hour=8, minute=0, second=0, microsecond=0)
        meeting = Tag(name="Meeting", name_key="meeting")
        db.session.add(TimeEntry(user_id=admin.id, started_at=start, ended_at=start + timedelta(minutes=90),
                                 tags=[meeting]))
        db.session.add(TimeEntry(user_id=admin.id, started_at=start + timedelta(hours=2),
                                 ended_at=start + timedelta(hours=3), billable=False))
        db.session.commit()

    live_server.create_user(email=EMAIL, password=PASSWORD, admin=True, name="Ada")
    live_server.query(seed)
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    page.get_by_role("link", name="Reports").click()
    page.select_option("#period", "day")
    page.select_option("#group", "tag")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(lambda url: "group=tag" in url and "period=day" in url)
    assert page.locator("#report-total").text_content() == "2.50"
    # One column for the day, drawn at full height (the busiest day): billable part and the rest.
    chart = page.locator("#report-chart")
    assert chart.bounding_box()["width"] > 200 and chart.bounding_box()["height"] > 50
    day = page.locator("#report-chart g.chart-day")
    assert day.count() == 1 and day.get_attribute("data-hours") == "2.50"
    billable = float(day.locator("rect.chart-billable").get_attribute("height"))
    other = float(day.locator("rect.chart-other").get_attribute("height"))
    assert (round(billable, 2), round(billable + other, 2)) == (57.6, 96.0)  # 1.5 of 2.5 h
    with page.expect_download() as info:
        page.get_by_role("link", name="Export XLSX").click()
    download = info.value
    assert download.suggested_filename.startswith("timehub-tag-") and download.suggested_filename.endswith(".xlsx")
    with open(download.path(), "rb") as file:  # the download has no extension for openpyxl to check
        sheet = load_workbook(file)["Report"]
    table = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert table[1][:4] == ["Meeting", 1.5, 0, 1.5] and table[2][:4] == ["No tag", 0, 1, 1]
    assert table[-1][:4] == ["Total", 1.5, 1, 2.5]
