"""Connecting OAuth providers through the real routes: the test client follows
the redirect to the strict fake over real HTTP, then calls our callback."""
from __future__ import annotations

import logging

import httpx2
import pytest
from sqlalchemy import select

from app import tuning
from app.integrations import oauth, registry
from app.integrations.google_calendar import GoogleCalendarConnector
from app.models import Integration, IntegrationCredential
from app.services.integration_service import IntegrationService
from tests.conftest import csrf_token, login, post_form
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.oauth_steps import at_provider, callback_url, connect, finish, flashes, query, start

OAUTH_SLUGS = [spec.slug for spec in registry.all_specs() if spec.auth_kind == "oauth2"]
# Jira, Xero and QuickBooks ask their own APIs which site, organisation or company was
# connected; their flows run against their own fakes in test_oauth_quirks_accounting.py
# (Jira Data Center's, which asks who connected, in test_jira_datacenter.py).
OWN_FAKES = {"jira", "jira_datacenter", "xero", "quickbooks"}
GLOBAL_SLUGS = [slug for slug in OAUTH_SLUGS if registry.get_spec(slug).is_global and slug not in OWN_FAKES]


@pytest.fixture
def fake(app, monkeypatch):
    """One fake authorization server standing in for every OAuth provider."""
    with FakeOAuthProvider(redirect_uris=tuple(callback_url(slug) for slug in OAUTH_SLUGS)) as server:
        server.stand_in_for(monkeypatch, *OAUTH_SLUGS)
        yield server


def stored_integrations(db, slug: str) -> list[Integration]:
    return list(db.session.scalars(select(Integration).where(Integration.provider == slug)))


def credential_count(db) -> int:
    return len(db.session.scalars(select(IntegrationCredential)).all())


# -- the happy path -------------------------------------------------------------------

def test_a_user_connects_their_own_google_calendar(db, fake, user, user_client):
    response = finish(user_client, "google_calendar", at_provider(start(user_client, "google_calendar")))

    assert response.status_code == 302 and response.headers["Location"] == "/integrations"
    assert ("success", "Google Calendar is connected.") in flashes(user_client)
    integration = IntegrationService().integration_for(user, "google_calendar")
    assert integration.status == "active" and integration.user_id == user.id and not integration.is_global
    credential = integration.credential
    assert credential.kind == "oauth2"
    payload = credential.payload
    grant = fake.grant_for(payload["refresh_token"])
    assert grant is not None and payload["access_token"] in grant.access_tokens
    assert payload["token_type"] == "Bearer" and payload["scope"]
    assert credential.expires_at is not None
    # Encrypted at rest: the column holds no plain token.
    assert payload["access_token"] not in credential.ciphertext


@pytest.mark.parametrize("slug", GLOBAL_SLUGS)
def test_an_admin_connects_every_global_oauth_provider(db, fake, admin, admin_client, slug):
    authorize_url = start(admin_client, slug)
    params = query(authorize_url)
    assert params["redirect_uri"] == callback_url(slug)
    assert params["code_challenge_method"] == "S256"

    response = finish(admin_client, slug, at_provider(authorize_url))

    assert response.status_code == 302
    [integration] = stored_integrations(db, slug)
    assert integration.is_global and integration.status == "active"
    assert integration.credential.payload["access_token"]


def test_connect_also_answers_a_post_with_csrf(db, fake, user, user_client):
    token = csrf_token(user_client, "/integrations/google_calendar/callback")  # any page of ours carries one
    response = user_client.post("/integrations/google_calendar/connect", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith(fake.base_url)
    assert user_client.post("/integrations/google_calendar/connect").status_code == 400  # no CSRF token


def test_the_connector_hook_names_the_account_connected_to(db, fake, user, user_client, monkeypatch):
    def who(provider, token, callback_params):
        me = httpx2.get(provider.endpoints.api_base + "/me",
                        headers={"Authorization": f"Bearer {token.access_token}"}).json()
        return oauth.ConnectedAccount(label=me["email"], settings={"calendar_id": me["id"]})

    monkeypatch.setattr(GoogleCalendarConnector, "oauth_connected_account", staticmethod(who), raising=False)
    finish(user_client, "google_calendar", at_provider(start(user_client, "google_calendar")))

    integration = IntegrationService().integration_for(user, "google_calendar")
    assert integration.account_label == "fran@fake.example"
    assert integration.connection_facts["calendar_id"] == "fake-user-1"
    assert ("success", "Google Calendar is connected as fran@fake.example.") in flashes(user_client)


def test_the_redirect_uri_follows_the_external_url(app, fake, user_client):
    app.config["TIMEHUB_EXTERNAL_URL"] = "https://time.example.com"
    params = query(start(user_client, "google_calendar"))
    assert params["redirect_uri"] == "https://time.example.com/integrations/google_calendar/callback"


def test_reconnecting_clears_needs_reconnect(db, fake, user, user_client):
    finish(user_client, "google_calendar", at_provider(start(user_client, "google_calendar")))
    integration = IntegrationService().integration_for(user, "google_calendar")
    integration.status, integration.last_error = "needs_reconnect", "revoked"
    db.session.commit()

    finish(user_client, "google_calendar", at_provider(start(user_client, "google_calendar")))

    db.session.refresh(integration)
    assert integration.status == "active" and integration.last_error is None
    assert credential_count(db) == 1


# -- state failures: 400 and nothing stored -------------------------------------------------

def _tamper(params: dict, client, case: str) -> dict:
    params = dict(params)
    if case == "wrong":
        params["state"] = params["state"][:-4] + "AAAA"
    elif case == "missing":
        params.pop("state")
    elif case == "expired":
        with client.session_transaction() as session:
            pending = session[oauth.SESSION_KEY]
            pending[params["state"]]["created_at"] -= tuning.STATE_TTL_SECONDS + 1
            session[oauth.SESSION_KEY] = pending
    return params


@pytest.mark.parametrize("case", ["wrong", "missing", "expired"])
def test_a_bad_state_is_refused_and_nothing_is_stored(db, fake, user, user_client, case):
    params = _tamper(at_provider(start(user_client, "google_calendar")), user_client, case)

    response = finish(user_client, "google_calendar", params)

    assert response.status_code == 400
    assert "Connection not completed" in response.get_data(as_text=True)
    assert fake.counts["authorization_code"] == 0  # the code was never spent
    assert credential_count(db) == 0
    assert all(i.status != "active" for i in stored_integrations(db, "google_calendar"))


def test_a_reused_state_is_refused(db, fake, user, user_client):
    params = at_provider(start(user_client, "google_calendar"))
    assert finish(user_client, "google_calendar", params).status_code == 302
    ciphertext = IntegrationService().integration_for(user, "google_calendar").credential.ciphertext

    response = finish(user_client, "google_calendar", params)

    assert response.status_code == 400
    assert fake.counts["authorization_code"] == 1
    db.session.expire_all()
    assert IntegrationService().integration_for(user, "google_calendar").credential.ciphertext == ciphertext


def test_a_state_from_another_providers_flow_is_refused(db, fake, admin, admin_client):
    params = at_provider(start(admin_client, "jira"))
    assert finish(admin_client, "slack", params).status_code == 400
    assert credential_count(db) == 0


def test_access_denied_is_a_friendly_message(db, fake, user, user_client):
    fake.deny = True
    params = at_provider(start(user_client, "google_calendar"))
    assert params["error"] == "access_denied"

    response = finish(user_client, "google_calendar", params)

    assert response.status_code == 302 and response.headers["Location"] == "/integrations"
    [(category, message)] = flashes(user_client)
    assert category == "info" and "did not allow" in message
    assert credential_count(db) == 0


def test_a_failing_token_endpoint_stores_nothing(db, fake, user, user_client):
    fake.fail_next_token_requests(1, status=503)
    response = finish(user_client, "google_calendar", at_provider(start(user_client, "google_calendar")))
    assert response.status_code == 502
    assert credential_count(db) == 0


# -- who may connect what ---------------------------------------------------------------

@pytest.mark.parametrize("slug", ["jira", "xero"])
def test_a_user_cannot_connect_a_global_provider(db, fake, user_client, slug):
    assert post_form(user_client, f"/integrations/{slug}/connect").status_code == 403
    assert user_client.get(f"/integrations/{slug}/callback?state=x&code=y").status_code == 403
    assert fake.counts["authorize"] == 0 and credential_count(db) == 0


def test_anonymous_visitors_are_sent_to_sign_in(db, fake, user, client):
    response = client.post("/integrations/google_calendar/connect")
    assert response.status_code in (302, 400)  # no session: no CSRF token, and not signed in
    assert client.get("/integrations").headers["Location"].endswith("/login?next=%2Fintegrations")


@pytest.mark.parametrize("slug", ["trello", "nope"])
def test_providers_without_oauth_are_not_found(db, fake, admin_client, slug):
    assert post_form(admin_client, f"/integrations/{slug}/connect").status_code == 404


def test_another_users_google_connection_is_unreachable(app, db, fake, make_user):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    alice_client, bob_client = app.test_client(), app.test_client()

    login(alice_client, alice)
    login(bob_client, bob)
    alice_params = at_provider(start(alice_client, "google_calendar"))

    # Bob replays Alice's callback (code and state) in his own session.
    assert finish(bob_client, "google_calendar", alice_params).status_code == 400
    assert IntegrationService().integration_for(bob, "google_calendar") is None
    assert IntegrationService().integration_for(alice, "google_calendar") is None

    # Each connects their own account; neither touches the other's.
    assert finish(alice_client, "google_calendar", alice_params).status_code == 302
    bob_params = at_provider(start(bob_client, "google_calendar"))
    assert finish(bob_client, "google_calendar", bob_params).status_code == 302
    mine = IntegrationService().integration_for(alice, "google_calendar")
    theirs = IntegrationService().integration_for(bob, "google_calendar")
    assert mine.id != theirs.id and mine.user_id == alice.id and theirs.user_id == bob.id
    assert mine.credential.payload["access_token"] != theirs.credential.payload["access_token"]


def test_an_unregistered_app_sends_the_user_back_with_an_explanation(db, fake, user_client, monkeypatch):
    monkeypatch.delenv("GOOGLE_CALENDAR_CLIENT_ID")
    response = post_form(user_client, "/integrations/google_calendar/connect")
    assert response.status_code == 302 and response.headers["Location"] == "/integrations"
    [(category, message)] = flashes(user_client)
    assert category == "error" and "administrator" in message


def test_app_credentials_saved_by_the_admin_are_used(db, fake, admin, monkeypatch):
    monkeypatch.delenv("ASANA_CLIENT_ID")
    monkeypatch.delenv("ASANA_CLIENT_SECRET")
    IntegrationService().save_app_credentials(admin, "asana", {"client_id": fake.client_id,
                                                               "client_secret": fake.client_secret})
    from flask import current_app
    admin_client = login(current_app.test_client(), admin)
    assert finish(admin_client, "asana", at_provider(start(admin_client, "asana"))).status_code == 302
    assert stored_integrations(db, "asana")[0].status == "active"


def test_no_token_reaches_a_page_or_a_log(db, fake, user, user_client, caplog):
    caplog.set_level(logging.DEBUG)
    finish(user_client, "google_calendar", at_provider(start(user_client, "google_calendar")))
    payload = IntegrationService().integration_for(user, "google_calendar").credential.payload
    pages = [user_client.get(path).get_data(as_text=True)
             for path in ("/integrations/google_calendar/callback", "/integrations/google_calendar/connect")]
    for secret in (payload["access_token"], payload["refresh_token"], fake.client_secret):
        assert secret not in caplog.text
        assert all(secret not in page for page in pages)


# -- disconnect ---------------------------------------------------------------------------

def test_disconnect_revokes_the_grant_and_deletes_the_tokens(db, fake, user, user_client):
    connect(user_client, "google_calendar")
    refresh_token = IntegrationService().integration_for(user, "google_calendar").credential.payload["refresh_token"]
    response = post_form(user_client, "/integrations/google_calendar/disconnect")
    assert response.status_code == 302
    assert fake.counts["revoke"] == 1 and fake.grant_for(refresh_token).revoked
    db.session.expire_all()
    assert IntegrationService().integration_for(user, "google_calendar").status == "not_configured"
    assert credential_count(db) == 0


def test_a_failing_revocation_is_reported_and_the_tokens_are_still_deleted(db, fake, user, user_client, monkeypatch):
    connect(user_client, "google_calendar")
    monkeypatch.setenv("GOOGLE_CALENDAR_REVOKE_URL", "http://127.0.0.1:9/revoke")  # nothing answers there
    post_form(user_client, "/integrations/google_calendar/disconnect")
    messages = flashes(user_client)
    assert any(category == "warning" and "revoking access at the provider failed" in text
               for category, text in messages), messages
    assert credential_count(db) == 0


def test_a_provider_without_revocation_is_simply_disconnected(db, fake, admin, admin_client, monkeypatch):
    monkeypatch.delenv("MICROSOFT_TEAMS_REVOKE_URL")  # Microsoft's identity platform offers none
    connect(admin_client, "microsoft_teams")
    post_form(admin_client, "/integrations/microsoft_teams/disconnect")
    assert fake.counts["revoke"] == 0 and credential_count(db) == 0


def test_connecting_queues_the_first_sync_when_the_connector_pulls(app, db, fake, user, user_client, monkeypatch):
    from app.integrations import registry
    from app.integrations.google_calendar import GoogleCalendarConnector
    from tests.connector_doubles import pulling_variant
    monkeypatch.setitem(registry._CONNECTORS, "google_calendar", pulling_variant(GoogleCalendarConnector, ("events",)))
    connect(user_client, "google_calendar")
    queued = [task for task in app.extensions["timehub.jobs"].pending() if task.name == "sync_integration"]
    integration = IntegrationService().integration_for(user, "google_calendar")
    assert [(task.args, task.kwargs) for task in queued] == [((integration.id,), {"trigger": "connect"})]
