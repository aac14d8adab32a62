"""Jira Cloud (Atlassian OAuth 2.0 3LO): issues -> tasks, time entries -> worklogs.

A 3LO token is not tied to one site: after the exchange, Atlassian's
`accessible-resources` lists the sites it works for, and every Jira REST call
goes through the gateway as `{api base}/ex/jira/{cloud id}/rest/api/3/...`.
"""
from __future__ import annotations

from app.integrations import oauth
from app.integrations.base import (
    IMPORT_TASKS,
    OAUTH_APP_FIELDS,
    PUSH_TIME,
    WEBHOOKS,
    Connector,
    OAuthProfile,
    ProviderSpec,
)
from app.integrations.http import PermanentError

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


ACCESSIBLE_RESOURCES_PATH = "oauth/token/accessible-resources"


def site_api_base(integration_settings: dict, api_base: str | None = None) -> str:
    """Where Jira REST calls for the connected site go: the gateway plus its cloud id."""
    cloud_id = (integration_settings or {}).get("cloud_id")
    if not cloud_id:
        raise PermanentError("No Jira site is chosen for this connection yet; finish connecting Jira first.")
    return f"{(api_base or SPEC.endpoints().api_base).rstrip('/')}/ex/jira/{cloud_id}"


def _site_option(resource: dict) -> oauth.AccountOption:
    name = resource.get("name") or resource.get("url") or resource["id"]
    settings = {"cloud_id": resource["id"], "site_url": resource.get("url"), "site_name": name}
    return oauth.AccountOption(key=resource["id"], account=oauth.ConnectedAccount(label=name, settings=settings),
                               detail=resource.get("url") or "")


def _is_jira_site(resource: dict) -> bool:
    # The list may hold Confluence or JSM sites granted to the same app; ours carry Jira scopes.
    scopes = resource.get("scopes")
    return bool(resource.get("id")) and (scopes is None or any("jira" in scope for scope in scopes))


class JiraConnector(Connector):
    spec = SPEC

    @classmethod
    def api_base_for(cls, api_base: str, settings: dict) -> str:
        return site_api_base(settings, api_base)

    @classmethod
    def oauth_connected_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                                callback_params: dict) -> oauth.ConnectedAccount:
        """One site: connect to it. Several: the admin picks one. None: refuse."""
        with provider.api_client(token) as client:
            resources = client.get_json(ACCESSIBLE_RESOURCES_PATH)
        if not isinstance(resources, list):
            raise oauth.OAuthFlowError("Atlassian answered the list of sites with something that is not a list.")
        options = [_site_option(resource) for resource in resources if _is_jira_site(resource)]
        if not options:
            raise oauth.OAuthFlowError(
                "The Atlassian account you signed in with gave TimeHub access to no Jira site. "
                "Connect again and pick a Jira Cloud site on Atlassian's consent screen.")
        if len(options) == 1:
            return options[0].account
        raise oauth.AccountChoiceRequired(SPEC.slug, token, options, "site")
