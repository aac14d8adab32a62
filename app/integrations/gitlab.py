"""GitLab, on gitlab.com or any self-hosted instance: issues -> tasks, time -> spent time."""
from app.integrations.base import (
    IMPORT_TASKS, OAUTH_APP_FIELDS, PUSH_TIME, WEBHOOKS, Connector, ProviderSpec, SetupField,
)

SPEC = ProviderSpec(
    slug="gitlab",
    name="GitLab",
    scope="global",
    auth_kind="oauth2",
    summary="Project issues become TimeHub tasks; time logged on them is added as spent time.",
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
        SetupField("base_url", "GitLab URL", required=False, default="https://gitlab.com",
                   help="Change it for a self-hosted GitLab.", placeholder="https://gitlab.example.com"),
    ) + OAUTH_APP_FIELDS,
    capabilities=frozenset({IMPORT_TASKS, PUSH_TIME, WEBHOOKS}),
    defaults={"sync_interval_minutes": 15},
)


class GitLabConnector(Connector):
    spec = SPEC
