"""Jira Data Center (8.22+), on the organisation's own host: the Cloud connector's import,
push, mappings and settings (app.integrations.jira_site.JiraSite), over REST API v2.

Only the differences live here:
- every address hangs off the admin's base URL: OAuth 2.0 at `/rest/oauth2/latest/
  {authorize,token}` (authorization code with PKCE, scope WRITE or ADMIN), or a personal
  access token sent as `Authorization: Bearer` instead of OAuth;
- projects come whole from `GET /rest/api/2/project`; issues from `GET /rest/api/2/search`
  paged by startAt (at most 50 a page, as Data Center caps maxResults);
- worklog comments are plain text (v2 has no Atlassian Document Format) ending with the
  "[TimeHub entry N]" marker that finds a worklog again after a lost answer;
- users are named by their user key, matched by e-mail address;
- one admin webhook (`/rest/webhooks/1.0/webhook`) registered with a secret; deliveries are
  signed `X-Hub-Signature: sha256=<HMAC-SHA256 of the body>`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

from app.integrations import oauth
from app.integrations.capabilities import ConnectsWithToken, LinksPersonalAccounts
from app.integrations.exchange import RunContext, WebhookEvent, WebhookRejected
from app.integrations.http import (
    INTERACTIVE_RETRY,
    AuthError,
    NotFoundError,
    PermanentError,
    ProviderClient,
    ProviderError,
)
from app.integrations.jira_site import JIRA_ERRORS, WEBHOOK_EVENTS, WEBHOOK_STATE, JiraSite
from app.integrations.ratelimit import RateLimit
from app.integrations.pagination import Page, offset_pages
from app.integrations.spec import ProviderSpec, SetupField

log = logging.getLogger(__name__)

ISSUE_PAGE_SIZE = 50            # Data Center lowers maxResults above 50 (jira.search.views.default.max)
USER_PAGE_SIZE = 50             # user/search answers 50 a page unless told otherwise
MAX_BASE_URL_LENGTH = 200
ACCESS_LEVELS = ("WRITE", "ADMIN")  # WRITE imports and pushes; registering webhooks needs ADMIN
WEBHOOK_NAME = "TimeHub"


def base_url_problem(value: str) -> str | None:
    """Why `value` cannot be a Data Center base URL (None when it can): https, a host, no
    query or fragment, bounded. Data Center enforces HTTPS for OAuth 2.0 in production."""
    if len(value) > MAX_BASE_URL_LENGTH:
        return f"Use at most {MAX_BASE_URL_LENGTH} characters."
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "This is not a URL."
    if parts.scheme != "https" or not parts.hostname:
        return "Enter the https:// address of your Jira, such as https://jira.example.com."
    if parts.query or parts.fragment or parts.username or parts.password:
        return "Enter the address without a query, fragment or user name."
    return None


SPEC = ProviderSpec(
    slug="jira_datacenter",
    name="Jira Data Center",
    scope="global",
    auth_kind="oauth2",
    authorize_url="{base_url}/rest/oauth2/latest/authorize",
    token_url="{base_url}/rest/oauth2/latest/token",
    api_base="{base_url}",
    scopes=("WRITE",),  # replaced by the access chosen on the setup page (oauth_authorize_params)
    console_url="https://confluence.atlassian.com/adminjiraserver/jira-oauth-2-0-provider-api-1115659070.html",
    register_steps=(
        "In Jira, open Administration > Applications > Application links and create a link of type "
        "'External application', direction 'Incoming'.",
        "Paste the redirect URL below, and choose the permission you pick here: Write imports issues and "
        "writes worklogs; Admin also lets TimeHub register its webhook (the connecting user must be a Jira "
        "administrator for that).",
        "Copy the client ID and secret into this form, then connect.",
        "Or, without an application link: leave the client ID and secret empty, save, and connect with a "
        "personal access token (your Jira profile > Personal Access Tokens).",
        "Webhooks need TimeHub to be reachable from your Jira: set TIMEHUB_EXTERNAL_URL to its address. "
        "Without it, changes arrive with the periodic sync.",
    ),
    setup_fields=(
        SetupField("base_url", "Jira base URL", placeholder="https://jira.example.com",
                   help="The address people open Jira at (its base URL).", check=base_url_problem),
        SetupField("client_id", "Client ID", required=False,
                   help="From the incoming application link; empty when you connect with a personal access token."),
        SetupField("client_secret", "Client secret", secret=True, required=False),
        SetupField("access", "Permission", choices=ACCESS_LEVELS, default="WRITE", required=False,
                   help="The scope TimeHub asks for; the same as on the application link."),
        SetupField("webhook_secret", "Webhook secret", secret=True, required=False, generated=True,
                   help="Jira signs every webhook delivery with it; generated for you when left empty."),
    ),
    rate_limit=RateLimit(10, 1.0, 4),  # Data Center's rate limit is its admin's choice; a steady 10/s is modest
    features={
        "import": "Jira issues become TimeHub tasks.",
        "push": "Time logged on them becomes Jira worklogs.",
        "webhooks": "Changes made in Jira arrive at once through a webhook (with the Admin permission).",
        "personal_links": "Each person can link their own Jira account on their account page (a consent through "
                          "the application link, or their own personal access token when the team connected "
                          "with one), so that Jira shows them as the author of their worklogs.",
    },
    defaults={"sync_interval_minutes": 15},
    errors=JIRA_ERRORS,  # {"errorMessages": [...], "errors": {...}}, as Cloud
)


def entry_marker(entry_id: int) -> str:
    """Ends every worklog comment TimeHub writes: how a lost create is found again."""
    return f"[TimeHub entry {entry_id}]"


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature Data Center sends with a delivery of a webhook that has a secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def myself_account(client, base_url: str) -> oauth.ConnectedAccount:
    """Who the token acts for (GET /rest/api/2/myself); the base URL is kept with the
    connection, so its calls go to the host it was connected on."""
    me = client.get_json(f"{JiraDataCenterConnector.rest}/myself")
    name = me.get("displayName") or me.get("name") or me.get("key") or "your account"
    return oauth.ConnectedAccount(label=name, settings={"base_url": base_url.rstrip("/"), "user_key": me.get("key")})


class JiraDataCenterConnector(JiraSite, LinksPersonalAccounts, ConnectsWithToken):
    spec = SPEC
    rest = "rest/api/2"
    personal_link_action = "Log my Jira time as me"

    @classmethod
    def oauth_authorize_params(cls, app_settings: dict) -> dict:
        access = app_settings.get("access")
        return {"scope": access if access in ACCESS_LEVELS else "WRITE"}

    @classmethod
    def oauth_connected_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                                callback_params: dict) -> oauth.ConnectedAccount:
        with provider.api_client(token) as client:
            return myself_account(client, provider.app_settings.get("base_url") or "")

    @classmethod
    def token_account(cls, app_settings: dict, token: str, **client_kwargs) -> oauth.ConnectedAccount:
        """A personal access token instead of OAuth: checked with a real call (ProviderError when
        Jira refuses it), then used as the bearer token of every call."""
        client_kwargs.setdefault("retry", INTERACTIVE_RETRY)  # someone waits on the page
        api_base = SPEC.endpoints(app_settings).api_base
        with ProviderClient(SPEC.name, api_base, auth_headers={"Authorization": f"Bearer {token}"},
                            errors=SPEC.errors, **client_kwargs) as client:
            return myself_account(client, app_settings.get("base_url") or "")

    @classmethod
    def personal_account(cls, provider: oauth.OAuthProvider | None, token: oauth.TokenSet,
                         team_facts: dict) -> oauth.ConnectedAccount:
        """A person's own Jira account (their consent through the application link, or their own
        personal access token when `provider` is None), which must act on the team's Jira: the
        base URL the team connected on, which the setup page may since point elsewhere."""
        team_base = (team_facts.get("base_url") or "").rstrip("/")
        consent_base = ((provider.app_settings.get("base_url") if provider else None) or team_base).rstrip("/")
        if not team_base or consent_base != team_base:
            raise oauth.OAuthFlowError(
                f"You signed in at {consent_base or 'another Jira'}, but the team's Jira is {team_base or 'not set'}. "
                "Ask an admin to reconnect Jira Data Center at its current address, then link again.")
        try:
            # The same check as the team's token (token_account): /myself, at the team's base URL.
            account = cls.token_account({"base_url": team_base}, token.access_token)
        except AuthError as exc:
            raise oauth.OAuthFlowError(
                f"The Jira at {team_base} refused your account ({exc.message.rstrip('.')}). Use an account, or a "
                "personal access token, of that Jira, then link again.") from None
        return oauth.ConnectedAccount(label=account.label, settings={"user_key": account.settings.get("user_key")})

    @classmethod
    def oauth_revoke(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet) -> bool:
        return False  # Data Center documents no revocation endpoint; an admin revokes on the link

    # -- import: the differences from Cloud --------------------------------------------------

    @staticmethod
    def user_key(user: dict) -> str | None:
        return user.get("key") or user.get("name")

    def site_url(self) -> str:
        return (self.connection.get("base_url") or "").rstrip("/")

    def _projects(self, start: int = 0):
        """Data Center lists every project in one answer (no paging)."""
        return iter([Page(self.client.get_json(f"{self.rest}/project"), None)])

    def _people(self) -> list[dict]:
        people = []
        # `username=.` matches every user (name, display name or e-mail address contain a dot or not:
        # Data Center reads "." as "any").
        for page in offset_pages(self.client, f"{self.rest}/user/search", page_size=USER_PAGE_SIZE,
                                 params={"username": "."}, offset_param="startAt", limit_param="maxResults"):
            people.extend(user for user in page if user.get("active", True))
        return sorted(people, key=lambda user: (user.get("displayName") or "").lower())

    def _issue_pages(self, jql: str, start):
        return offset_pages(self.client, f"{self.rest}/search", page_size=ISSUE_PAGE_SIZE,
                            params={"jql": jql, "fields": ",".join(("summary", "status", "assignee", "project",
                                                                     "updated"))},
                            records="issues", offset_param="startAt", limit_param="maxResults", total="total",
                            start=start or 0)

    # -- push: plain-text comments with the entry's marker --------------------------------------

    @staticmethod
    def _worklog_note(entry_id: int, text: str) -> dict:
        return {"comment": f"{text} {entry_marker(entry_id)}"}

    def _worklogs_of(self, issue_id: str):
        """Data Center answers every worklog of the issue at once."""
        return iter(self.client.get_json(f"{self.rest}/issue/{issue_id}/worklog").get("worklogs") or [])

    @staticmethod
    def _is_worklog_of(worklog: dict, entry_id: int) -> bool:
        return str(worklog.get("comment") or "").endswith(entry_marker(entry_id))

    # -- webhooks: one admin webhook with a secret --------------------------------------------

    @classmethod
    def status_facts(cls, state: dict) -> list[tuple[str, str]]:
        hooks = state.get(WEBHOOK_STATE) or {}
        if hooks.get("id"):
            value = "registered" + (f"; the last attempt to update it failed: {hooks['error']}"
                                    if hooks.get("error") else "")
        elif hooks.get("error"):
            value = f"none: {hooks['error']}"
        else:
            value = "registered at the next sync, once projects are chosen"
        return [("Webhook", value)]

    def housekeeping(self, run: RunContext) -> dict | None:
        """Keep one webhook for the allowed projects: register it, and register it anew when
        the projects or TimeHub's address change."""
        before = self.state.get(WEBHOOK_STATE) or {}
        state = before
        projects = self._projects_to_search(run)
        wanted = {"url": run.webhook_url, "jql": f"project in ({', '.join(projects)})"} \
            if projects and run.webhook_url else None
        try:
            if state.get("id") and (wanted is None or state.get("url") != wanted["url"]
                                    or state.get("jql") != wanted["jql"]):
                self._remove_webhook(state["id"])
                state = {}
            if wanted and not state.get("id"):
                state = {**wanted, "id": self._register_webhook(wanted, run.webhook_secrets.get("webhook_secret"))}
            state.pop("error", None)
        except ProviderError as exc:  # the periodic sync still works without webhooks
            log.warning("Jira Data Center webhook of integration %s: %s", self.integration.id, exc.message)
            state = {**state, "error": exc.message}
        if not run.webhook_url:
            state = {**state, "error": "Set TIMEHUB_EXTERNAL_URL to an address your Jira reaches to receive "
                                       "its webhook."}
        return {**self.state, WEBHOOK_STATE: state} if state != before else None

    def _register_webhook(self, wanted: dict, secret: str | None) -> str:
        if not secret:
            raise PermanentError("No webhook secret is saved on the setup page; save it again to generate one.")
        answer = self.client.request("POST", "rest/webhooks/1.0/webhook", json={
            "name": WEBHOOK_NAME, "url": wanted["url"], "events": WEBHOOK_EVENTS,
            "filters": {"issue-related-events-section": wanted["jql"]}, "excludeBody": False,
            "secret": secret}).json()
        # The answer names the new webhook by its address: .../rest/webhooks/1.0/webhook/{id}.
        webhook_id = str(answer.get("self") or "").rstrip("/").rsplit("/", 1)[-1]
        if not webhook_id.isdigit():
            raise PermanentError("Jira answered the webhook registration without the webhook's address")
        return webhook_id

    def _remove_webhook(self, webhook_id: str) -> None:
        try:
            self.client.request("DELETE", f"rest/webhooks/1.0/webhook/{webhook_id}")
        except NotFoundError:
            pass  # an admin deleted it already

    def before_disconnect(self, run: RunContext) -> dict:
        webhook_id = (self.state.get(WEBHOOK_STATE) or {}).get("id")
        if webhook_id:
            self._remove_webhook(webhook_id)
        return {key: value for key, value in self.state.items() if key != WEBHOOK_STATE}

    @classmethod
    def verify_webhook(cls, integration, secrets: dict, headers, body: bytes, url: str) -> WebhookEvent:
        """The HMAC-SHA256 of the body with the webhook's secret, as X-Hub-Signature."""
        secret, sent = secrets.get("webhook_secret"), headers.get("X-Hub-Signature") or ""
        if not secret or not sent.startswith("sha256="):
            raise WebhookRejected(401, "no X-Hub-Signature")
        if not hmac.compare_digest(sent.encode(), signature(secret, body).encode()):
            raise WebhookRejected(401, "X-Hub-Signature does not match")
        try:
            event = json.loads(body).get("webhookEvent")
        except (ValueError, AttributeError):
            raise WebhookRejected(400, "body is not a JSON object") from None
        # Data Center sends no delivery id; the body (which carries its timestamp) names it, so a
        # replayed delivery is the same delivery.
        return WebhookEvent(hashlib.sha256(body).hexdigest(), event)

