"""GitHub (OAuth app): repository issues -> tasks; webhooks signed with HMAC-SHA256."""
from app.integrations.base import IMPORT_TASKS, OAUTH_APP_FIELDS, WEBHOOKS, Connector, ProviderSpec, SetupField

SPEC = ProviderSpec(
    slug="github",
    name="GitHub",
    scope="global",
    auth_kind="oauth2",
    summary="Issues of the repositories you choose become TimeHub tasks.",
    authorize_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",
    revoke_url="https://api.github.com/applications/{client_id}/grant",
    api_base="https://api.github.com",
    scopes=("repo", "read:user", "user:email", "admin:repo_hook"),
    console_url="https://github.com/settings/developers",
    register_steps=(
        "Register a new OAuth app under Settings > Developer settings > OAuth Apps (or your organisation's).",
        "Set the authorization callback URL to the one below.",
        "Generate a client secret and copy it with the client ID into this form.",
    ),
    setup_fields=OAUTH_APP_FIELDS + (
        SetupField("webhook_secret", "Webhook secret", secret=True, required=False,
                   help="Used to sign repository webhooks; generated for you when left empty."),
    ),
    capabilities=frozenset({IMPORT_TASKS, WEBHOOKS}),
    defaults={"sync_interval_minutes": 15},
)


class GitHubConnector(Connector):
    spec = SPEC
