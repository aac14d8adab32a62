"""The signed-in user's own account page: profile, password, personal API tokens."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from app.models import ApiToken
from tests.conftest import PASSWORD, login, post_form


def post(client, url, data=None):
    return post_form(client, url, data, page="/account")


def test_user_changes_name_and_time_zone(user_client, user, db):
    response = post(user_client, "/account", {"name": "Ulla Renamed", "timezone": "America/Chicago"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert (user.name, user.timezone) == ("Ulla Renamed", "America/Chicago")


def test_invalid_profile_rerenders_with_errors_and_saves_nothing(user_client, user, db):
    response = post(user_client, "/account", {"name": "", "timezone": "Nowhere/Land"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required." in html and "Not a valid choice." in html
    db.session.refresh(user)
    assert (user.name, user.timezone) == ("Ulla User", "UTC")


def test_password_change_needs_the_current_password(user_client, user, db):
    response = post(user_client, "/account/password",
                    {"current": "wrong password", "password": "a new secret", "confirm": "a new secret"})
    assert response.status_code == 422
    assert "That is not your current password." in response.get_data(as_text=True)
    response = post(user_client, "/account/password",
                    {"current": PASSWORD, "password": "a new secret", "confirm": "another one"})
    assert response.status_code == 422
    assert "Passwords differ." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password(PASSWORD)

    response = post(user_client, "/account/password",
                    {"current": PASSWORD, "password": "a new secret", "confirm": "a new secret"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.check_password("a new secret") and not user.check_password(PASSWORD)


def test_new_token_is_shown_once_and_stored_only_as_a_digest(user_client, user, db):
    response = post(user_client, "/account/tokens", {"name": "laptop script"})
    assert response.status_code == 201
    plain = re.search(r'value="(th_[^"]+)"', response.get_data(as_text=True)).group(1)
    stored = db.session.scalars(select(ApiToken)).one()
    assert (stored.user_id, stored.name, stored.token_digest) == (user.id, "laptop script", ApiToken.digest(plain))
    assert plain not in stored.token_digest

    page = user_client.get("/account").get_data(as_text=True)
    assert "laptop script" in page and plain not in page


def test_token_name_is_required(user_client, db):
    response = post(user_client, "/account/tokens", {"name": "  "})
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(ApiToken.id))) == 0


def test_user_revokes_own_token_but_not_anothers(user_client, user, admin, db):
    mine, _ = ApiToken.issue(user, "mine")
    theirs, _ = ApiToken.issue(admin, "theirs")
    db.session.add_all([mine, theirs])
    db.session.commit()
    assert "theirs" not in user_client.get("/account").get_data(as_text=True)

    assert post(user_client, f"/account/tokens/{theirs.id}/revoke").status_code == 404
    assert post(user_client, f"/account/tokens/{mine.id}/revoke").status_code == 302
    db.session.expunge_all()
    assert db.session.scalars(select(ApiToken.name)).all() == ["theirs"]


def test_revoke_without_csrf_token_is_refused(user_client, user, db):
    token, _ = ApiToken.issue(user, "keep me")
    db.session.add(token)
    db.session.commit()
    assert user_client.post(f"/account/tokens/{token.id}/revoke").status_code == 400
    assert db.session.scalar(select(func.count(ApiToken.id))) == 1


def test_anonymous_visitors_are_sent_to_login(client, admin):
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_zone_outside_the_common_list_can_be_kept(app, make_user, db):
    legacy = make_user("legacy@example.com", timezone="US/Eastern")  # accepted by the CLI
    client = login(app.test_client(), legacy)
    assert '<option selected value="US/Eastern">' in client.get("/account").get_data(as_text=True)
    assert post(client, "/account", {"name": "Renamed", "timezone": "US/Eastern"}).status_code == 302
    db.session.refresh(legacy)
    assert (legacy.name, legacy.timezone) == ("Renamed", "US/Eastern")
