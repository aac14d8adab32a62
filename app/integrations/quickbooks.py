"""QuickBooks Online (Intuit OAuth 2.0, rotating refresh tokens): accounting."""
from app.integrations.base import (
    ACCOUNTING, OAUTH_APP_FIELDS, PUSH_TIME, Connector, OAuthProfile, ProviderSpec, SetupField,
)

SPEC = ProviderSpec(
    slug="quickbooks",
    name="QuickBooks Online",
    scope="global",
    auth_kind="oauth2",
    summary="Clients become customers, invoices become invoices, billable time becomes TimeActivity.",
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
    capabilities=frozenset({ACCOUNTING, PUSH_TIME}),
    # Intuit authenticates the token endpoint with HTTP Basic; refresh tokens rotate and lapse
    # after 100 days unused.
    oauth=OAuthProfile(token_auth_method="client_secret_basic", refresh_token_idle_days=100),
)


class QuickBooksConnector(Connector):
    spec = SPEC
