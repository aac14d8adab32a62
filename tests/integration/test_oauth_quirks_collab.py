"""Each collaboration provider's real OAuth quirks (Google Calendar, Microsoft
Teams and Outlook, Slack, GitHub, GitLab, Asana), through the real routes
over real HTTP to the strict fake speaking that provider's dialect. The fake
is reached only through the `<SLUG>_*` endpoint overrides, or (self-hosted
GitLab) through the admin's base URL."""
from __future__ import annotations

import base64
import json
import logging
from contextlib import ExitStack
from dataclasses import replace
from urllib.parse import urlsplit

import httpx2
import pytest
from sqlalchemy import select

from app.integrations import registry
from app.integrations.google_calendar import CALENDAR_LIST_SCOPE, CALENDAR_SCOPE, id_token_email
from app.models import Integration, IntegrationCredential
from app.services import token_service
from app.services.integration_service import IntegrationService
from tests.conftest import post_form
from tests.contract import Contract
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.oauth_steps import callback_url, connect, flashes, query, start

MICROSOFT_SLUGS = ("microsoft_teams", "outlook_calendar")


@pytest.fixture
def serve(app, monkeypatch):
    """`serve(slug, dialect=..., env=True)`: a strict fake for `slug`, registered with its
    callback URL; with `env` the slug's endpoints and app credentials point at it."""
    with ExitStack() as stack:
        def start(slug: str, *, env: bool = True, **kwargs) -> FakeOAuthProvider:
            fake = stack.enter_context(FakeOAuthProvider(redirect_uris=(callback_url(slug),), **kwargs))
            if env:
                for name, value in fake.env(slug).items():
                    monkeypatch.setenv(name, value)
                monkeypatch.setenv(f"{slug.upper()}_CLIENT_ID", fake.client_id)
                monkeypatch.setenv(f"{slug.upper()}_CLIENT_SECRET", fake.client_secret)
            return fake
        yield start


def the_integration(db, slug: str) -> Integration:
    db.session.expire_all()
    return db.session.scalars(select(Integration).where(Integration.provider == slug)).one()


def credential_count(db) -> int:
    return len(db.session.scalars(select(IntegrationCredential)).all())


def as_published(recorded, base_path: str):
    """A request the fake saw under `/api`, moved under the provider's real base path."""
    return replace(recorded, path=base_path + recorded.path.removeprefix("/api"))


# -- Google Calendar ----------------------------------------------------------------

def test_google_asks_for_offline_access_and_fresh_consent(db, serve, user_client):
    serve("google_calendar", dialect="google")
    params = query(start(user_client, "google_calendar"))
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert params["include_granted_scopes"] == "true"
    assert set(params["scope"].split()) == {"openid", "email", CALENDAR_SCOPE, CALENDAR_LIST_SCOPE}


def test_google_names_the_account_by_the_id_tokens_email(db, serve, user, user_client):
    fake = serve("google_calendar", dialect="google")
    response = connect(user_client, "google_calendar")

    assert response.status_code == 302
    assert ("success", "Google Calendar is connected as fran@fake.example.") in flashes(user_client)
    integration = IntegrationService().integration_for(user, "google_calendar")
    assert integration.status == "active" and integration.account_label == "fran@fake.example"
    assert fake.api_requests == []  # the ID token sufficed: no userinfo call
    assert "Connected as <strong>fran@fake.example</strong>" in user_client.get("/integrations").get_data(as_text=True)


def test_google_refuses_a_grant_without_the_calendar_scope(db, serve, user, user_client):
    fake = serve("google_calendar", dialect="google", scope="openid email")  # the person unticked the calendar

    response = connect(user_client, "google_calendar")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "did not grant access to your calendar events" in page and CALENDAR_SCOPE in page
    assert credential_count(db) == 0
    integration = IntegrationService().integration_for(user, "google_calendar")
    assert integration is None or integration.status != "active"
    # The partial grant was handed back rather than left in the person's Google account.
    assert fake.counts["revoke"] == 1 and fake.active_grants() == []


def test_google_disconnect_revokes_at_the_revocation_endpoint(db, serve, user, user_client):
    fake = serve("google_calendar", dialect="google")
    connect(user_client, "google_calendar")
    refresh_token = IntegrationService().integration_for(user, "google_calendar").credential.payload["refresh_token"]

    post_form(user_client, "/integrations/google_calendar/disconnect")

    assert fake.counts["revoke"] == 1 and fake.grant_for(refresh_token).revoked
    assert credential_count(db) == 0
    assert not [m for c, m in flashes(user_client) if c == "warning"]


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize("claims, expected", [
    ({"iss": "https://accounts.google.com", "aud": "me", "email": "a@example.com"}, "a@example.com"),
    ({"iss": "accounts.google.com", "aud": "me", "email": "a@example.com"}, "a@example.com"),
    ({"iss": "https://accounts.google.com", "aud": "someone-else", "email": "a@example.com"}, None),
    ({"iss": "https://evil.example", "aud": "me", "email": "a@example.com"}, None),
    ({"iss": "https://accounts.google.com", "aud": "me"}, None),
])
def test_the_id_token_names_the_account_only_when_it_is_googles_and_ours(claims, expected):
    assert id_token_email(_jwt(claims), "me") == expected


@pytest.mark.parametrize("id_token", [None, "", "not-a-jwt", "a.!!!.c"])
def test_an_unreadable_id_token_leaves_the_account_unnamed(id_token):
    assert id_token_email(id_token, "me") is None


# -- Microsoft Teams and Outlook (identity platform + Graph) ---------------------------

@pytest.mark.parametrize("slug", MICROSOFT_SLUGS)
def test_microsoft_uses_the_saved_tenant_and_asks_for_offline_access(db, admin, admin_client, slug):
    service = IntegrationService()
    service.save_app_credentials(admin, slug, {"client_id": "app-id", "client_secret": "app-secret"})
    default = urlsplit(start(admin_client, slug))
    assert (default.netloc, default.path) == ("login.microsoftonline.com", "/organizations/oauth2/v2.0/authorize")

    service.save_app_credentials(admin, slug, {"tenant": "contoso.onmicrosoft.com", "client_id": "app-id",
                                               "client_secret": ""})  # empty secret: keep the stored one
    location = start(admin_client, slug)

    assert urlsplit(location).path == "/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    assert "offline_access" in query(location)["scope"].split()
    provider = token_service.oauth_provider_for(the_integration(db, slug))
    assert provider.endpoints.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"


@pytest.mark.parametrize("slug", MICROSOFT_SLUGS)
def test_microsoft_names_the_account_from_graph_me(db, serve, admin_client, slug):
    fake = serve(slug)
    assert connect(admin_client, slug).status_code == 302

    integration = the_integration(db, slug)
    assert integration.status == "active" and integration.account_label == "Fran Fake (fran@fake.example)"
    [me] = fake.api_requests
    assert me.path == "/api/me" and me.headers["authorization"].startswith("Bearer ")
    graph = Contract.for_provider("graph")
    graph.check_request(as_published(me, graph.base_path))


@pytest.mark.parametrize("slug", MICROSOFT_SLUGS)
def test_microsoft_has_no_revocation_and_disconnect_still_forgets(db, serve, admin_client, slug):
    fake = serve(slug)  # the fake offers /revoke: it must not be called all the same
    connect(admin_client, slug)

    post_form(admin_client, f"/integrations/{slug}/disconnect")

    assert fake.counts["revoke"] == 0 and credential_count(db) == 0
    assert the_integration(db, slug).status == "not_configured"
    assert not [m for c, m in flashes(admin_client) if c == "warning"]


# -- Slack (OAuth v2, bot token) --------------------------------------------------------

def test_slack_asks_for_comma_separated_bot_scopes(db, serve, admin_client):
    serve("slack", dialect="slack")
    assert query(start(admin_client, "slack"))["scope"] == ",".join(registry.get_spec("slack").scopes)


def test_slack_connects_the_workspace_with_its_bot_token(db, serve, admin_client):
    fake = serve("slack", dialect="slack")
    assert connect(admin_client, "slack").status_code == 302

    assert fake.requests[-1]["client_auth"] == "client_secret_basic"  # as Slack prefers
    integration = the_integration(db, "slack")
    assert integration.status == "active" and integration.account_label == "Fake Workspace"
    assert integration.connection_facts["team_id"] == "T0FAKE001" and integration.connection_facts["bot_user_id"] == "U0FAKEBOT"
    assert "Connected as <strong>Fake Workspace</strong>" in admin_client.get("/integrations").get_data(as_text=True)
    payload = integration.credential.payload
    assert fake.grant_for(payload["access_token"]) is not None
    # Without token rotation Slack's bot tokens do not expire and come without a refresh token.
    assert payload["token_type"] == "bot" and payload["refresh_token"] is None and payload["expires_at"] is None
    assert integration.credential.expires_at is None


def test_slack_an_organisation_wide_install_is_named_by_its_enterprise(db, serve, admin_client):
    fake = serve("slack", dialect="slack")
    fake.team, fake.enterprise = None, {"id": "E0FAKE001", "name": "Fake Grid"}
    assert connect(admin_client, "slack").status_code == 302

    integration = the_integration(db, "slack")
    assert integration.account_label == "Fake Grid" and integration.connection_facts["enterprise_id"] == "E0FAKE001"
    assert "team_id" not in integration.settings


def test_slack_ok_false_is_an_error_and_nothing_is_stored(db, serve, admin_client):
    fake = serve("slack", dialect="slack")
    fake.fail_next_token_requests(1, status=400, error="invalid_code")  # Slack sends it with status 200

    response = connect(admin_client, "slack")

    assert response.status_code == 400  # the provider refused the code
    assert "invalid_code" in response.get_data(as_text=True)
    assert credential_count(db) == 0
    assert all(i.status != "active" for i in db.session.scalars(select(Integration)))


def test_the_fakes_slack_and_github_dialects_send_errors_with_status_200(serve):
    for dialect, expected in (("slack", {"ok": False, "error": "invalid_code"}),
                              ("github", {"error": "invalid_code"})):
        fake = serve(dialect, dialect=dialect, env=False)
        fake.fail_next_token_requests(1, status=400, error="invalid_code")
        answer = httpx2.post(f"{fake.base_url}/token", headers={"Accept": "application/json"},
                             data={"grant_type": "authorization_code", "code": "x"})
        assert (answer.status_code, answer.json()) == (200, expected)


def test_slack_disconnect_calls_auth_revoke_with_the_bot_token(db, serve, admin_client):
    fake = serve("slack", dialect="slack")
    connect(admin_client, "slack")
    access_token = the_integration(db, "slack").credential.payload["access_token"]

    post_form(admin_client, "/integrations/slack/disconnect")

    [revoke] = fake.api_requests
    # slack.json: GET /auth.revoke; the token goes in the Authorization header, not the query.
    assert (revoke.method, revoke.path, revoke.query) == ("GET", "/api/auth.revoke", [])
    assert revoke.headers["authorization"] == f"Bearer {access_token}"
    assert fake.grant_for(access_token).revoked and credential_count(db) == 0
    assert not [m for c, m in flashes(admin_client) if c == "warning"]


def test_slack_a_token_already_revoked_disconnects_without_warning(db, serve, admin_client):
    fake = serve("slack", dialect="slack")
    connect(admin_client, "slack")
    fake.revoke_all()  # the app was removed in Slack's admin pages

    post_form(admin_client, "/integrations/slack/disconnect")

    assert json.loads(fake.api_requests[-1].response_body) == {"ok": False, "error": "invalid_auth"}
    assert credential_count(db) == 0
    assert not [m for c, m in flashes(admin_client) if c == "warning"]


# -- GitHub (OAuth app) -------------------------------------------------------------------

def test_github_token_answers_are_asked_for_as_json(db, serve, admin_client):
    fake = serve("github", dialect="github")
    # Without asking, GitHub's token endpoint answers form-encoded:
    plain = httpx2.post(f"{fake.base_url}/token", data={"grant_type": "authorization_code", "code": "x",
                                                         "client_id": fake.client_id,
                                                         "client_secret": fake.client_secret})
    assert plain.headers["content-type"] == "application/x-www-form-urlencoded"

    assert connect(admin_client, "github").status_code == 302

    assert "application/json" in fake.token_accept_headers[-1]
    assert the_integration(db, "github").status == "active"


def test_github_a_refused_code_is_an_error_and_nothing_is_stored(db, serve, admin_client):
    fake = serve("github", dialect="github")
    fake.fail_next_token_requests(1, error="bad_verification_code")  # GitHub: status 200 with `error`

    response = connect(admin_client, "github")

    assert response.status_code == 400 and "bad_verification_code" in response.get_data(as_text=True)
    assert credential_count(db) == 0 and fake.api_requests == []


def test_github_names_the_account_by_its_login(db, serve, admin_client):
    fake = serve("github", dialect="github")
    connect(admin_client, "github")

    integration = the_integration(db, "github")
    assert integration.account_label == "fran-fake"
    [user_call] = fake.api_requests
    assert user_call.path == "/api/user"
    github = Contract.for_provider("github")
    github.check_request(as_published(user_call, github.base_path))
    github.check_response(as_published(user_call, github.base_path))


def test_github_tokens_are_never_refreshed(db, serve, admin_client):
    fake = serve("github", dialect="github")
    connect(admin_client, "github")
    integration = the_integration(db, "github")
    stored = integration.credential.payload
    assert stored["expires_at"] is None and stored["refresh_token"] is None

    assert token_service.valid_access_token(integration) == stored["access_token"]
    # A 401 on such a token means the grant is gone: reconnect, without asking the token endpoint.
    with pytest.raises(token_service.ReconnectRequired):
        token_service.refresh_after_unauthorized(integration, stored["access_token"])

    assert fake.counts["refresh_token"] == 0 and fake.counts["authorization_code"] == 1
    assert the_integration(db, "github").status == "needs_reconnect"


def test_github_disconnect_deletes_the_grant_with_basic_auth(db, serve, admin_client):
    fake = serve("github", dialect="github")
    connect(admin_client, "github")
    access_token = the_integration(db, "github").credential.payload["access_token"]
    fake.api_requests.clear()

    post_form(admin_client, "/integrations/github/disconnect")

    [delete] = fake.api_requests
    basic = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
    assert (delete.method, delete.path) == ("DELETE", f"/api/applications/{fake.client_id}/grant")
    assert delete.headers["authorization"] == f"Basic {basic}"
    assert delete.json() == {"access_token": access_token} and delete.status == 204
    assert fake.grant_for(access_token).revoked and credential_count(db) == 0
    github = Contract.for_provider("github")
    github.check_request(as_published(delete, github.base_path))


def test_github_a_failed_grant_deletion_is_reported_and_tokens_still_deleted(db, serve, admin_client):
    fake = serve("github", dialect="github")
    connect(admin_client, "github")
    fake.revoke_all()  # GitHub then answers 404, as it does for wrong app credentials

    post_form(admin_client, "/integrations/github/disconnect")

    warnings = [m for c, m in flashes(admin_client) if c == "warning"]
    assert len(warnings) == 1 and "found no grant" in warnings[0]
    assert credential_count(db) == 0



# -- GitLab (any host) ----------------------------------------------------------------------

def save_gitlab_app(admin_client, base_url: str, fake: FakeOAuthProvider) -> None:
    """The admin's setup page, as a person fills it in for a self-hosted GitLab."""
    response = post_form(admin_client, "/admin/integrations/gitlab", {
        "base_url": base_url, "client_id": fake.client_id, "client_secret": fake.client_secret,
    }, page="/admin/integrations/gitlab")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_gitlab_self_hosted_base_url_drives_authorize_token_and_api(db, serve, admin_client, monkeypatch):
    for name in ("AUTHORIZE_URL", "TOKEN_URL", "REVOKE_URL", "API_BASE", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"GITLAB_{name}", raising=False)
    fake = serve("gitlab", env=False)  # the fake's root stands in for https://gitlab.example.com
    save_gitlab_app(admin_client, fake.base_url, fake)

    authorize_url = start(admin_client, "gitlab")
    assert authorize_url.startswith(f"{fake.base_url}/oauth/authorize?")
    at_provider = httpx2.get(authorize_url, follow_redirects=False)
    response = admin_client.get("/integrations/gitlab/callback", query_string=query(at_provider.headers["Location"]))

    assert response.status_code == 302
    assert fake.counts["authorization_code"] == 1  # at {base_url}/oauth/token
    integration = the_integration(db, "gitlab")
    assert integration.status == "active" and integration.account_label == "fran-fake"
    [user_call] = fake.api_requests
    assert user_call.path == "/api/v4/user" and user_call.headers["authorization"].startswith("Bearer ")
    # The connection remembers its host, so its API calls go there too.
    assert integration.connection_facts["base_url"] == fake.base_url
    assert integration.connection_facts["gitlab_user_id"] == 4201
    assert registry.get_spec("gitlab").endpoints(integration.connection_facts).api_base == f"{fake.base_url}/api/v4"


def test_gitlab_disconnect_revokes_at_oauth_revoke_on_its_host(db, serve, admin_client, monkeypatch):
    for name in ("AUTHORIZE_URL", "TOKEN_URL", "REVOKE_URL", "API_BASE", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"GITLAB_{name}", raising=False)
    fake = serve("gitlab", env=False)
    save_gitlab_app(admin_client, fake.base_url, fake)
    at_provider = httpx2.get(start(admin_client, "gitlab"), follow_redirects=False)
    admin_client.get("/integrations/gitlab/callback", query_string=query(at_provider.headers["Location"]))
    refresh_token = the_integration(db, "gitlab").credential.payload["refresh_token"]

    post_form(admin_client, "/integrations/gitlab/disconnect")

    assert fake.counts["revoke"] == 1 and fake.grant_for(refresh_token).revoked
    assert fake.requests[-1] == {"endpoint": "revoke", "client_auth": "client_secret_post"}
    assert credential_count(db) == 0


def test_gitlab_com_is_the_default_host(db, admin, admin_client, monkeypatch):
    for name in ("AUTHORIZE_URL", "TOKEN_URL", "API_BASE"):
        monkeypatch.delenv(f"GITLAB_{name}", raising=False)
    IntegrationService().save_app_credentials(admin, "gitlab", {"client_id": "app", "client_secret": "secret"})
    assert start(admin_client, "gitlab").startswith("https://gitlab.com/oauth/authorize?")


# -- Asana --------------------------------------------------------------------------------

def test_asana_names_the_account_from_the_token_answers_data(db, serve, admin_client):
    fake = serve("asana", dialect="asana", rotate_refresh_tokens=False)
    assert connect(admin_client, "asana").status_code == 302

    integration = the_integration(db, "asana")
    assert integration.status == "active"
    assert integration.account_label == "Fran Fake (fran@fake.example) in Fake Workspace"
    assert integration.connection_facts["asana_user_gid"] == "1201"
    assert integration.connection_facts["workspace_gid"] == "1100"
    # One call, for the workspaces (one: connected at once); the token answer said who it was.
    assert [(r.method, r.path) for r in fake.api_requests] == [("GET", "/api/workspaces")]


def test_asana_disconnect_revokes_the_refresh_token(db, serve, admin_client):
    fake = serve("asana", dialect="asana", rotate_refresh_tokens=False)
    connect(admin_client, "asana")
    refresh_token = the_integration(db, "asana").credential.payload["refresh_token"]

    post_form(admin_client, "/integrations/asana/disconnect")

    # Asana's /-/oauth_revoke takes the refresh token and refuses access tokens.
    assert fake.revoked_token_kinds == ["refresh_token"] and fake.grant_for(refresh_token).revoked
    assert credential_count(db) == 0
    assert not [m for c, m in flashes(admin_client) if c == "warning"]


@pytest.mark.parametrize("slug, dialect", [("github", "github"), ("slack", "slack"), ("outlook_calendar", "standard")])
def test_no_token_or_app_secret_reaches_the_log(db, serve, admin_client, caplog, slug, dialect):
    caplog.set_level(logging.DEBUG)
    fake = serve(slug, dialect=dialect)
    connect(admin_client, slug)
    access_token = the_integration(db, slug).credential.payload["access_token"]
    post_form(admin_client, f"/integrations/{slug}/disconnect")

    for secret in (access_token, fake.client_secret):
        assert secret not in caplog.text
