"""Each class of malformed input the probe crashed the app with gets a clear 4xx or a
form error, and nothing is half-saved."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import inputs, timefmt
from app.models import Client, TimeEntry
from app.routes.auth import safe_next
from tests.conftest import login, post_form


def entry_count(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(TimeEntry.id)))


@pytest.mark.parametrize("path", ["/?until=0001-01-01", "/?until=9999-12-31", "/calendar?week=9999-12-31",
                                  "/calendar?week=0001-01-01", "/?until=1969-12-31", "/?until=" + "9" * 5000])
def test_dates_at_the_calendars_edges_are_a_400(user_client, path):
    assert user_client.get(path).status_code == 400


@pytest.mark.parametrize("fields, field_error", [
    ({"entry-date": "9999-12-31", "entry-start": "23:30", "entry-duration": "2h"}, "between 1970 and 2100"),
    ({"entry-date": "2026-03-02", "entry-start": "09:00", "entry-duration": "99999999"}, "at most 24 hours"),
    ({"entry-date": "2026-03-02", "entry-start": "09:00", "entry-duration": "9999999:00"}, "at most 24 hours"),
    ({"entry-date": "2026-03-02", "entry-start": "09:00", "entry-duration": "9" * 400}, "Enter a duration"),
    ({"entry-date": "2026-03-02", "entry-start": "09:00", "entry-duration": "25h"}, "at most 24 hours"),
])
def test_out_of_range_entries_are_form_errors_and_not_saved(user_client, db, fields, field_error):
    response = post_form(user_client, "/entries", fields, page="/")
    assert response.status_code == 422 and field_error in response.get_data(as_text=True)
    assert entry_count(db) == 0


def test_an_entry_edited_to_last_more_than_a_day_is_refused(user_client, db, user):
    entry = TimeEntry(user_id=user.id, started_at=datetime(2026, 3, 2, 9), ended_at=datetime(2026, 3, 2, 10))
    db.session.add(entry)
    db.session.commit()
    response = post_form(user_client, f"/entries/{entry.id}/edit",
                         {"started": "2026-03-02T09:00", "ended": "2026-03-04T09:00"}, page="/")
    assert response.status_code == 422 and "at most 24 hours" in response.get_data(as_text=True)
    db.session.refresh(entry)
    assert entry.ended_at == datetime(2026, 3, 2, 10)


def test_a_far_future_entry_saved_before_the_bounds_still_lists_east_of_utc(app, db, make_user):
    tokyo = make_user("tokyo@example.com", timezone="Asia/Tokyo")
    db.session.add(TimeEntry(user_id=tokyo.id, started_at=datetime(9999, 12, 31, 23, 30),
                             ended_at=datetime(9999, 12, 31, 23, 59), description="stored long ago"))
    db.session.commit()
    client = login(app.test_client(), tokyo)
    response = client.get("/")
    assert response.status_code == 200 and "stored long ago" in response.get_data(as_text=True)
    assert timefmt.to_local(datetime(9999, 12, 31, 23, 30), tokyo.tz).year == 9999


@pytest.mark.parametrize("value", ["²", "１２", "9" * 3000, str(2**31), "-1", "1.0", " "])
def test_ids_that_are_not_plain_bounded_integers_are_refused(value):
    with pytest.raises(ValueError):
        inputs.parse_int(value)


def test_plain_ids_parse():
    assert inputs.parse_int(" 42 ") == 42 and inputs.parse_int(str(inputs.INT_MAX)) == inputs.INT_MAX


@pytest.mark.parametrize("path", ["/entries/99999999999999999999/edit", f"/entries/{2**31}/edit",
                                  "/projects/" + "9" * 3000, "/invoices/99999999999999999999999"])
def test_ids_beyond_the_database_integer_in_urls_are_404(admin_client, path):
    assert admin_client.get(path).status_code == 404


@pytest.mark.parametrize("value", ["²", "9" * 3000, str(2**40)])
def test_odd_ids_in_forms_and_queries_are_no_crash(admin_client, db, value):
    response = post_form(admin_client, "/entries", {"entry-date": "2026-03-02", "entry-start": "09:00",
                                                    "entry-duration": "1h", "entry-project": value}, page="/")
    assert response.status_code == 422 and "No such project" in response.get_data(as_text=True)
    assert entry_count(db) == 0
    assert admin_client.get(f"/?user={value}").status_code == 404
    assert admin_client.get(f"/calendar?user={value}").status_code == 404
    assert admin_client.get(f"/invoices/new?client={value}").status_code == 200
    assert admin_client.get(f"/projects/new?client={value}").status_code == 200


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "bell\x07", "esc\x1b[31m"])
def test_nul_and_control_characters_in_text_fields_are_a_400_on_every_backend(admin_client, db, value):
    response = post_form(admin_client, "/clients/new", {"name": value, "currency": "EUR"}, page="/clients")
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Client.id))) == 0
    assert admin_client.get("/?until=" + value).status_code == 400


def test_tabs_and_newlines_in_text_stay_allowed(admin_client, db):
    response = post_form(admin_client, "/clients/new", {"name": "Acme\tLtd", "currency": "EUR"}, page="/clients")
    assert response.status_code == 302


@pytest.mark.parametrize("target", ["/\r\nLocation: https://evil.example/", "/%0d%0a", "//evil.example",
                                    "/\\evil.example", "https://evil.example/", "/ok\x00", "/" + "a" * 3000])
def test_next_targets_with_line_breaks_or_other_hosts_fall_back_home(app, target):
    with app.test_request_context():
        expected = "/" if target != "/%0d%0a" else target  # an encoded CR/LF is a harmless path
        assert safe_next(target) == expected


def test_login_next_with_a_line_break_redirects_home(app, user):
    client = app.test_client()
    from tests.conftest import PASSWORD, csrf_token
    response = client.post("/login?next=/account%0d%0aSet-Cookie:x=1",
                           data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "x=1" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("currency, ok", [("EUR", True), ("usd", True), ("JPY", True), ("DOL", False),
                                          ("dollars", False), ("XYZ", False), ("EURO", False)])
def test_currencies_are_iso_4217(admin_client, db, currency, ok):
    response = post_form(admin_client, "/clients/new", {"name": f"Client {currency}", "currency": currency},
                         page="/clients")
    assert response.status_code == (302 if ok else 422)
    assert db.session.scalar(select(func.count(Client.id))) == (1 if ok else 0)


@pytest.mark.parametrize("field, value", [("end", "9999-12-31"), ("start", "0001-01-01"), ("issue_date", "2101-01-01"),
                                          ("due_date", "9999-12-31")])
def test_invoice_dates_outside_the_range_are_form_errors(admin_client, db, field, value):
    acme = Client(name="Acme", currency="EUR")
    db.session.add(acme)
    db.session.commit()
    data = {"client_id": acme.id, "tax_rate": "0", "start": "2026-10-01", "end": "2026-10-31",
            "issue_date": "2026-11-01", field: value}
    response = post_form(admin_client, "/invoices/new", data, page="/invoices")
    assert response.status_code == 422 and "between 1970 and 2100" in response.get_data(as_text=True)


def test_a_timer_running_longer_than_a_day_can_still_be_stopped(user_client, db, user):
    db.session.add(TimeEntry(user_id=user.id, started_at=datetime.utcnow() - timedelta(days=3), ended_at=None))
    db.session.commit()
    assert post_form(user_client, "/timer/stop", page="/").status_code == 302
    db.session.expire_all()
    assert db.session.scalars(select(TimeEntry)).one().ended_at is not None
