"""Microsoft Teams (Microsoft identity platform + Graph): notifications to a channel."""
from app.integrations.base import NOTIFY, Connector, ProviderSpec
from app.integrations.microsoft import (
    GRAPH_API,
    MICROSOFT_APP_FIELDS,
    MICROSOFT_AUTHORIZE_URL,
    MICROSOFT_TOKEN_URL,
    graph_account,
    no_revocation,
)

SPEC = ProviderSpec(
    slug="microsoft_teams",
    name="Microsoft Teams",
    scope="global",
    auth_kind="oauth2",
    summary="Posts notifications to a channel of one of your teams.",
    authorize_url=MICROSOFT_AUTHORIZE_URL,
    token_url=MICROSOFT_TOKEN_URL,
    api_base=GRAPH_API,
    scopes=("offline_access", "User.Read", "Team.ReadBasic.All", "Channel.ReadBasic.All", "ChannelMessage.Send"),
    console_url="https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade",
    register_steps=(
        "Register an application in Microsoft Entra ID (App registrations > New registration).",
        "Add a Web platform redirect URI: the one below.",
        "Under API permissions add the delegated Microsoft Graph permissions listed below.",
        "Create a client secret under Certificates & secrets and copy it with the application (client) ID.",
    ),
    setup_fields=MICROSOFT_APP_FIELDS,
    capabilities=frozenset({NOTIFY}),
)


class MicrosoftTeamsConnector(Connector):
    spec = SPEC

    # OAuth: the account is named by Graph's /me; the identity platform cannot revoke a grant.
    oauth_connected_account = staticmethod(graph_account)
    oauth_revoke = staticmethod(no_revocation)
