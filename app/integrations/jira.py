"""Jira Cloud (Atlassian OAuth 2.0 3LO): issues -> tasks, time entries -> worklogs."""
from app.integrations.base import (
    IMPORT_TASKS, OAUTH_APP_FIELDS, PUSH_TIME, WEBHOOKS, Connector, OAuthProfile, ProviderSpec,
)

SPEC = ProviderSpec(
    slug="jira",
    name="Jira",
    scope="global",
    auth_kind="oauth2",
    summary="Jira issues become TimeHub tasks; time logged on them becomes Jira worklogs.",
    authorize_url="https://auth.atlassian.com/authorize",
    token_url="https://auth.atlassian.com/oauth/token",
    api_base="https://api.atlassian.com",
    scopes=("read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-webhook", "offline_access"),
    console_url="https://developer.atlassian.com/console/myapps/",
    register_steps=(
        "Create an OAuth 2.0 integration in the Atlassian developer console.",
        "Under Permissions, add the Jira API and grant the scopes listed below.",
        "Under Authorization, paste the callback URL below.",
        "Copy the client ID and secret from Settings into this form.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    capabilities=frozenset({IMPORT_TASKS, PUSH_TIME, WEBHOOKS}),
    defaults={"sync_interval_minutes": 15},
    # Atlassian 3LO: the API audience, consent every time (for offline_access); refresh tokens
    # rotate and lapse after 90 days unused.
    oauth=OAuthProfile(authorize_params={"audience": "api.atlassian.com", "prompt": "consent"},
                       refresh_token_idle_days=90),
)


class JiraConnector(Connector):
    spec = SPEC
