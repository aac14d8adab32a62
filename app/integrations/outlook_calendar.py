"""Outlook Calendar (Microsoft Graph): a shared team calendar <-> time entries."""
from app.integrations.base import CALENDAR, Connector, ProviderSpec
from app.integrations.microsoft import (
    GRAPH_API,
    MICROSOFT_APP_FIELDS,
    MICROSOFT_AUTHORIZE_URL,
    MICROSOFT_TOKEN_URL,
    graph_account,
    no_revocation,
)

SPEC = ProviderSpec(
    slug="outlook_calendar",
    name="Outlook Calendar",
    scope="global",
    auth_kind="oauth2",
    summary="Keeps a shared team calendar and the team's time entries in step.",
    authorize_url=MICROSOFT_AUTHORIZE_URL,
    token_url=MICROSOFT_TOKEN_URL,
    api_base=GRAPH_API,
    scopes=("offline_access", "User.Read", "Calendars.ReadWrite", "Calendars.ReadWrite.Shared"),
    console_url="https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade",
    register_steps=(
        "Register an application in Microsoft Entra ID (App registrations > New registration).",
        "Add a Web platform redirect URI: the one below.",
        "Under API permissions add the delegated Microsoft Graph permissions listed below.",
        "Create a client secret under Certificates & secrets and copy it with the application (client) ID.",
    ),
    setup_fields=MICROSOFT_APP_FIELDS,
    capabilities=frozenset({CALENDAR}),
    defaults={"sync_interval_minutes": 15},
)


class OutlookCalendarConnector(Connector):
    spec = SPEC

    # OAuth: the account is named by Graph's /me; the identity platform cannot revoke a grant.
    oauth_connected_account = staticmethod(graph_account)
    oauth_revoke = staticmethod(no_revocation)
