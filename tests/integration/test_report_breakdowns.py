"""Reports by task and tag, the billable and tag filters, amounts for admins (per currency, at
each entry's rate), the per-day chart, and the XLSX and PDF exports read back and checked."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from app.models import Client, Project, Tag, Task, TimeEntry
from app.services import rate_service, report_service
from app.services.report_service import period_for

WEEK = "period=week&date=2026-11-04"


def add(db, user, project, start, minutes, *, task=None, tags=(), billable=True):
    entry = TimeEntry(user_id=user.id, project_id=project.id if project else None, task_id=task.id if task else None,
                      started_at=start, ended_at=start + timedelta(minutes=minutes), billable=billable, tags=list(tags))
    db.session.add(entry)
    db.session.commit()
    return entry


@pytest.fixture
def work(db, user, make_user):
    """Ulla's week of Monday 2026-11-02 (UTC): tasks, tags, two currencies, rates at every level."""
    wim = make_user("wim@example.com", name="Wim Worker")
    acme, globex = Client(name="Acme", currency="EUR"), Client(name="Globex", currency="USD")
    website = Project(name="Website", client=acme, hourly_rate=Decimal("80"))
    shop = Project(name="Shop", client=globex, hourly_rate=Decimal("0"))      # no rate: the person's
    design, copy = Task(project=website, title="Design"), Task(project=website, title="Copy")
    meeting, calls = Tag(name="Meeting", name_key="meeting"), Tag(name="=Calls", name_key="=calls")
    db.session.add_all([website, shop, design, copy, meeting, calls])
    db.session.commit()
    user.hourly_rate = Decimal("60")
    rate_service.set_default_rate(Decimal("40"))
    add(db, user, website, datetime(2026, 11, 2, 9), 90, task=design, tags=[meeting, calls])
    add(db, user, website, datetime(2026, 11, 3, 9), 30, task=copy, billable=False)
    add(db, user, shop, datetime(2026, 11, 4, 9), 60, tags=[meeting])
    add(db, user, None, datetime(2026, 11, 4, 13), 45)
    add(db, wim, shop, datetime(2026, 11, 5, 10), 120)                          # Wim: default rate 40
    return {"wim": wim, "website": website, "shop": shop, "meeting": meeting, "calls": calls, "design": design}


def rows(report):
    return [(r.label, r.billable_hours, r.other_hours) for r in report.rows]


def test_by_task_and_by_tag_with_a_total_that_counts_each_entry_once(app, db, user, work):
    week = period_for("week", date(2026, 11, 4))
    by_task = report_service.build_report(week, "task", user.tz, user_ids=[user.id])
    assert rows(by_task) == [("No task", Decimal("1.75"), Decimal("0.00")),
                             ("Website › Design", Decimal("1.50"), Decimal("0.00")),
                             ("Website › Copy", Decimal("0.00"), Decimal("0.50"))]
    by_tag = report_service.build_report(week, "tag", user.tz, user_ids=[user.id])
    assert rows(by_tag) == [("Meeting", Decimal("2.50"), Decimal("0.00")),
                            ("=Calls", Decimal("1.50"), Decimal("0.00")),
                            ("No tag", Decimal("0.75"), Decimal("0.50"))]
    assert by_tag.total.hours == Decimal("3.75") and by_tag.total.entries == 4  # not 4.25 h / 5


def test_filters_by_tag_and_billable_stay_in_the_url_and_the_exports(user_client, work):
    tag = work["meeting"].id
    html = user_client.get(f"/reports?{WEEK}&group=project&tag={tag}&billable=yes").get_data(as_text=True)
    assert 'id="report-total">2.50<' in html
    assert f'<option value="{tag}" selected>Meeting</option>' in html
    assert f'href="/reports/export.xlsx?period=week&amp;group=project&amp;tag={tag}&amp;billable=yes' in html
    only_other = user_client.get(f"/reports?{WEEK}&billable=no").get_data(as_text=True)
    assert 'id="report-total">0.50<' in only_other
    body = user_client.get(f"/reports/export.csv?{WEEK}&tag={tag}&billable=yes").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(body)))[-1] == ["Total", "2.50", "0.00", "2.50", "2"]


def test_admins_see_amounts_per_currency_at_each_entrys_rate(admin_client, db, work):
    # Website (EUR): project rate 80 x 1.5 h billable = 120. Shop (USD): Ulla's own 60 x 1 h + Wim's default
    # 40 x 2 h = 140. Time on no project has no currency: Ulla's own 60 x 0.75 h = 45.
    week = period_for("week", date(2026, 11, 4))
    report = report_service.build_report(week, "project", work["wim"].tz, user_ids=None, with_money=True)
    assert report.currencies == ["EUR", "USD", ""]
    assert {c: report.total.amount_in(c) for c in report.currencies} == {
        "EUR": Decimal("120.00"), "USD": Decimal("140.00"), "": Decimal("45.00")}
    html = admin_client.get(f"/reports?{WEEK}&user=all").get_data(as_text=True)
    assert "<th class=\"num\">Amount EUR</th>" in html and 'data-currency="USD">140.00<' in html
    body = admin_client.get(f"/reports/export.csv?{WEEK}&user=all").get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(body)))
    assert lines[0][5:] == ["Billable amount (EUR)", "Billable amount (USD)", "Billable amount (no client)"]
    assert lines[-1] == ["Total", "5.25", "0.50", "5.75", "5", "120.00", "140.00", "45.00"]


def test_users_never_see_amounts(user_client, work):
    html = user_client.get(f"/reports?{WEEK}").get_data(as_text=True)
    assert "Amount" not in html and "120.00" not in html
    header = next(csv.reader(io.StringIO(user_client.get(f"/reports/export.csv?{WEEK}").get_data(as_text=True))))
    assert header == ["Project", "Billable hours", "Non-billable hours", "Total hours", "Entries"]
    sheet = load_workbook(io.BytesIO(user_client.get(f"/reports/export.xlsx?{WEEK}").data))["Report"]
    assert [c.value for c in sheet[3]] == header


def test_the_chart_has_a_column_per_day_scaled_to_the_busiest(user_client, work):
    html = user_client.get(f"/reports?{WEEK}").get_data(as_text=True)
    days = re.findall(r'data-day="([\d-]+)" data-hours="([\d.]+)"', html)
    assert days == [("2026-11-02", "1.50"), ("2026-11-03", "0.50"), ("2026-11-04", "1.75"), ("2026-11-05", "0.00"),
                    ("2026-11-06", "0.00"), ("2026-11-07", "0.00"), ("2026-11-08", "0.00")]
    # The busiest day (Wednesday) fills the height: 96 of 100 units, all billable.
    wednesday = re.search(r'data-day="2026-11-04".*?</g>', html, re.S).group(0)
    assert 'class="chart-billable" x="21" y="4.00" width="8" height="96.00"' in wednesday
    assert "<script" not in html.split("</head>")[1] and "style=" not in html


def test_the_xlsx_export_holds_the_numbers_as_numbers_and_text_as_text(user_client, work):
    response = user_client.get(f"/reports/export.xlsx?{WEEK}&group=tag")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="timehub-tag-2026-11-02-2026-11-08.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    sheet = book["Report"]
    assert sheet["A1"].value.startswith("02 Nov 2026 – 08 Nov 2026 · by tag · Ulla User")
    table = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert table[0] == ["Tag", "Billable hours", "Non-billable hours", "Total hours", "Entries"]
    assert table[1] == ["Meeting", 2.5, 0, 2.5, 2]
    assert table[2] == ["=Calls", 1.5, 0, 1.5, 1] and sheet["A5"].data_type == "s"  # text, not a formula
    assert table[3] == ["No tag", 0.75, 0.5, 1.25, 2]
    assert table[4] == ["Total", 3.25, 0.5, 3.75, 4]  # each entry once
    days = [[c.value for c in row] for row in book["By day"].iter_rows(min_row=2)]
    assert len(days) == 7 and days[0][0].date() == date(2026, 11, 2) and days[0][1:] == [1.5, 0, 1.5]


def test_the_pdf_export_prints_the_same_report(admin_client, work):
    response = admin_client.get(f"/reports/export.pdf?{WEEK}&user=all&group=client")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert 'filename="timehub-client-2026-11-02-2026-11-08.pdf"' in response.headers["Content-Disposition"]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "Time report: 02 Nov 2026 – 08 Nov 2026" in text and "by client · everyone" in text
    # Globex: Ulla 1 h + Wim 2 h, all billable; USD 60 + 80 = 140.
    assert re.search(r"Globex\s+3\.00\s+0\.00\s+3\.00\s+2\s+0\.00\s+140\.00\s+0\.00", text), text
    assert re.search(r"Total\s+5\.25\s+0\.50\s+5\.75\s+5\s+120\.00\s+140\.00\s+45\.00", text), text
    assert "Billable amount (EUR)" in text.replace("\n", " ")  # headings wrap, never cut


def test_exports_refuse_a_bad_report_clearly(user_client, work):
    for ext in ("xlsx", "pdf"):
        response = user_client.get(f"/reports/export.{ext}?period=custom&from=2026-11-05&to=2026-11-01")
        assert response.status_code == 422 and "before the start" in response.get_data(as_text=True)
        assert user_client.get(f"/reports/export.{ext}?user=all").status_code == 404
        assert user_client.get(f"/reports/export.{ext}?tag=x").status_code == 400


def test_without_a_unicode_font_the_pdf_still_prints_in_latin_1(user_client, work, monkeypatch, tmp_path):
    from app.services import report_exports
    monkeypatch.setattr(report_exports, "FONT_FILES", (tmp_path / "none.ttf", tmp_path / "none-bold.ttf"))
    response = user_client.get(f"/reports/export.pdf?{WEEK}&group=task")
    assert response.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "Website ? Design" in text  # "›" is outside Latin-1
    assert re.search(r"Total\s+3\.25\s+0\.50\s+3\.75\s+4", text), text
