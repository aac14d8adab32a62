"""First run and account details (issue 15): every field's error at once, canonical time zones,
the browser's zone preselected by a self-hosted script, token times in the user's zone, a favicon."""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select

from app.models import ApiToken, User
from app.timezones import COMMON_TIMEZONES
from tests.conftest import csrf_token, login


def test_every_fields_error_shows_at_once(client, db):
    """Before: the e-mail error appeared only once the passwords were right. (.local addresses
    are accepted since the hardening: self-hosted teams use them; .invalid never delivers.)"""
    response = client.post("/setup", data={"csrf_token": csrf_token(client, "/setup"), "name": "First",
                                           "email": "first@timehub.invalid", "password": "short", "confirm": "other",
                                           "timezone": "UTC"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Invalid e-mail address" in html
    assert "at least 8 characters" in html
    assert "Passwords differ." in html
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_admins_new_user_form_shows_every_error_at_once(admin_client, admin, db):
    from tests.conftest import post_form
    response = post_form(admin_client, "/admin/users/new", {"name": "N", "email": admin.email, "password": "x",
                                                            "confirm": "y", "role": "user", "timezone": "UTC"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "already exists" in html and "Passwords differ." in html


def test_the_zone_list_offers_canonical_zones_only():
    assert COMMON_TIMEZONES[0] == "UTC"
    for canonical in ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/Kyiv", "Europe/Amsterdam"):
        assert canonical in COMMON_TIMEZONES
    for alias in ("US/Eastern", "Asia/Calcutta", "Europe/Kiev", "GB", "Etc/GMT+5", "America/Buenos_Aires"):
        assert alias not in COMMON_TIMEZONES
    assert 300 < len(COMMON_TIMEZONES) < 480 and len(set(COMMON_TIMEZONES)) == len(COMMON_TIMEZONES)


def test_setup_page_preselects_the_browsers_zone_with_a_self_hosted_script(client, db):
    html = client.get("/setup").get_data(as_text=True)
    assert re.search(r'<select[^>]*data-browser-timezone', html)
    assert '<script src="/static/timezone.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "no inline script (a CSP is coming)"
    assert client.get("/static/timezone.js").status_code == 200


def test_favicon_is_a_self_hosted_svg(client, admin):
    html = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_token_times_are_in_the_users_zone(app, make_user, db):
    berliner = make_user("berlin@example.com", timezone="Europe/Berlin")
    token, _plain = ApiToken.issue(berliner, "laptop")
    token.created_at = datetime(2026, 7, 1, 8, 30)  # UTC; 10:30 in Berlin (summer time)
    db.session.add(token)
    db.session.commit()
    html = login(app.test_client(), berliner).get("/account").get_data(as_text=True)
    assert "2026-07-01 10:30" in html and "08:30" not in html
