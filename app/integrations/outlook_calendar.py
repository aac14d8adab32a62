"""Outlook Calendar (Microsoft Graph): a shared team calendar <-> time entries."""
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import ProviderSpec
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
    authorize_url=MICROSOFT_AUTHORIZE_URL,
    token_url=MICROSOFT_TOKEN_URL,
    api_base=GRAPH_API,
    scopes=("offline_access", "User.Read", "Calendars.ReadWrite", "Calendars.ReadWrite.Shared"),
    console_url=MICROSOFT_CONSOLE_URL,
    register_steps=MICROSOFT_REGISTER_STEPS,
    setup_fields=MICROSOFT_APP_FIELDS,
    rate_limit=RateLimit(8, 1.0, 4),  # Graph: 10,000 per 10 min per mailbox, 4 concurrent
    features={
        "calendar": "Keeps a shared team calendar and the team's time entries in step.",
    },
    defaults={"sync_interval_minutes": 15},
)


class OutlookCalendarConnector(MicrosoftIdentity):
    spec = SPEC
