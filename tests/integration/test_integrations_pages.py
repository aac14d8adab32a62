"""The integrations page, the admin setup pages and their rules."""
from sqlalchemy import select

from app.integrations import registry
from app.models import Integration, ProviderApp, SyncRun
from tests.conftest import post_form

CLIENT_SECRET = "s3cr3t-client-value-XYZ"


def test_one_page_shows_team_and_personal_integrations_apart(admin_client):
    html = admin_client.get("/integrations").get_data(as_text=True)
    team, mine = html.split("<h2>Team integrations</h2>")[1].split("<h2>My integrations</h2>")
    for spec in registry.all_specs():
        marker = f'data-provider="{spec.slug}"'
        assert marker in (team if spec.is_global else mine), spec.slug
        assert marker not in (mine if spec.is_global else team), spec.slug


def test_twelve_providers_eleven_global_one_per_user_only_trello_uses_a_key():
    specs = registry.all_specs()
    assert len(specs) == 12
    assert [s.slug for s in specs if not s.is_global] == ["google_calendar"]
    assert [s.slug for s in specs if s.auth_kind == "api_key"] == ["trello"]


def test_legacy_calendar_integrations_address_redirects_permanently(user_client):
    response = user_client.get("/calendar/integrations")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/integrations")


def test_setup_page_is_admin_only(user_client, admin):
    assert user_client.get("/admin/integrations/jira").status_code == 403
    assert post_form(user_client, "/admin/integrations/jira", {"client_id": "x", "client_secret": "y"}).status_code == 403


def test_unknown_provider_is_404(admin_client):
    assert admin_client.get("/admin/integrations/myspace").status_code == 404
    assert post_form(admin_client, "/integrations/myspace/disconnect").status_code == 404


def test_anonymous_visitors_are_sent_to_login(client, admin):
    response = client.get("/admin/integrations/jira")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_setup_page_shows_redirect_uri_scopes_and_console(admin_client, app):
    html = admin_client.get("/admin/integrations/jira").get_data(as_text=True)
    assert 'value="http://localhost/integrations/jira/callback"' in html
    for scope in registry.get_spec("jira").scopes:
        assert f"<code>{scope}</code>" in html
    assert "developer.atlassian.com/console" in html


def test_redirect_uri_uses_external_url_behind_a_proxy(admin_client, app):
    app.config["TIMEHUB_EXTERNAL_URL"] = "https://time.example.org"
    html = admin_client.get("/admin/integrations/github").get_data(as_text=True)
    assert 'value="https://time.example.org/integrations/github/callback"' in html


def test_saving_app_credentials_stores_secret_encrypted_and_never_renders_it(admin_client, db):
    response = post_form(admin_client, "/admin/integrations/jira",
                         {"client_id": "my-client-id", "client_secret": CLIENT_SECRET})
    assert response.status_code == 302
    app_row = db.session.scalars(select(ProviderApp).where(ProviderApp.provider == "jira")).one()
    assert app_row.client_id == "my-client-id"
    assert CLIENT_SECRET not in app_row.ciphertext
    assert app_row.payload["client_secret"] == CLIENT_SECRET
    html = admin_client.get("/admin/integrations/jira").get_data(as_text=True)
    assert CLIENT_SECRET not in html
    assert "stored; leave empty to keep" in html
    # The global integration exists now, waiting to be connected.
    integration = db.session.scalars(select(Integration).where(Integration.provider == "jira")).one()
    assert integration.is_global and integration.user_id is None and integration.status == "not_configured"


def test_empty_secret_keeps_the_stored_one(admin_client, db):
    post_form(admin_client, "/admin/integrations/github", {"client_id": "id-1", "client_secret": CLIENT_SECRET})
    response = post_form(admin_client, "/admin/integrations/github", {"client_id": "id-2", "client_secret": ""})
    assert response.status_code == 302
    app_row = db.session.scalars(select(ProviderApp).where(ProviderApp.provider == "github")).one()
    db.session.refresh(app_row)
    assert app_row.client_id == "id-2"
    assert app_row.payload["client_secret"] == CLIENT_SECRET
    assert len(app_row.payload["webhook_secret"]) == 64  # generated once, kept


def test_missing_required_fields_rerender_with_errors_and_save_nothing(admin_client, db):
    response = post_form(admin_client, "/admin/integrations/slack", {"client_id": "", "client_secret": "x"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required." in html
    assert db.session.scalars(select(ProviderApp)).first() is None


def test_invalid_choice_is_refused(admin_client, db):
    response = post_form(admin_client, "/admin/integrations/quickbooks",
                         {"environment": "moon", "client_id": "a", "client_secret": "b"})
    assert response.status_code == 422
    assert db.session.scalars(select(ProviderApp)).first() is None


def test_post_without_csrf_token_is_refused_and_changes_nothing(admin_client, db):
    response = admin_client.post("/admin/integrations/jira", data={"client_id": "x", "client_secret": "y"})
    assert response.status_code == 400
    assert db.session.scalars(select(ProviderApp)).first() is None


def test_gitlab_self_hosted_base_url_drives_every_endpoint(admin_client, db):
    post_form(admin_client, "/admin/integrations/gitlab",
              {"base_url": "https://git.example.com/", "client_id": "a", "client_secret": "b"})
    html = admin_client.get("/admin/integrations/gitlab").get_data(as_text=True)
    assert "API https://git.example.com/api/v4" in html
    assert "authorize https://git.example.com/oauth/authorize" in html


def test_environment_overrides_win_over_defaults(admin_client, monkeypatch):
    monkeypatch.setenv("JIRA_API_BASE", "http://127.0.0.1:9/jira")
    html = admin_client.get("/admin/integrations/jira").get_data(as_text=True)
    assert "API http://127.0.0.1:9/jira" in html


def test_app_credentials_from_environment_count_as_configured(user_client, monkeypatch):
    monkeypatch.setenv("GOOGLE_CALENDAR_CLIENT_ID", "env-id")
    monkeypatch.setenv("GOOGLE_CALENDAR_CLIENT_SECRET", "env-secret")
    html = user_client.get("/integrations").get_data(as_text=True)
    card = html.split('data-provider="google_calendar"')[1].split("</article>")[0]
    assert "must register" not in card
    assert "env-secret" not in html


def test_users_see_global_integrations_read_only(user_client):
    html = user_client.get("/integrations").get_data(as_text=True)
    assert "/admin/integrations/" not in html
    assert "an administrator can connect it" in html


def test_a_user_cannot_disconnect_a_global_integration(user_client):
    assert post_form(user_client, "/integrations/trello/disconnect").status_code == 403


def _card(html: str, slug: str) -> str:
    return html.split(f'data-provider="{slug}"')[1].split("</article>")[0]


def test_a_card_is_ready_to_connect_once_the_app_is_saved(admin_client, db):
    """Issue 15: after saving app credentials the card said "not configured"."""
    assert "not configured" in _card(admin_client.get("/integrations").get_data(as_text=True), "jira")
    post_form(admin_client, "/admin/integrations/jira", {"client_id": "my-client-id", "client_secret": CLIENT_SECRET})
    card = _card(admin_client.get("/integrations").get_data(as_text=True), "jira")
    assert "ready to connect" in card and "not configured" not in card
    assert "ready to connect" in admin_client.get("/admin/integrations/jira").get_data(as_text=True)


def test_sync_history_shows_only_where_something_was_synced(admin_client, db):
    post_form(admin_client, "/admin/integrations/jira", {"client_id": "my-client-id", "client_secret": CLIENT_SECRET})
    assert "Sync history" not in _card(admin_client.get("/integrations").get_data(as_text=True), "jira")
    integration = db.session.scalars(select(Integration).where(Integration.provider == "jira")).one()
    db.session.add(SyncRun(integration_id=integration.id, status="succeeded", trigger="manual"))
    db.session.commit()
    card = _card(admin_client.get("/integrations").get_data(as_text=True), "jira")
    assert f'href="/integrations/{integration.id}">Sync history' in card


def test_users_see_a_registered_per_user_app_as_ready_to_connect(user_client, monkeypatch):
    monkeypatch.setenv("GOOGLE_CALENDAR_CLIENT_ID", "env-id")
    monkeypatch.setenv("GOOGLE_CALENDAR_CLIENT_SECRET", "env-secret")
    card = _card(user_client.get("/integrations").get_data(as_text=True), "google_calendar")
    assert "ready to connect" in card and "Sync history" not in card
