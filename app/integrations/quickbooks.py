"""QuickBooks Online (Intuit OAuth 2.0, rotating refresh tokens): accounting.

Intuit names the company a grant reaches in the callback itself (`realmId`
next to `code`); every API call goes to `{api base}/v3/company/{realmId}/...`
on the sandbox or production host, as the admin's `environment` setting says.
"""
from __future__ import annotations

import httpx2

from app import tuning
from app.integrations import oauth
from app.integrations.base import Connector
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec, SetupField
from app.integrations.http import PermanentError

SPEC = ProviderSpec(
    slug="quickbooks",
    name="QuickBooks Online",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://appcenter.intuit.com/connect/oauth2",
    token_url="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    revoke_url="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
    api_base="https://{environment}.api.intuit.com",
    scopes=("com.intuit.quickbooks.accounting",),
    console_url="https://developer.intuit.com/app/developer/dashboard",
    register_steps=(
        "Create an app on the Intuit developer portal with the Accounting scope.",
        "Under Keys & credentials add the redirect URI below (separately for development and production keys).",
        "Copy the client ID and client secret of the environment you use.",
    ),
    setup_fields=(
        SetupField("environment", "Environment", required=False, default="quickbooks",
                   choices=("quickbooks", "sandbox-quickbooks"),
                   help="'sandbox-quickbooks' for development keys, 'quickbooks' for production."),
    ) + OAUTH_APP_FIELDS,
    rate_limit=RateLimit(450, 60.0, 10),  # 500 per minute per realm, 10 concurrent
    features={
        "accounting": "Clients become customers and invoices become invoices.",
        "push": "Billable time becomes TimeActivity.",
    },
    # Intuit authenticates the token endpoint with HTTP Basic; refresh tokens rotate and lapse
    # after 100 days unused.
    oauth=OAuthProfile(token_auth_method="client_secret_basic", refresh_token_idle_days=100),
)


DEFAULT_ENVIRONMENT = "quickbooks"


def company_api_base(integration_settings: dict, api_base: str | None = None) -> str:
    """Where QuickBooks API calls for the connected company go."""
    settings = integration_settings or {}
    realm_id = settings.get("realm_id")
    if not realm_id:
        raise PermanentError("No QuickBooks company is connected yet; connect QuickBooks first.")
    base = api_base or SPEC.endpoints(settings).api_base
    return f"{base.rstrip('/')}/v3/company/{realm_id}"


def _company_name(provider: oauth.OAuthProvider, token: oauth.TokenSet, realm_id: str) -> str | None:
    with provider.api_client(token) as client:
        info = client.get_json(f"v3/company/{realm_id}/companyinfo/{realm_id}")
    company = info.get("CompanyInfo") if isinstance(info, dict) else None
    if not isinstance(company, dict):
        return None
    return company.get("CompanyName") or company.get("LegalName")


class QuickBooksConnector(Connector):
    spec = SPEC

    @classmethod
    def api_base_for(cls, api_base: str, connection: dict) -> str:
        return company_api_base(connection, api_base)

    @classmethod
    def oauth_connected_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                                callback_params: dict) -> oauth.ConnectedAccount:
        """The company is the callback's `realmId`; its name labels the connection."""
        realm_id = (callback_params.get("realmId") or "").strip()
        if not realm_id:
            raise oauth.OAuthFlowError(
                "QuickBooks did not say which company was connected (its answer had no realmId). "
                "Connect again and pick a company on Intuit's consent screen.")
        if not realm_id.isdigit():  # Intuit's company ids are numbers; it also goes into URL paths
            raise oauth.OAuthFlowError("QuickBooks sent a company id TimeHub does not understand.")
        name = _company_name(provider, token, realm_id) or f"Company {realm_id}"
        environment = provider.app_settings.get("environment") or DEFAULT_ENVIRONMENT
        # `environment` travels with the integration so its API calls reach the same host.
        return oauth.ConnectedAccount(label=name, settings={"realm_id": realm_id, "company_name": name,
                                                            "environment": environment})

    @classmethod
    def oauth_revoke(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet) -> bool:
        """Intuit's revocation is not RFC 7009: a JSON body `{"token": ...}` with the app's
        credentials in HTTP Basic. Revoking the refresh token ends the whole grant."""
        url = provider.endpoints.revoke_url
        if not url:
            return False
        try:
            with httpx2.Client(timeout=tuning.TOKEN_ENDPOINT_TIMEOUT, transport=provider.transport) as http:
                response = http.post(url, json={"token": token.refresh_token or token.access_token},
                                     auth=(provider.client_id, provider.client_secret),
                                     headers={"Accept": "application/json", "User-Agent": "TimeHub"})
        except httpx2.TimeoutException:
            raise oauth.RevocationFailed("QuickBooks did not answer the revocation request in time") from None
        except httpx2.TransportError as exc:
            raise oauth.RevocationFailed(f"could not reach QuickBooks to revoke access ({type(exc).__name__})") from None
        if not response.is_success:
            raise oauth.RevocationFailed(f"QuickBooks answered {response.status_code} to the revocation request")
        return True
