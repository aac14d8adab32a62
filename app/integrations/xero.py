"""Xero (OAuth 2.0, rotating refresh tokens): clients -> contacts, invoices -> invoices.

A Xero grant reaches organisations ("tenants") through connections: after the
exchange `GET /Connections` lists them, every Accounting API call names one in
the `xero-tenant-id` header, and disconnecting deletes the connection before
the refresh token is revoked.
"""
from __future__ import annotations

from app.integrations import oauth
from app.integrations.base import Connector
from app.integrations.capabilities import ReleasesUnchosenAccounts
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec
from app.integrations.http import NotFoundError, PermanentError, ProviderError

SPEC = ProviderSpec(
    slug="xero",
    name="Xero",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://login.xero.com/identity/connect/authorize",
    token_url="https://identity.xero.com/connect/token",
    revoke_url="https://identity.xero.com/connect/revocation",
    api_base="https://api.xero.com",
    # Apps created at Xero since 2 March 2026 only get the granular scopes (the broad
    # accounting.transactions is refused for them): contacts and invoices are written,
    # payments read (is an invoice paid?), organisation/currencies/tax rates/accounts read.
    scopes=("openid", "profile", "email", "offline_access",
            "accounting.contacts", "accounting.invoices", "accounting.payments.read", "accounting.settings.read"),
    console_url="https://developer.xero.com/app/manage",
    register_steps=(
        "Create a Web app in the Xero developer portal (My Apps > New app).",
        "Set the redirect URI to the one below.",
        "Generate a client secret and copy it with the client ID into this form.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    rate_limit=RateLimit(55, 60.0, 5),  # 60 per minute per tenant, 5 concurrent
    features={
        "accounting": "Clients become Xero contacts and invoices become Xero invoices.",
    },
    # Xero: HTTP Basic at the token endpoint; rotating refresh tokens that lapse after 60 days unused.
    oauth=OAuthProfile(token_auth_method="client_secret_basic", refresh_token_idle_days=60),
)


CONNECTIONS_PATH = "Connections"  # Xero's identity API, on the API base (xero-identity.json)
TENANT_HEADER = "xero-tenant-id"
# A stored access token older than this is refreshed before the connections are deleted.
REVOKE_TOKEN_MARGIN_SECONDS = 60


def tenant_headers(connection: dict) -> dict[str, str]:
    """The header every Accounting API call needs to name the connected organisation."""
    tenant_id = (connection or {}).get("tenant_id")
    if not tenant_id:
        raise PermanentError("No Xero organisation is chosen for this connection yet; finish connecting Xero first.")
    return {TENANT_HEADER: tenant_id}


def _tenant_option(connection: dict) -> oauth.AccountOption | None:
    # PRACTICE tenants (Xero HQ) have no Accounting API.
    if not connection.get("tenantId") or connection.get("tenantType", "ORGANISATION") != "ORGANISATION":
        return None
    name = connection.get("tenantName") or connection["tenantId"]
    settings = {"tenant_id": connection["tenantId"], "tenant_name": name, "connection_id": connection.get("id")}
    return oauth.AccountOption(key=connection["tenantId"], account=oauth.ConnectedAccount(label=name, settings=settings),
                               detail="Xero organisation")


class XeroConnector(Connector, ReleasesUnchosenAccounts):
    spec = SPEC

    @classmethod
    def api_headers(cls, connection: dict) -> dict[str, str]:
        return tenant_headers(connection)

    @classmethod
    def oauth_connected_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                                callback_params: dict) -> oauth.ConnectedAccount:
        """One organisation: connect to it. Several: the admin picks one. None: refuse."""
        return oauth.account_from_list(
            provider, token, CONNECTIONS_PATH, _tenant_option, noun="organisation",
            none_message="No Xero organisation was connected: connect again and tick an organisation on "
                         "Xero's consent screen.")

    def release_unchosen(self, unchosen: list[dict]) -> None:
        """Organisations ticked on Xero's consent screen but not picked here stop listing TimeHub."""
        for settings in unchosen:
            if settings.get("connection_id"):
                try:
                    self.client.request("DELETE", f"{CONNECTIONS_PATH}/{settings['connection_id']}")
                except NotFoundError:
                    pass  # removed at Xero meanwhile

    @classmethod
    def oauth_revoke(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet) -> bool:
        """Delete the grant's connections (the organisations stop listing TimeHub), then
        revoke the refresh token. The hook does not see the integration's settings, so
        it removes every connection this grant can see: all of them are TimeHub's."""
        try:
            if token.refresh_token and token.expires_within(REVOKE_TOKEN_MARGIN_SECONDS):
                # Credentials are deleted right after: the rotated token is revoked below, not kept.
                token = oauth.refresh(provider, token.refresh_token)
        except oauth.InvalidGrant:
            return True  # the grant is already dead, and its connections with it
        except oauth.TokenEndpointError as exc:
            raise oauth.RevocationFailed(f"{exc.message}; Xero still lists the connection") from None
        problem = None
        try:
            with provider.api_client(token) as client:
                for connection in client.get_json(CONNECTIONS_PATH):
                    try:
                        client.request("DELETE", f"{CONNECTIONS_PATH}/{connection['id']}")
                    except NotFoundError:
                        pass  # removed at Xero meanwhile
        except ProviderError as exc:
            problem = f"Xero did not remove the connection ({exc.message})"
        revoked = oauth.revoke_rfc7009(provider, token)  # always: it ends access even if the DELETE failed
        if problem:
            raise oauth.RevocationFailed(f"{problem}; the refresh token was revoked")
        return revoked
