"""What every connector is made of: a declarative ProviderSpec and a Connector class.

A connector module holds everything about one provider and nothing about
another. Shared mechanisms (HTTP, OAuth, sync, jobs) live below it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar, Literal

Scope = Literal["global", "per_user"]
AuthKind = Literal["oauth2", "api_key"]

# Capabilities a connector can declare; pages and the sync engine read them.
IMPORT_TASKS = "import_tasks"        # provider items -> projects/tasks
PUSH_TIME = "push_time"              # time entries -> provider (worklogs, spent time, events)
CALENDAR = "calendar"                # calendar events <-> time entries
NOTIFY = "notify"                    # messages to a channel
ACCOUNTING = "accounting"            # clients/invoices -> customers/invoices
WEBHOOKS = "webhooks"                # provider pushes changes to us


@dataclass(frozen=True)
class SetupField:
    """A value the admin types into the provider's setup page."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""
    placeholder: str = ""
    default: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoints:
    authorize_url: str | None
    token_url: str | None
    api_base: str
    revoke_url: str | None = None


@dataclass(frozen=True)
class OAuthProfile:
    """How a provider speaks OAuth 2.0 (`ProviderSpec.oauth`), as data."""

    pkce: bool = True                               # send an S256 code_challenge
    token_auth_method: str = "client_secret_post"   # or "client_secret_basic"
    revoke_auth_method: str | None = None           # None: same as token_auth_method
    scope_separator: str = " "                      # Slack joins scopes with ","
    revoke_token_hint: str = "refresh_token"        # which stored token /revoke receives
    # Fixed extra authorize parameters (Atlassian audience/prompt, Google access_type/prompt);
    # values that depend on the admin's setup come from the oauth_authorize_params hook.
    authorize_params: dict = field(default_factory=dict)
    # Refresh tokens that lapse when unused this long (Xero 60, QuickBooks 100) are
    # refreshed on a schedule before then; None: they do not lapse.
    refresh_token_idle_days: int | None = None


@dataclass(frozen=True)
class ProviderSpec:
    slug: str
    name: str
    scope: Scope
    auth_kind: AuthKind
    summary: str
    api_base: str
    console_url: str
    register_steps: tuple[str, ...]
    setup_fields: tuple[SetupField, ...]
    authorize_url: str | None = None
    token_url: str | None = None
    revoke_url: str | None = None
    scopes: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()
    defaults: dict = field(default_factory=dict)
    oauth: OAuthProfile = OAuthProfile()

    @property
    def is_global(self) -> bool:
        return self.scope == "global"

    @property
    def env_prefix(self) -> str:
        return self.slug.upper()

    def endpoints(self, app_settings: dict | None = None) -> Endpoints:
        """Resolve endpoints: `<SLUG>_AUTHORIZE_URL` / `_TOKEN_URL` / `_API_BASE` /
        `_REVOKE_URL` from the environment win; otherwise the spec's defaults, whose
        `{placeholders}` are filled from the admin's setup values (GitLab's host,
        Microsoft's tenant) or those fields' defaults."""
        values = {f.name: f.default for f in self.setup_fields if not f.secret}
        values.update({k: v for k, v in (app_settings or {}).items() if v})
        values = {k: str(v).rstrip("/") for k, v in values.items()}

        def resolve(name: str, default: str | None) -> str | None:
            template = os.environ.get(f"{self.env_prefix}_{name}") or default
            return template.format(**values).rstrip("/") if template else None

        return Endpoints(
            authorize_url=resolve("AUTHORIZE_URL", self.authorize_url),
            token_url=resolve("TOKEN_URL", self.token_url),
            api_base=resolve("API_BASE", self.api_base),
            revoke_url=resolve("REVOKE_URL", self.revoke_url),
        )

    def env_app_credentials(self) -> tuple[str, str] | None:
        """OAuth client id/secret supplied through `<SLUG>_CLIENT_ID` / `_CLIENT_SECRET`."""
        client_id = os.environ.get(f"{self.env_prefix}_CLIENT_ID")
        client_secret = os.environ.get(f"{self.env_prefix}_CLIENT_SECRET")
        if client_id and client_secret:
            return client_id, client_secret
        return None


OAUTH_APP_FIELDS = (
    SetupField("client_id", "Client ID"),
    SetupField("client_secret", "Client secret", secret=True),
)


@dataclass(frozen=True)
class AccountInfo:
    """Who or what a connection reached, as shown on the integrations page."""

    label: str


class Connector:
    """Base of every provider's connector: what one provider's API means for us.

    An instance works for one integration through one ProviderClient (built by
    app.services.connections with the right authentication); it never opens a
    database session or retries on its own. Capabilities a connector lacks
    keep these defaults.
    """

    spec: ClassVar[ProviderSpec]
    # Pull streams, in the order they must run (parents before children).
    streams: ClassVar[tuple[str, ...]] = ()
    # Local kinds whose changes this connector pushes ("time_entry", "invoice", "client").
    push_kinds: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, integration, client):
        self.integration = integration
        self.client = client

    @classmethod
    def api_base_for(cls, api_base: str, settings: dict) -> str:
        """Where this connection's API calls go; a connector adds its site or company."""
        return api_base

    @classmethod
    def api_headers(cls, settings: dict) -> dict[str, str]:
        """Headers every API call of this connection carries (Xero's tenant id)."""
        return {}

    @classmethod
    def api_key_auth(cls, credentials: dict) -> tuple[dict, dict]:
        """For api_key providers: (query parameters, headers) that authenticate a request."""
        raise NotImplementedError(f"{cls.spec.name} does not use an API key")

    def pull(self, stream: str, cursor: str | None):
        """Yield SyncPages of RemoteRecords from `cursor` (None: from the start)."""
        raise NotImplementedError(f"{self.spec.name} has no pull streams")

    @classmethod
    def wants_push(cls, integration, kind: str, record) -> bool:
        """Whether a change of `record` should go to this integration."""
        return kind in cls.push_kinds

    def push(self, kind: str, record, external_id: str | None, idempotency_key: str) -> str:
        """Create (external_id None) or update the remote copy; return its id."""
        raise NotImplementedError(f"{self.spec.name} does not push {kind}")

    def delete_remote(self, kind: str, external_id: str) -> None:
        raise NotImplementedError(f"{self.spec.name} does not delete {kind}")

    @classmethod
    def verify_webhook(cls, integration, secrets: dict, headers, body: bytes, url: str) -> WebhookEvent:
        """Check a delivery's signature; raise WebhookRejected when it fails."""
        raise WebhookRejected(404, f"{cls.spec.name} sends no webhooks here")

    def webhook_records(self, event: str | None, payload: dict) -> list:
        """The RemoteRecords a verified delivery changes."""
        return []


# -- what connectors exchange with the sync engine ------------------------------

@dataclass(frozen=True)
class RemoteRecord:
    """One provider item, already mapped to a local kind and its field values.

    `version` is the provider's change marker (an updated timestamp or etag):
    when it equals the one stored on the link, the record is skipped
    without a write. `parent_id` is the external id of the parent record
    (a task's project); `deleted` archives the local copy.
    """

    kind: str
    external_id: str
    version: str | None
    fields: dict = field(default_factory=dict)
    parent_id: str | None = None
    deleted: bool = False


@dataclass(frozen=True)
class SyncPage:
    """Records plus the cursor to resume after them; both are saved in one transaction."""

    records: list[RemoteRecord]
    cursor: str | None


@dataclass(frozen=True)
class WebhookEvent:
    delivery_id: str
    event: str | None


class WebhookRejected(Exception):
    """A delivery that must not be accepted; `status` is the HTTP answer (400 or 401)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
