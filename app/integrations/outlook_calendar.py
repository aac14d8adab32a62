"""Outlook Calendar (Microsoft Graph): a shared team calendar <-> time entries."""
from app.integrations.base import CALENDAR, ProviderSpec
from app.integrations.microsoft import (
    GRAPH_API,
    MICROSOFT_APP_FIELDS,
    MICROSOFT_AUTHORIZE_URL,
    MICROSOFT_CONSOLE_URL,
    MICROSOFT_REGISTER_STEPS,
    MICROSOFT_TOKEN_URL,
    MicrosoftIdentity,
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
    console_url=MICROSOFT_CONSOLE_URL,
    register_steps=MICROSOFT_REGISTER_STEPS,
    setup_fields=MICROSOFT_APP_FIELDS,
    capabilities=frozenset({CALENDAR}),
    defaults={"sync_interval_minutes": 15},
)


class OutlookCalendarConnector(MicrosoftIdentity):
    spec = SPEC
