"""Slack (OAuth v2, bot token): notifications to a channel, a slash command."""
from app.integrations.base import (
    NOTIFY, OAUTH_APP_FIELDS, WEBHOOKS, Connector, OAuthProfile, ProviderSpec, SetupField,
)

SPEC = ProviderSpec(
    slug="slack",
    name="Slack",
    scope="global",
    auth_kind="oauth2",
    summary="Posts timer and invoice notifications to a channel and answers the /timehub command.",
    authorize_url="https://slack.com/oauth/v2/authorize",
    token_url="https://slack.com/api/oauth.v2.access",
    revoke_url="https://slack.com/api/auth.revoke",
    api_base="https://slack.com/api",
    scopes=("chat:write", "channels:read", "commands", "users:read", "users:read.email"),
    console_url="https://api.slack.com/apps",
    register_steps=(
        "Create a Slack app (from scratch) in your workspace.",
        "Under OAuth & Permissions, add the redirect URL below and the bot token scopes listed below.",
        "Under Slash Commands, create /timehub pointing at this server's Slack webhook URL (shown once connected).",
        "Copy the client ID, client secret and signing secret from Basic Information.",
    ),
    setup_fields=OAUTH_APP_FIELDS + (
        SetupField("signing_secret", "Signing secret", secret=True,
                   help="Verifies that slash-command requests really come from Slack."),
        SetupField("channel", "Default channel", required=False, placeholder="#time-tracking"),
    ),
    capabilities=frozenset({NOTIFY, WEBHOOKS}),
    oauth=OAuthProfile(scope_separator=","),  # Slack's v2 authorize URL takes comma-separated scopes
)


class SlackConnector(Connector):
    spec = SPEC
