"""GitLab, on gitlab.com or any self-hosted instance: issues -> tasks, time -> spent time."""
from __future__ import annotations

from app.integrations.base import Connector
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, ProviderSpec, SetupField
from app.integrations.oauth import ConnectedAccount, OAuthProvider, TokenSet

GITLAB_COM = "https://gitlab.com"

SPEC = ProviderSpec(
    slug="gitlab",
    name="GitLab",
    scope="global",
    auth_kind="oauth2",
    authorize_url="{base_url}/oauth/authorize",
    token_url="{base_url}/oauth/token",
    revoke_url="{base_url}/oauth/revoke",
    api_base="{base_url}/api/v4",
    scopes=("api", "read_user"),
    console_url="https://gitlab.com/-/user_settings/applications",
    register_steps=(
        "On your GitLab instance open User settings > Applications (or an admin/group application).",
        "Paste the redirect URI below, tick 'Confidential' and the scopes listed below.",
        "Copy the application ID and secret into this form.",
    ),
    setup_fields=(
        SetupField("base_url", "GitLab URL", required=False, default=GITLAB_COM,
                   help="Change it for a self-hosted GitLab.", placeholder="https://gitlab.example.com"),
    ) + OAUTH_APP_FIELDS,
    rate_limit=RateLimit(25, 1.0, 4),  # gitlab.com: 2,000 per minute per user
    features={
        "import": "Project issues become TimeHub tasks.",
        "push": "Time logged on them is added as spent time.",
        "webhooks": "Changes arrive at once through project webhooks.",
    },
    defaults={"sync_interval_minutes": 15},
)


class GitLabConnector(Connector):
    spec = SPEC

    # OAuth notes. Every endpoint hangs off the admin's GitLab URL (`base_url`), so a
    # self-hosted instance needs no environment overrides. Revocation is RFC 7009
    # at `/oauth/revoke` (the engine's default).

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """The account is the username of `GET /api/v4/user`. The instance's URL is kept
        on the integration too, so its API calls go to the host it was connected on."""
        with provider.api_client(token) as client:
            user = client.get_json("user")
        base_url = provider.app_settings.get("base_url") or GITLAB_COM
        settings = {"gitlab_user_id": user.get("id"), "base_url": base_url.rstrip("/")}
        return ConnectedAccount(label=user.get("username"), settings={k: v for k, v in settings.items() if v})
