"""Invoice arithmetic: Decimal all the way, rounded to cents."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from app.models import Invoice, InvoiceLine, Project, TimeEntry
from app.services.invoice_service import build_lines, hours_for, utc_bounds


def test_hours_round_half_up_to_a_hundredth():
    assert hours_for(3600) == Decimal("1.00")
    assert hours_for(2 * 3600 + 20 * 60) == Decimal("2.33")  # 2.3333...
    assert hours_for(18) == Decimal("0.01")  # 0.005 h rounds up
    assert hours_for(17) == Decimal("0.00")
    assert isinstance(hours_for(1.9), Decimal)


def test_totals_are_decimal_cents():
    invoice = Invoice(tax_rate=Decimal("19.00"), lines=[
        InvoiceLine(description="a", hours=Decimal("2.33"), unit_price=Decimal("100.25")),  # 233.5825
        InvoiceLine(description="b", hours=Decimal("0.10"), unit_price=Decimal("0.10")),    # 0.01
    ])
    assert [line.amount for line in invoice.lines] == [Decimal("233.58"), Decimal("0.01")]
    assert invoice.subtotal == Decimal("233.59")
    assert invoice.tax == Decimal("44.38")  # 44.3821
    assert invoice.total == Decimal("277.97")
    assert all(isinstance(v, Decimal) for v in (invoice.subtotal, invoice.tax, invoice.total))


def test_float_pitfall_is_avoided():
    # 0.1 + 0.2 hours at 10.00 would be 3.0000000000000004 with floats.
    invoice = Invoice(tax_rate=Decimal("0"), lines=[
        InvoiceLine(description="a", hours=Decimal("0.10"), unit_price=Decimal("10.00")),
        InvoiceLine(description="b", hours=Decimal("0.20"), unit_price=Decimal("10.00")),
    ])
    assert str(invoice.total) == "3.00"


def test_one_line_per_project_summing_its_entries():
    website = Project(id=1, name="Website", hourly_rate=Decimal("80.00"))
    app = Project(id=2, name="app", hourly_rate=Decimal("100.25"))

    def entry(project, start_hour, minutes):
        start = datetime(2026, 10, 5, start_hour)
        return TimeEntry(project=project, started_at=start, ended_at=start + timedelta(minutes=minutes))

    lines = build_lines([entry(website, 9, 90), entry(app, 11, 140), entry(website, 14, 45)])
    assert [(line.description, line.hours, line.unit_price, line.amount) for line in lines] == [
        ("app", Decimal("2.33"), Decimal("100.25"), Decimal("233.58")),
        ("Website", Decimal("2.25"), Decimal("80.00"), Decimal("180.00")),
    ]


def test_date_range_is_read_in_the_users_time_zone():
    assert utc_bounds(date(2026, 10, 1), date(2026, 10, 31), "UTC") == (
        datetime(2026, 10, 1), datetime(2026, 11, 1))
    # Berlin is UTC+2 until 25 October 2026 and UTC+1 after it.
    assert utc_bounds(date(2026, 10, 1), date(2026, 10, 31), "Europe/Berlin") == (
        datetime(2026, 9, 30, 22), datetime(2026, 10, 31, 23))
