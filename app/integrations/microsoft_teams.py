"""Microsoft Teams (Microsoft identity platform + Graph): notifications to a channel."""
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
    slug="microsoft_teams",
    name="Microsoft Teams",
    scope="global",
    auth_kind="oauth2",
    authorize_url=MICROSOFT_AUTHORIZE_URL,
    token_url=MICROSOFT_TOKEN_URL,
    api_base=GRAPH_API,
    scopes=("offline_access", "User.Read", "Team.ReadBasic.All", "Channel.ReadBasic.All", "ChannelMessage.Send"),
    console_url=MICROSOFT_CONSOLE_URL,
    register_steps=MICROSOFT_REGISTER_STEPS,
    setup_fields=MICROSOFT_APP_FIELDS,
    rate_limit=RateLimit(8, 1.0, 4),  # Graph: per app and tenant, varies by workload
    features={
        "notify": "Posts notifications to a channel of one of your teams.",
    },
)


class MicrosoftTeamsConnector(MicrosoftIdentity):
    spec = SPEC
