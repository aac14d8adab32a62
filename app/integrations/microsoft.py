"""What Teams and Outlook share: the Microsoft identity platform (v2.0 endpoints,
with the admin's tenant in their path) and Graph's `/me` to name the account."""
from __future__ import annotations

from app.integrations.base import Connector
from app.integrations.spec import OAUTH_APP_FIELDS, SetupField
from app.integrations.oauth import ConnectedAccount, OAuthProvider, TokenSet

MICROSOFT_AUTHORIZE_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
GRAPH_API = "https://graph.microsoft.com/v1.0"

MICROSOFT_CONSOLE_URL = "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade"
MICROSOFT_REGISTER_STEPS = (
    "Register an application in Microsoft Entra ID (App registrations > New registration).",
    "Add a Web platform redirect URI: the one below.",
    "Under API permissions add the delegated Microsoft Graph permissions listed below.",
    "Create a client secret under Certificates & secrets and copy it with the application (client) ID.",
)

MICROSOFT_APP_FIELDS = (
    SetupField("tenant", "Tenant", required=False, default="organizations",
               help="Your directory (tenant) ID or domain; 'organizations' accepts any work account."),
) + OAUTH_APP_FIELDS


def graph_account(provider: OAuthProvider, token: TokenSet, callback_params: dict) -> ConnectedAccount:
    """Who signed in, from Graph's `GET /me`: "Display Name (address)". `mail` is
    empty for accounts without a mailbox; the sign-in name (UPN) stands in."""
    with provider.api_client(token) as client:
        me = client.get_json("me", params={"$select": "id,displayName,mail,userPrincipalName"})
    address = me.get("mail") or me.get("userPrincipalName")
    name = me.get("displayName")
    label = f"{name} ({address})" if name and address else (name or address)
    return ConnectedAccount(label=label, settings={"microsoft_user_id": me["id"]} if me.get("id") else {})


def no_revocation(provider: OAuthProvider, token: TokenSet) -> bool:
    """The identity platform has no endpoint revoking one app's grant (only an admin
    or the user can remove the consent); disconnecting forgets the tokens locally."""
    return False


class MicrosoftIdentity(Connector):
    """Base of the Graph connectors: the account is named by Graph's /me, and the
    identity platform cannot revoke a grant."""

    oauth_connected_account = staticmethod(graph_account)
    oauth_revoke = staticmethod(no_revocation)
