"""Asana: projects and tasks -> projects and tasks; webhooks with handshake + HMAC."""
from __future__ import annotations

from app.integrations.base import Connector
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, ProviderSpec
from app.integrations.oauth import ConnectedAccount, OAuthProvider, TokenSet

SPEC = ProviderSpec(
    slug="asana",
    name="Asana",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://app.asana.com/-/oauth_authorize",
    token_url="https://app.asana.com/-/oauth_token",
    revoke_url="https://app.asana.com/-/oauth_revoke",
    api_base="https://app.asana.com/api/1.0",
    scopes=("default",),
    console_url="https://app.asana.com/0/my-apps",
    register_steps=(
        "Create an app in the Asana developer console.",
        "Under OAuth, add the redirect URL below.",
        "Copy the client ID and client secret into this form.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    rate_limit=RateLimit(140, 60.0, 10),  # 150 per minute (free), 50 concurrent GETs
    features={
        "import": "Asana projects and their tasks become TimeHub projects and tasks.",
        "webhooks": "Changes arrive at once through Asana webhooks.",
    },
    defaults={"sync_interval_minutes": 15},
)


class AsanaConnector(Connector):
    spec = SPEC

    # OAuth notes. Revocation is the engine's default: Asana's `/-/oauth_revoke`
    # takes the refresh token (it refuses access tokens) with the app's credentials.

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """Asana's token answer names the user who authorized in `data`
        ({id, gid, name, email}): no extra call needed."""
        user = token.raw.get("data") or {}
        name, email = user.get("name"), user.get("email")
        label = f"{name} ({email})" if name and email else (name or email)
        gid = user.get("gid") or user.get("id")
        return ConnectedAccount(label=label, settings={"asana_user_gid": str(gid)} if gid else {})
