"""Xero (OAuth 2.0, rotating refresh tokens): clients -> contacts, invoices -> invoices."""
from app.integrations.base import ACCOUNTING, OAUTH_APP_FIELDS, Connector, OAuthProfile, ProviderSpec

SPEC = ProviderSpec(
    slug="xero",
    name="Xero",
    scope="global",
    auth_kind="oauth2",
    summary="Clients become Xero contacts and invoices become Xero invoices.",
    authorize_url="https://login.xero.com/identity/connect/authorize",
    token_url="https://identity.xero.com/connect/token",
    revoke_url="https://identity.xero.com/connect/revocation",
    api_base="https://api.xero.com",
    scopes=("openid", "profile", "email", "offline_access",
            "accounting.contacts", "accounting.invoices", "accounting.settings.read"),
    console_url="https://developer.xero.com/app/manage",
    register_steps=(
        "Create a Web app in the Xero developer portal (My Apps > New app).",
        "Set the redirect URI to the one below.",
        "Generate a client secret and copy it with the client ID into this form.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    capabilities=frozenset({ACCOUNTING}),
    # Xero: HTTP Basic at the token endpoint; rotating refresh tokens that lapse after 60 days unused.
    oauth=OAuthProfile(token_auth_method="client_secret_basic", refresh_token_idle_days=60),
)


class XeroConnector(Connector):
    spec = SPEC
