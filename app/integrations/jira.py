"""Jira Cloud (Atlassian OAuth 2.0 3LO): issues -> tasks, time entries -> worklogs.

A 3LO token is not tied to one site: after the exchange, Atlassian's
`accessible-resources` lists the sites it works for, and every Jira REST call
goes through the gateway as `{api base}/ex/jira/{cloud id}/rest/api/3/...`.

Import: the allowed projects (a whole listing each sync: cheap, and it is how
renames and removals are seen) and their issues through the enhanced JQL
search, incrementally by `updated` with a whole listing once a day (and
whenever the allow-list or backfill window changes) to archive deleted or
moved-away issues. Push: completed time entries on linked issues become
worklogs. Webhooks: dynamic ones for the allowed projects, verified by the
JWT Atlassian signs with the app's client secret.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from app.integrations import jwt_hs256, oauth
from app.integrations.capabilities import LinksPersonalAccounts
from app.integrations.exchange import RunContext, WebhookEvent, WebhookRejected
from app.integrations.http import PermanentError, ProviderError
from app.integrations.jira_site import (  # noqa: F401 (JQL_OVERLAP_MINUTES, PROJECT_PAGE_SIZE, SHORT_WORKLOG: named by the tests)
    JIRA_ERRORS,
    JQL_OVERLAP_MINUTES,
    PROJECT_PAGE_SIZE,
    SHORT_WORKLOG,
    WEBHOOK_EVENTS,
    WEBHOOK_STATE,
    JiraSite,
)
from app.integrations.pagination import offset_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec

log = logging.getLogger(__name__)

# Dynamic webhooks expire after 30 days; refresh them when fewer days than this are left.
WEBHOOK_REFRESH_BEFORE_DAYS = 10
# How old a webhook's JWT may be (its exp, with this leeway for clock skew).
WEBHOOK_JWT_LEEWAY_SECONDS = 60

SPEC = ProviderSpec(
    slug="jira",
    name="Jira",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://auth.atlassian.com/authorize",
    token_url="https://auth.atlassian.com/oauth/token",
    api_base="https://api.atlassian.com",
    scopes=("read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-webhook", "offline_access"),
    console_url="https://developer.atlassian.com/console/myapps/",
    register_steps=(
        "Create an OAuth 2.0 integration in the Atlassian developer console.",
        "Under Permissions, add the Jira API and grant the scopes listed below: read:jira-work, "
        "write:jira-work and read:jira-user to import issues and write worklogs, manage:jira-webhook "
        "so Jira tells TimeHub about changes at once.",
        "Under Authorization, paste the callback URL below.",
        "Copy the client ID and secret from Settings into this form, then connect and pick the site.",
        "Webhooks need TimeHub to be reachable from the internet: set TIMEHUB_EXTERNAL_URL to its public "
        "address. Without it, changes arrive with the periodic sync.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    rate_limit=RateLimit(10, 1.0, 4),  # cost-based; a steady 10/s stays clear of it
    features={
        "import": "Jira issues become TimeHub tasks.",
        "push": "Time logged on them becomes Jira worklogs.",
        "webhooks": "Changes made in Jira arrive at once through webhooks.",
        "personal_links": "Each person can link their own Atlassian account on their account page, so that "
                          "Jira shows them as the author of their worklogs.",
    },
    defaults={"sync_interval_minutes": 15},
    # Atlassian 3LO: the API audience, consent every time (for offline_access); refresh tokens
    # rotate and lapse after 90 days unused.
    oauth=OAuthProfile(authorize_params={"audience": "api.atlassian.com", "prompt": "consent"},
                       refresh_token_idle_days=90),
    errors=JIRA_ERRORS,
)


ACCESSIBLE_RESOURCES_PATH = "oauth/token/accessible-resources"


def site_api_base(connection: dict, api_base: str | None = None) -> str:
    """Where Jira REST calls for the connected site go: the gateway plus its cloud id."""
    cloud_id = (connection or {}).get("cloud_id")
    if not cloud_id:
        raise PermanentError("No Jira site is chosen for this connection yet; finish connecting Jira first.")
    return f"{(api_base or SPEC.endpoints().api_base).rstrip('/')}/ex/jira/{cloud_id}"


def _site_option(resource: dict) -> oauth.AccountOption | None:
    if not _is_jira_site(resource):
        return None
    name = resource.get("name") or resource.get("url") or resource["id"]
    settings = {"cloud_id": resource["id"], "site_url": resource.get("url"), "site_name": name}
    return oauth.AccountOption(key=resource["id"], account=oauth.ConnectedAccount(label=name, settings=settings),
                               detail=resource.get("url") or "")


def _is_jira_site(resource: dict) -> bool:
    # The list may hold Confluence or JSM sites granted to the same app; ours carry Jira scopes.
    scopes = resource.get("scopes")
    return bool(resource.get("id")) and (scopes is None or any("jira" in scope for scope in scopes))



class JiraConnector(JiraSite, LinksPersonalAccounts):
    """Jira Cloud, through Atlassian's gateway with a 3LO token."""

    spec = SPEC
    personal_link_action = "Log my Jira time as me"

    @classmethod
    def api_base_for(cls, api_base: str, connection: dict) -> str:
        return site_api_base(connection, api_base)

    @classmethod
    def oauth_connected_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                                callback_params: dict) -> oauth.ConnectedAccount:
        """One site: connect to it. Several: the admin picks one. None: refuse."""
        return oauth.account_from_list(
            provider, token, ACCESSIBLE_RESOURCES_PATH, _site_option, noun="site",
            none_message="The Atlassian account you signed in with gave TimeHub access to no Jira site. "
                         "Connect again and pick a Jira Cloud site on Atlassian's consent screen.")

    @classmethod
    def personal_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                         team_facts: dict) -> oauth.ConnectedAccount:
        """A person's own Atlassian account, which must reach the team's Jira site."""
        cloud_id = team_facts.get("cloud_id")
        with provider.api_client(token) as client:
            sites = client.get_json(ACCESSIBLE_RESOURCES_PATH)
            if not any(isinstance(site, dict) and site.get("id") == cloud_id and _is_jira_site(site)
                       for site in (sites if isinstance(sites, list) else [])):
                raise oauth.OAuthFlowError(
                    f"The Atlassian account you signed in with cannot reach the team's Jira site "
                    f"({team_facts.get('site_name') or cloud_id}). Sign in to Atlassian with your account "
                    "on that site, then link again.")
            me = client.get_json(f"ex/jira/{cloud_id}/rest/api/3/myself")
        return oauth.ConnectedAccount(label=me.get("displayName") or me.get("accountId") or "your account",
                                      settings={"account_id": me.get("accountId")})

    @classmethod
    def status_facts(cls, state: dict) -> list[tuple[str, str]]:
        state = state.get(WEBHOOK_STATE) or {}
        if state.get("ids"):
            until = datetime.fromtimestamp(state.get("expires", 0) / 1000, timezone.utc).strftime("%Y-%m-%d")
            value = f"registered, renewed until {until}"
            if state.get("error"):
                value += f"; the last attempt to update them failed: {state['error']}"
        elif state.get("error"):
            value = f"none: {state['error']}"
        else:
            value = "registered at the next sync, once projects are chosen"
        return [("Webhooks", value)]

    # -- webhooks -------------------------------------------------------------------------

    def housekeeping(self, run: RunContext) -> dict | None:
        """Keep one dynamic webhook for the allowed projects: register it, move it when the
        projects or our address change, refresh it before its 30 days run out."""
        before = self.state.get(WEBHOOK_STATE) or {}
        state = before
        projects = self._projects_to_search(run)
        wanted = {"url": run.webhook_url, "jql": f"project in ({', '.join(projects)})"} \
            if projects and run.webhook_url else None
        try:
            if state.get("ids") and (wanted is None or state.get("url") != wanted["url"]
                                     or state.get("jql") != wanted["jql"]):
                self._remove_webhooks(state["ids"])
                state = {}
            if wanted and not state.get("ids"):
                state = {**wanted, **self._register_webhook(wanted)}
            elif wanted and state.get("expires", 0) / 1000 < (datetime.now(timezone.utc) + timedelta(
                    days=WEBHOOK_REFRESH_BEFORE_DAYS)).timestamp():
                answer = self.client.request("PUT", "rest/api/3/webhook/refresh", json={"webhookIds": state["ids"]})
                state = {**state, "expires": answer.json().get("expirationDate", 0)}
            state.pop("error", None)
        except ProviderError as exc:  # the periodic sync still works without webhooks
            log.warning("Jira webhooks of integration %s: %s", self.integration.id, exc.message)
            state = {**state, "error": exc.message}
        if not run.webhook_url:  # (ids a failed removal left stay, to be removed next time)
            state = {**state, "error": "Set TIMEHUB_EXTERNAL_URL to a public address to receive Jira webhooks."}
        return {**self.state, WEBHOOK_STATE: state} if state != before else None

    def _register_webhook(self, wanted: dict) -> dict:
        answer = self.client.request("POST", "rest/api/3/webhook", json={
            "url": wanted["url"], "webhooks": [{"events": WEBHOOK_EVENTS, "jqlFilter": wanted["jql"]}]}).json()
        results = answer.get("webhookRegistrationResult") or []
        ids = [result["createdWebhookId"] for result in results if result.get("createdWebhookId")]
        if not ids:
            errors = "; ".join(error for result in results for error in result.get("errors") or [])
            raise PermanentError(f"Jira refused the webhook: {errors or 'no reason given'}")
        expires = max((hook.get("expirationDate", 0) for page in offset_pages(
            self.client, "rest/api/3/webhook", page_size=100, records="values", offset_param="startAt",
            limit_param="maxResults", total="total") for hook in page if hook.get("id") in ids), default=0)
        return {"ids": ids, "expires": expires}

    def _remove_webhooks(self, ids: list[int]) -> None:
        self.client.request("DELETE", "rest/api/3/webhook", json={"webhookIds": ids})

    def before_disconnect(self, run: RunContext) -> dict:
        ids = (self.state.get(WEBHOOK_STATE) or {}).get("ids")
        if ids:
            self._remove_webhooks(ids)
        # Forgotten with them: a later reconnect registers anew instead of trusting ids
        # Jira no longer has.
        return {key: value for key, value in self.state.items() if key != WEBHOOK_STATE}

    @classmethod
    def verify_webhook(cls, integration, secrets: dict, headers, body: bytes, url: str) -> WebhookEvent:
        """Atlassian signs a JWT with the app's client secret and sends it as a bearer token."""
        authorization = headers.get("Authorization", "")
        # The app's secret as saved on the setup page, else JIRA_CLIENT_SECRET (no saved app then).
        client_secret = secrets.get("client_secret")
        if not authorization.startswith("Bearer ") or not client_secret:
            raise WebhookRejected(401, "no Atlassian JWT")
        try:
            # Atlassian documents no request binding for OAuth 2.0 apps' webhooks (docs/design.md, "Hardening",
            # Jira's webhook JWT): a short, required expiry and the delivery id bound the replay.
            jwt_hs256.verify(authorization[7:], client_secret, leeway_seconds=WEBHOOK_JWT_LEEWAY_SECONDS,
                             require_exp=True, issuer=secrets.get("client_id"), method="POST", url=url)
        except jwt_hs256.InvalidToken as exc:
            raise WebhookRejected(401, f"Atlassian JWT refused: {exc}") from None
        delivery = headers.get("X-Atlassian-Webhook-Identifier")
        try:
            event = json.loads(body).get("webhookEvent")
        except (ValueError, AttributeError):
            raise WebhookRejected(400, "body is not a JSON object") from None
        if not delivery:
            raise WebhookRejected(400, "X-Atlassian-Webhook-Identifier missing")
        return WebhookEvent(delivery, event)
