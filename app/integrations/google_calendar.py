"""Google Calendar, per user: each user's own calendar <-> that user's time entries."""
from app.integrations.base import CALENDAR, OAUTH_APP_FIELDS, Connector, OAuthProfile, ProviderSpec

SPEC = ProviderSpec(
    slug="google_calendar",
    name="Google Calendar",
    scope="per_user",
    auth_kind="oauth2",
    summary="Each user connects their own Google Calendar; their time entries and events stay in step.",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    revoke_url="https://oauth2.googleapis.com/revoke",
    api_base="https://www.googleapis.com/calendar/v3",
    scopes=("openid", "email", "https://www.googleapis.com/auth/calendar.events"),
    console_url="https://console.cloud.google.com/apis/credentials",
    register_steps=(
        "In Google Cloud Console enable the Google Calendar API for a project.",
        "Configure the OAuth consent screen and add the scopes listed below.",
        "Create an OAuth client ID of type 'Web application' with the redirect URI below.",
        "Copy the client ID and secret into this form; each user then connects their own calendar.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    capabilities=frozenset({CALENDAR}),
    defaults={"sync_interval_minutes": 15},
    # A refresh token only with access_type=offline, and again on reconnect only with prompt=consent.
    oauth=OAuthProfile(authorize_params={"access_type": "offline", "prompt": "consent",
                                         "include_granted_scopes": "true"}),
)


class GoogleCalendarConnector(Connector):
    spec = SPEC
