"""Jira (Atlassian 3LO), Xero and QuickBooks connected through the real routes,
over real HTTP, to fakes that behave as their documentation says: what each
learns after the code exchange (site, organisation, company), the chooser when
a grant reaches several, their revocation, and their rotating refresh tokens."""
from __future__ import annotations

import pytest

from app.integrations import jira, quickbooks, registry, xero
from app.services import token_service
from app.services.integration_service import IntegrationService
from tests.conftest import login, post_form
from tests.fakes.atlassian import FakeAtlassian, site
from tests.fakes.quickbooks import REVOKE_PATH, FakeQuickBooks
from tests.fakes.xero import FakeXero, connection
from tests.oauth_steps import connect, flashes, query, start

CALLBACK = "http://localhost/integrations/{slug}/callback"
FAKES = {"jira": FakeAtlassian, "xero": FakeXero, "quickbooks": FakeQuickBooks}


def _serve(slug: str, monkeypatch):
    fake = FAKES[slug](redirect_uris=(CALLBACK.format(slug=slug),))
    for name, value in fake.env(slug).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(f"{slug.upper()}_CLIENT_ID", fake.oauth.client_id)
    monkeypatch.setenv(f"{slug.upper()}_CLIENT_SECRET", fake.oauth.client_secret)
    return fake


@pytest.fixture
def atlassian(app, monkeypatch):
    with _serve("jira", monkeypatch) as fake:
        yield fake


@pytest.fixture
def xero_fake(app, monkeypatch):
    with _serve("xero", monkeypatch) as fake:
        yield fake


@pytest.fixture
def intuit(app, monkeypatch):
    with _serve("quickbooks", monkeypatch) as fake:
        yield fake


def integration(db, slug: str):
    db.session.expire_all()
    return IntegrationService().integration_for(None, slug)


# -- Jira (Atlassian 3LO) --------------------------------------------------------------------

def test_the_jira_authorize_url_asks_for_the_api_audience_consent_and_offline_access(db, atlassian, admin_client):
    params = query(start(admin_client, "jira"))
    assert params["audience"] == "api.atlassian.com"
    assert params["prompt"] == "consent"
    assert "offline_access" in params["scope"].split(" ")
    assert params["response_type"] == "code" and params["redirect_uri"] == CALLBACK.format(slug="jira")


def test_one_jira_site_is_stored_with_its_cloud_id_and_names_the_connection(db, atlassian, admin_client):
    [acme] = atlassian.sites
    response = connect(admin_client, "jira")

    jira_integration = integration(db, "jira")
    # Nothing is imported before projects are picked: the admin is taken to pick them.
    assert response.status_code == 302
    assert response.headers["Location"] == f"/integrations/{jira_integration.id}/settings"
    assert ("success", "Jira is connected as acme.") in flashes(admin_client)
    assert ("info", "Pick the projects to sync: nothing is imported before.") in flashes(admin_client)
    assert jira_integration.status == "active" and jira_integration.account_label == "acme"
    assert jira_integration.connection_facts["cloud_id"] == acme["id"]
    assert jira_integration.connection_facts["site_url"] == "https://acme.atlassian.net"
    # Asked with the new access token, which is the one stored.
    [lookup] = atlassian.api.requests_to("/oauth/token/accessible-resources", "GET")
    assert lookup.headers["authorization"] == f"Bearer {jira_integration.credential.payload['access_token']}"
    # Later Jira calls go through the gateway with the site's cloud id.
    assert jira.site_api_base(jira_integration.connection_facts) == f"{atlassian.api.base_url}/ex/jira/{acme['id']}"
    assert "acme" in admin_client.get("/integrations").get_data(as_text=True)


def test_sites_of_other_atlassian_products_are_not_offered(db, atlassian, admin_client):
    atlassian.sites = [site("wiki", scopes=["read:confluence-content.all"]), site("tracker")]
    connect(admin_client, "jira")
    assert integration(db, "jira").account_label == "tracker"


def test_several_jira_sites_wait_for_the_admin_to_choose(db, atlassian, admin_client):
    atlassian.sites = [site("acme"), site("globex")]
    globex = atlassian.sites[1]

    response = connect(admin_client, "jira")

    assert response.status_code == 302 and response.headers["Location"] == "/integrations/jira/choose"
    pending = integration(db, "jira")
    assert pending.status != "active" and pending.account_label is None and "cloud_id" not in pending.settings
    assert pending.credential is not None  # the grant is kept (encrypted) until the choice
    page = admin_client.get("/integrations/jira/choose")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Choose the Jira site" in html
    assert "https://acme.atlassian.net" in html and "https://globex.atlassian.net" in html
    assert pending.credential.payload["access_token"] not in html

    # No CSRF token: refused, nothing changes.
    assert admin_client.post("/integrations/jira/choose", data={"account": globex["id"]}).status_code == 400
    assert integration(db, "jira").status != "active"

    response = post_form(admin_client, "/integrations/jira/choose", {"account": globex["id"]},
                         page="/integrations/jira/choose")
    chosen = integration(db, "jira")
    assert response.status_code == 302 and response.headers["Location"] == f"/integrations/{chosen.id}/settings"
    assert chosen.status == "active" and chosen.account_label == "globex"
    assert chosen.connection_facts["cloud_id"] == globex["id"] and "pending_choice" not in chosen.flow_state
    assert chosen.last_error is None
    # Chosen once: the chooser has nothing left to offer.
    assert admin_client.get("/integrations/jira/choose").headers["Location"] == "/integrations"


def test_a_choice_that_was_not_offered_is_refused(db, atlassian, admin_client):
    atlassian.sites = [site("acme"), site("globex")]
    connect(admin_client, "jira")
    response = post_form(admin_client, "/integrations/jira/choose", {"account": "someone-elses-cloud-id"},
                         page="/integrations/jira/choose")
    assert response.status_code == 400 and "Not a valid choice" in response.get_data(as_text=True)
    assert integration(db, "jira").status != "active"


def test_only_the_admin_who_connected_may_choose(app, db, atlassian, admin_client, make_user, user):
    atlassian.sites = [site("acme"), site("globex")]
    connect(admin_client, "jira")
    other_admin = login(app.test_client(), make_user("second-admin@example.com", admin=True))
    plain_user = login(app.test_client(), user)

    assert other_admin.get("/integrations/jira/choose").status_code == 403
    response = post_form(other_admin, "/integrations/jira/choose", {"account": atlassian.sites[0]["id"]},
                         page="/integrations")
    assert response.status_code == 403
    assert plain_user.get("/integrations/jira/choose").status_code == 403
    assert integration(db, "jira").status != "active"


def test_a_reconnect_that_reaches_one_site_retires_the_pending_choice(db, atlassian, admin_client):
    atlassian.sites = [site("acme"), site("globex")]
    connect(admin_client, "jira")
    atlassian.sites = atlassian.sites[:1]
    connect(admin_client, "jira")

    assert integration(db, "jira").status == "active" and integration(db, "jira").account_label == "acme"
    assert admin_client.get("/integrations/jira/choose").headers["Location"] == "/integrations"


def test_no_jira_site_is_a_clear_error_and_stores_nothing(db, atlassian, admin_client):
    atlassian.sites = []
    response = connect(admin_client, "jira")
    assert response.status_code == 400
    assert "no Jira site" in response.get_data(as_text=True)
    found = integration(db, "jira")
    assert found is None or (found.credential is None and found.status != "active")


# -- Xero ------------------------------------------------------------------------------------

def test_xero_asks_for_the_granular_scopes_new_apps_must_use(db, xero_fake, admin_client):
    scopes = query(start(admin_client, "xero"))["scope"].split(" ")
    # Apps created since March 2026 cannot ask for the broad scopes.
    assert not {"accounting.transactions", "accounting.transactions.read", "accounting.reports.read"} & set(scopes)
    assert {"offline_access", "accounting.contacts", "accounting.invoices", "accounting.settings.read"} <= set(scopes)


def test_an_older_xero_app_can_keep_the_broad_scopes(db, xero_fake, admin, admin_client):
    IntegrationService().save_app_credentials(admin, "xero", {
        "client_id": xero_fake.oauth.client_id, "client_secret": xero_fake.oauth.client_secret, "scope_set": "broad"})
    scopes = query(start(admin_client, "xero"))["scope"].split(" ")
    assert "accounting.transactions" in scopes and "accounting.invoices" not in scopes


def test_one_xero_organisation_is_stored_with_its_tenant_id(db, xero_fake, admin_client):
    [demo] = xero_fake.connections
    assert connect(admin_client, "xero").headers["Location"] == "/integrations"

    xero_integration = integration(db, "xero")
    assert xero_integration.status == "active" and xero_integration.account_label == "Demo Company (NZ)"
    assert xero_integration.connection_facts["tenant_id"] == demo["tenantId"]
    assert xero.tenant_headers(xero_integration.connection_facts) == {"xero-tenant-id": demo["tenantId"]}
    [lookup] = xero_fake.api.requests_to("/Connections", "GET")
    assert lookup.headers["authorization"] == f"Bearer {xero_integration.credential.payload['access_token']}"
    # The token endpoint was authenticated the way Xero requires.
    assert {r["client_auth"] for r in xero_fake.oauth.requests} == {"client_secret_basic"}


def test_several_xero_organisations_wait_for_the_admin_to_choose(db, xero_fake, admin_client):
    xero_fake.connections = [connection("Demo Company (NZ)"), connection("Acme Ltd"),
                             connection("Our Practice", tenant_type="PRACTICE")]
    acme = xero_fake.connections[1]
    assert connect(admin_client, "xero").headers["Location"] == "/integrations/xero/choose"
    html = admin_client.get("/integrations/xero/choose").get_data(as_text=True)
    assert "Choose the Xero organisation" in html and "Acme Ltd" in html
    assert "Our Practice" not in html  # practices have no Accounting API
    assert integration(db, "xero").status != "active"

    post_form(admin_client, "/integrations/xero/choose", {"account": acme["tenantId"]},
              page="/integrations/xero/choose")
    chosen = integration(db, "xero")
    assert chosen.status == "active" and chosen.connection_facts["tenant_id"] == acme["tenantId"]
    assert chosen.account_label == "Acme Ltd"
    # The organisation ticked at Xero but not picked here no longer lists TimeHub.
    assert [c["tenantName"] for c in xero_fake.connections] == ["Acme Ltd", "Our Practice"]


def test_no_xero_organisation_is_a_clear_error_and_stores_nothing(db, xero_fake, admin_client):
    xero_fake.connections = []
    response = connect(admin_client, "xero")
    assert response.status_code == 400 and "No Xero organisation was connected" in response.get_data(as_text=True)
    found = integration(db, "xero")
    assert found is None or found.credential is None


@pytest.mark.parametrize("access_token_expired", [False, True])
def test_disconnecting_xero_deletes_the_connection_then_revokes_the_refresh_token(
        db, xero_fake, admin_client, access_token_expired):
    [demo] = xero_fake.connections
    connect(admin_client, "xero")
    if access_token_expired:  # the usual case: Xero's access tokens live 30 minutes
        xero_fake.oauth.expire_access_tokens()
        xero_integration = integration(db, "xero")
        xero_integration.credential.payload = {**xero_integration.credential.payload, "expires_at": 0}
        db.session.commit()

    response = post_form(admin_client, "/integrations/xero/disconnect")

    assert response.status_code == 302
    assert not any(category == "warning" for category, _ in flashes(admin_client))
    assert [r.path for r in xero_fake.api.requests_to(f"/Connections/{demo['id']}", "DELETE")] == [
        f"/Connections/{demo['id']}"]
    assert xero_fake.connections == []
    assert xero_fake.oauth.counts["revoke"] == 1 and xero_fake.oauth.active_grants() == []
    assert integration(db, "xero").credential is None


def test_a_failed_xero_connection_delete_is_reported_and_the_token_still_revoked(db, xero_fake, admin_client):
    connect(admin_client, "xero")
    xero_fake.refuse_deletes = True

    post_form(admin_client, "/integrations/xero/disconnect")

    warnings = [message for category, message in flashes(admin_client) if category == "warning"]
    assert warnings and "Xero did not remove the connection" in warnings[0]
    assert xero_fake.oauth.active_grants() == [] and integration(db, "xero").credential is None


# -- QuickBooks ---------------------------------------------------------------------------------

def test_quickbooks_stores_the_callbacks_realm_id_and_names_the_company(db, intuit, admin_client):
    assert connect(admin_client, "quickbooks").headers["Location"] == "/integrations"

    qbo = integration(db, "quickbooks")
    assert qbo.status == "active" and qbo.account_label == "Craig's Design and Landscaping Services"
    assert qbo.connection_facts["realm_id"] == intuit.realm_id and qbo.connection_facts["environment"] == "quickbooks"
    [lookup] = intuit.api.requests_to(f"/v3/company/{intuit.realm_id}/companyinfo/{intuit.realm_id}", "GET")
    assert lookup.headers["authorization"] == f"Bearer {qbo.credential.payload['access_token']}"
    assert lookup.headers["accept"] == "application/json"
    assert quickbooks.company_api_base(qbo.connection_facts) == f"{intuit.api.base_url}/v3/company/{intuit.realm_id}"


def test_a_quickbooks_callback_without_realm_id_is_a_clear_error(db, intuit, admin_client):
    intuit.oauth.send_realm_id = False
    response = connect(admin_client, "quickbooks")
    assert response.status_code == 400 and "no realmId" in response.get_data(as_text=True)
    found = integration(db, "quickbooks")
    assert found is None or found.credential is None
    # The grant the exchange produced is given back, not left alive at Intuit; nothing else is asked.
    assert [r.path for r in intuit.api.requests] == ["/v2/oauth2/tokens/revoke"]
    assert intuit.oauth.active_grants() == []


def test_the_quickbooks_api_host_follows_the_environment_setting(db, intuit, admin, admin_client, monkeypatch):
    spec = registry.get_spec("quickbooks")
    monkeypatch.delenv("QUICKBOOKS_API_BASE")
    assert spec.endpoints({"environment": "sandbox-quickbooks"}).api_base == "https://sandbox-quickbooks.api.intuit.com"
    assert spec.endpoints({"environment": "quickbooks"}).api_base == "https://quickbooks.api.intuit.com"
    assert spec.endpoints({}).api_base == "https://quickbooks.api.intuit.com"
    # The admin's choice travels with the connection, so its later API calls reach the same host.
    monkeypatch.setenv("QUICKBOOKS_API_BASE", intuit.api.base_url)
    IntegrationService().save_app_credentials(admin, "quickbooks", {
        "environment": "sandbox-quickbooks", "client_id": intuit.oauth.client_id,
        "client_secret": intuit.oauth.client_secret})
    connect(admin_client, "quickbooks")
    settings = integration(db, "quickbooks").connection_facts
    assert settings["environment"] == "sandbox-quickbooks"
    monkeypatch.delenv("QUICKBOOKS_API_BASE")
    assert quickbooks.company_api_base(settings) == (
        f"https://sandbox-quickbooks.api.intuit.com/v3/company/{intuit.realm_id}")


def test_disconnecting_quickbooks_revokes_as_intuit_documents(db, intuit, admin_client):
    connect(admin_client, "quickbooks")
    refresh_token = integration(db, "quickbooks").credential.payload["refresh_token"]

    post_form(admin_client, "/integrations/quickbooks/disconnect")

    assert not any(category == "warning" for category, _ in flashes(admin_client))
    [revocation] = intuit.api.requests_to(REVOKE_PATH, "POST")
    assert revocation.status == 200
    assert revocation.json() == {"token": refresh_token}
    assert revocation.headers["content-type"] == "application/json"
    assert revocation.headers["authorization"].startswith("Basic ")
    assert intuit.oauth.active_grants() == [] and integration(db, "quickbooks").credential is None


# -- rotating refresh tokens, through the token service --------------------------------------------

@pytest.mark.parametrize("slug", ["jira", "xero", "quickbooks"])
def test_a_rotated_refresh_token_is_spent_once_and_the_new_one_kept(db, admin_client, monkeypatch, slug):
    with _serve(slug, monkeypatch) as fake:
        connect(admin_client, slug)
        first = integration(db, slug).credential.payload["refresh_token"]

        token_service.force_refresh(integration(db, slug))
        second = integration(db, slug).credential.payload["refresh_token"]
        token_service.force_refresh(integration(db, slug))  # works only with the kept, rotated token
        third = integration(db, slug).credential.payload["refresh_token"]

        assert len({first, second, third}) == 3
        [grant] = fake.oauth.active_grants()
        assert grant.refresh_token == third and {first, second} <= grant.old_refresh_tokens
        assert fake.oauth.counts["refresh_token"] == 2  # each refresh token presented exactly once
        assert integration(db, slug).status == "active"
