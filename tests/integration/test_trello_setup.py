"""Trello end to end through the setup page, against the fake Trello over loopback HTTP."""
import logging

import pytest
from sqlalchemy import select

from app.models import Integration, IntegrationCredential
from tests.conftest import post_form
from tests.fakes.trello import FakeTrello


@pytest.fixture
def trello(monkeypatch):
    with FakeTrello() as fake:
        monkeypatch.setenv("TRELLO_API_BASE", fake.api_base)
        yield fake


@pytest.fixture
def trello_account(trello):
    member = trello.add_member("Tess Trello", "tess")
    return trello.add_credentials(member)


def trello_integration(db):
    return db.session.scalars(select(Integration).where(Integration.provider == "trello")).one_or_none()


def test_right_key_and_token_are_checked_then_stored_encrypted(admin_client, db, trello, trello_account, caplog):
    key, token = trello_account
    with caplog.at_level(logging.DEBUG):
        response = post_form(admin_client, "/admin/integrations/trello", {"api_key": key, "token": token})
    assert response.status_code == 302
    integration = trello_integration(db)
    assert integration.status == "active" and integration.is_global and integration.user_id is None
    assert integration.account_label == "Tess Trello (@tess)"
    assert integration.credential.payload == {"api_key": key, "token": token}
    raw = db.session.execute(db.text("SELECT ciphertext FROM integration_credentials")).scalar_one()
    assert key not in raw and token not in raw
    # The check was a real call to GET /1/members/me with the key and token.
    call = trello.requests[-1]
    assert (call.method, call.path) == ("GET", "/1/members/me")
    assert call.args["key"] == key and call.args["token"] == token
    # Neither the page nor the logs show them.
    html = admin_client.get("/admin/integrations/trello").get_data(as_text=True)
    assert key not in html and token not in html and "connected as Tess Trello" in html
    assert key not in caplog.text and token not in caplog.text
    listing = admin_client.get("/integrations").get_data(as_text=True)
    card = listing.split('data-provider="trello"')[1].split("</article>")[0]
    assert "status-active" in card


@pytest.mark.parametrize("which", ["api_key", "token"])
def test_a_wrong_key_or_token_saves_nothing_and_says_why(admin_client, db, trello, trello_account, which):
    key, token = trello_account
    values = {"api_key": key, "token": token, which: "0" * 32}
    response = post_form(admin_client, "/admin/integrations/trello", values)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    expected = "invalid key" if which == "api_key" else "invalid token"
    assert "Trello refused these credentials" in html and expected in html
    assert trello_integration(db) is None
    assert db.session.scalars(select(IntegrationCredential)).first() is None


def test_an_unreachable_trello_saves_nothing(admin_client, db, monkeypatch):
    monkeypatch.setenv("TRELLO_API_BASE", "http://127.0.0.1:9/1")  # discard port: connection refused
    response = post_form(admin_client, "/admin/integrations/trello", {"api_key": "k" * 32, "token": "t" * 64})
    assert response.status_code == 422
    assert "Could not check the credentials with Trello" in response.get_data(as_text=True)
    assert trello_integration(db) is None


def test_missing_fields_are_field_errors(admin_client, db, trello):
    response = post_form(admin_client, "/admin/integrations/trello", {"api_key": "", "token": ""})
    assert response.status_code == 422
    assert response.get_data(as_text=True).count("This field is required.") == 2
    assert trello.requests == []


def test_empty_fields_keep_the_stored_values_and_recheck(admin_client, db, trello, trello_account):
    key, token = trello_account
    post_form(admin_client, "/admin/integrations/trello", {"api_key": key, "token": token})
    calls = len(trello.requests)
    response = post_form(admin_client, "/admin/integrations/trello", {"api_key": "", "token": ""})
    assert response.status_code == 302
    assert len(trello.requests) == calls + 1
    assert trello_integration(db).credential.payload == {"api_key": key, "token": token}


def test_test_connection_notices_a_revoked_token(admin_client, db, trello, trello_account):
    key, token = trello_account
    post_form(admin_client, "/admin/integrations/trello", {"api_key": key, "token": token})
    response = post_form(admin_client, "/admin/integrations/trello/test", follow_redirects=True)
    assert "Connection works: Tess Trello (@tess)." in response.get_data(as_text=True)
    trello.revoke_token(token)
    response = post_form(admin_client, "/admin/integrations/trello/test", follow_redirects=True)
    assert "invalid token" in response.get_data(as_text=True)
    db.session.expire_all()
    assert trello_integration(db).status == "error"


def test_disconnect_deletes_the_stored_key(admin_client, db, trello, trello_account):
    key, token = trello_account
    post_form(admin_client, "/admin/integrations/trello", {"api_key": key, "token": token})
    response = post_form(admin_client, "/integrations/trello/disconnect")
    assert response.status_code == 302
    db.session.expire_all()
    assert trello_integration(db).status == "not_configured"
    assert db.session.scalars(select(IntegrationCredential)).first() is None


def test_users_cannot_set_up_trello(user_client, trello, trello_account):
    key, token = trello_account
    assert post_form(user_client, "/admin/integrations/trello", {"api_key": key, "token": token}).status_code == 403
    assert trello.requests == []
