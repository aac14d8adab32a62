"""What every connector is made of: a declarative ProviderSpec and a Connector class.

A connector module holds everything about one provider and nothing about
another. Shared mechanisms (HTTP, OAuth, sync, jobs) live below it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable, ClassVar, Literal

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


# integration.settings keys the generic settings form writes.
ALLOW_LIST_SETTING = "allow_list"      # list of external ids, or absent
BACKFILL_SETTING = "updated_since"     # "YYYY-MM-DD", or absent


@dataclass(frozen=True)
class AllowListOption:
    """One thing the allow-list can pick: a project, repository or board at the provider."""

    external_id: str
    label: str
    detail: str = ""


@dataclass(frozen=True)
class SettingToggle:
    """A yes/no choice on a connection's settings page, kept in integration.settings."""

    setting: str
    label: str
    default: bool = True
    help: str = ""


@dataclass(frozen=True)
class MappingRow:
    """One provider value (a Jira status, a Jira user) and what happens to it unless overridden."""

    remote_id: str
    label: str
    automatic: str  # in words: "To do", "by e-mail (ann@example.com)", "unassigned"


@dataclass(frozen=True)
class MappingTable:
    """A table of overrides on the settings page, filled from the provider. Saved as
    integration.settings[setting] = {remote id: chosen value}; rows left on
    "automatic" are not stored. `target` says what is chosen: "task_status"
    (todo / in_progress / done) or "user" (a TimeHub user id)."""

    setting: str
    title: str
    help: str
    target: Literal["task_status", "user"]
    rows: tuple[MappingRow, ...]


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
    # What the allow-list picks ("Projects", "Repositories", "Boards"); None: no allow-list.
    allow_list_label: ClassVar[str | None] = None
    # Whether pull honours the backfill window ("only sync items updated since"); the
    # settings page offers it only then.
    supports_backfill: ClassVar[bool] = False
    # Whether a connection with no allow-list saved yet syncs everything (True) or nothing
    # until someone picks (False: large sites should not be imported whole by surprise).
    allow_all_until_chosen: ClassVar[bool] = True

    def __init__(self, integration, client):
        self.integration = integration
        self.client = client

    @classmethod
    def api_base_for(cls, api_base: str, settings: dict) -> str:
        """Where this connection's API calls go; a connector adds its site or company."""
        return api_base

    @classmethod
    def status_facts(cls, settings: dict) -> list[tuple[str, str]]:
        """(label, value) pairs the integration's page shows about this connection's own
        set-up at the provider (Jira: its webhooks), read from integration.settings."""
        return []

    @classmethod
    def api_headers(cls, settings: dict) -> dict[str, str]:
        """Headers every API call of this connection carries (Xero's tenant id)."""
        return {}

    @classmethod
    def api_key_auth(cls, credentials: dict) -> tuple[dict, dict]:
        """For api_key providers: (query parameters, headers) that authenticate a request."""
        raise NotImplementedError(f"{cls.spec.name} does not use an API key")

    # -- per-integration sync settings (integration.settings), shared by every connector --

    @property
    def allowed_ids(self) -> frozenset[str] | None:
        """The external ids the admin allowed (projects, repos, boards); None: all of them."""
        chosen = (self.integration.settings or {}).get(ALLOW_LIST_SETTING)
        if chosen is None:
            return None if self.allow_all_until_chosen else frozenset()
        return frozenset(str(value) for value in chosen)

    def is_allowed(self, external_id: str) -> bool:
        allowed = self.allowed_ids
        return allowed is None or str(external_id) in allowed

    @property
    def backfill_since(self) -> datetime | None:
        """"Only sync items updated since": the start of that day in UTC, or None for everything."""
        value = (self.integration.settings or {}).get(BACKFILL_SETTING)
        if not value:
            return None
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=timezone.utc)

    def allow_list_options(self) -> list[AllowListOption]:
        """Everything the admin can pick from, read from the provider (every page)."""
        raise NotImplementedError(f"{self.spec.name} has no allow-list")

    # Yes/no settings of this provider's connections (Jira: push worklogs).
    setting_toggles: ClassVar[tuple[SettingToggle, ...]] = ()

    @classmethod
    def toggle_of(cls, integration, setting: str) -> bool:
        """A yes/no setting of `integration`, or its default when never saved."""
        toggle = next(t for t in cls.setting_toggles if t.setting == setting)
        return bool((integration.settings or {}).get(setting, toggle.default))

    def toggle(self, setting: str) -> bool:
        return self.toggle_of(self.integration, setting)

    def mapping_tables(self) -> list[MappingTable]:
        """Override tables for the settings page, read from the provider (Jira: statuses, users)."""
        return []

    def release_unchosen(self, unchosen: list[dict]) -> None:
        """The grant reached several accounts and someone picked one: give up access to
        the others where the provider allows it (Xero's organisations). `unchosen` holds
        the other options' settings; provider errors are the caller's."""

    # This connection's webhook address as the provider must call it, or None when
    # TimeHub has no public address (TIMEHUB_EXTERNAL_URL unset). Set by connector_for.
    webhook_url: str | None = None

    def housekeeping(self) -> dict:
        """After each pull: keep what the connection set up at the provider in shape
        (Jira's webhooks). Returns integration settings to change ({} for none)."""
        return {}

    def before_disconnect(self) -> None:
        """Undo what the connection set up at the provider (webhooks); errors are the caller's."""

    def pull(self, stream: str, cursor: str | None):
        """Yield SyncPages of RemoteRecords from `cursor` (None: from the start)."""
        raise NotImplementedError(f"{self.spec.name} has no pull streams")

    # Set by the sync engine before pushing: the remote ids of local records (LinkLookup),
    # and how often the change being pushed was tried already (an earlier attempt may have
    # reached the provider although its answer was lost).
    links: "LinkLookup"
    earlier_attempts: int = 0

    @classmethod
    def wants_push(cls, integration, kind: str, record, links: "LinkLookup") -> bool:
        """Whether a change of `record` should go to this integration. Changes of a
        record that was pushed before always go (an edit may have to remove it)."""
        return kind in cls.push_kinds

    @classmethod
    def push_notice(cls, integration, kind: str, record, links: "LinkLookup") -> str | None:
        """What the person saving `record` should know about its push, e.g. that the
        provider will not take it (Jira: worklogs under a minute). None: nothing to say."""
        return None

    def push(self, kind: str, record, external_id: str | None, idempotency_key: str) -> str:
        """Create (external_id None) or update the remote copy; return its id. Raise
        PushSkipped when the record must not be there (after removing a remote copy)."""
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
    without a write. `version_order`, when the provider's versions are ordered
    (an updated time, a counter), turns a version into a comparable key: a
    record whose version orders before the stored one is older news (providers
    deliver webhooks and pages out of order) and is skipped. `parent_id` is
    the external id of the parent record (a task's project); `deleted`
    archives the local copy.
    """

    kind: str
    external_id: str
    version: str | None
    fields: dict = field(default_factory=dict)
    parent_id: str | None = None
    deleted: bool = False
    version_order: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class SyncPage:
    """Records plus the cursor to resume after them; both are saved in one transaction.

    A connector that lists *every* live record of a kind (not only changes) says so:
    `listing_starts` on the listing's first page and `listing_complete=<kind>` on its
    last. When the engine saw the whole listing in one run, it archives the local
    copies of that kind the listing did not mention (deleted at the provider, moved
    out of the allow-list). A listing resumed after a crash archives nothing; the next
    whole one does. `total` is the provider's count for the listing, when it gives one.
    """

    records: list[RemoteRecord]
    cursor: str | None
    listing_starts: bool = False
    listing_complete: str | None = None
    total: int | None = None


@dataclass(frozen=True)
class WebhookEvent:
    delivery_id: str
    event: str | None


class LinkLookup:
    """What a connector may ask about external links while pushing: the remote id of a
    local record (a time entry's task -> the Jira issue). The engine provides it."""

    def external_id(self, kind: str, local_id: int | None) -> str | None:
        raise NotImplementedError


class PushSkipped(Exception):
    """A change the provider must not receive (a Jira worklog under a minute); `reason`
    is shown to the user. Not a failure: nothing is retried."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class WebhookRejected(Exception):
    """A delivery that must not be accepted; `status` is the HTTP answer (400 or 401)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
