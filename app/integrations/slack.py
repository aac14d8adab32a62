"""Slack (OAuth v2, bot token): notifications to a channel, a slash command."""
from __future__ import annotations

from app.integrations.base import Connector
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec, SetupField
from app.integrations.http import ProviderError
from app.integrations.oauth import ConnectedAccount, OAuthProvider, RevocationFailed, TokenSet

# auth.revoke errors meaning the token is already unusable: revocation has nothing left to do.
TOKEN_ALREADY_DEAD = frozenset({"invalid_auth", "token_revoked", "account_inactive"})

SPEC = ProviderSpec(
    slug="slack",
    name="Slack",
    scope="global",
    auth_kind="oauth2",
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
    rate_limit=RateLimit(45, 60.0, 2),  # Tier 3 methods: about 50 per minute
    features={
        "notify": "Posts timer and invoice notifications to a channel.",
        "webhooks": "Answers the /timehub command.",
    },
    # Slack's v2 authorize URL takes comma-separated scopes; oauth.v2.access prefers the
    # app's credentials in HTTP Basic over form parameters.
    oauth=OAuthProfile(scope_separator=",", token_auth_method="client_secret_basic"),
)


class SlackConnector(Connector):
    spec = SPEC

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """oauth.v2.access names the workspace (`team`) the bot was installed in;
        an organisation-wide install names the `enterprise` instead. (Its refusals,
        `ok: false` with status 200, never get here: the engine's client treats any
        answer carrying `error` as a refused token request.)"""
        answer = token.raw
        team = answer.get("team") or {}
        enterprise = answer.get("enterprise") or {}
        settings = {"team_id": team.get("id"), "enterprise_id": enterprise.get("id"),
                    "bot_user_id": answer.get("bot_user_id")}
        return ConnectedAccount(label=team.get("name") or enterprise.get("name"),
                                settings={k: v for k, v in settings.items() if v})

    @classmethod
    def oauth_revoke(cls, provider: OAuthProvider, token: TokenSet) -> bool:
        """`auth.revoke` revokes the token that authenticates the call (sent as a
        Bearer header, as Slack wants now); its errors come with status 200."""
        url = provider.endpoints.revoke_url
        if not url:
            return False
        try:
            with provider.api_client(token, base_url=url) as client:
                answer = client.request("GET", url).json()
        except ProviderError as exc:
            raise RevocationFailed(f"Slack did not revoke the token: {exc.message}") from None
        except ValueError:
            raise RevocationFailed("Slack answered the revocation with something that is not JSON") from None
        if answer.get("ok") or answer.get("error") in TOKEN_ALREADY_DEAD:
            return True
        raise RevocationFailed(f"Slack did not revoke the token ({answer.get('error') or 'no reason given'})")
