"""What connectors and the engine hand each other: records, pages, pushes, the run.

Plain data, so a connector can be tested without a database and the engine
never reaches into a connector's attributes.
"""
from __future__ import annotations

import hashlib
import json

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol



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


class LinkLookup(Protocol):
    """What a connector may ask about external links: the remote id of a local record
    (a time entry's task -> the Jira issue). The engine provides it."""

    def external_id(self, kind: str, local_id: int | None) -> str | None: ...


class NoLinks:
    """The LinkLookup of a run that has no links to look at (a settings page, a disconnect)."""

    def external_id(self, kind: str, local_id: int | None) -> str | None:
        return None


@dataclass
class RunContext:
    """What the engine knows for one run of one integration, handed to every call of
    the connector in that run, instead of being attached to the connector (the
retry policy of the run's HTTP client is chosen when the client is built,
app.services.connections.connector_for):

    - `links`: remote ids of local records;
    - `webhook_url`: this connection's webhook address as the provider must call it,
      or None when TimeHub has no public address (TIMEHUB_EXTERNAL_URL unset);
    - `carry`: what one stream of the run learnt for the next ones and for
      housekeeping (Jira: which projects exist). It lives for this run only;
    - `webhook_secrets`: the secret setup values deliveries are verified with (the
      same the intake hands verify_webhook), for a connector that gives the provider
      a signing secret when it registers a webhook. Empty without `webhook_url`.
    """

    links: LinkLookup = field(default_factory=NoLinks)
    webhook_url: str | None = None
    carry: dict[str, Any] = field(default_factory=dict)
    webhook_secrets: dict[str, str] = field(default_factory=dict)

    def webhook_url_in(self, schemes: tuple[str, ...]) -> str | None:
        """`webhook_url` if the provider delivers to its scheme (Google and Graph call only
        HTTPS addresses), else None."""
        url = self.webhook_url
        return url if url and url.split(":", 1)[0].lower() in schemes else None


@dataclass(frozen=True)
class PushRequest:
    """One local record's latest state to send. `external_id` is the remote copy's id
    (None: create one); `idempotency_key` is the same on every attempt of this change;
    `earlier_attempts` says how often it was tried already (an earlier attempt may
    have reached the provider although its answer was lost)."""

    kind: str
    record: Any
    external_id: str | None
    idempotency_key: str
    earlier_attempts: int = 0
    # Sent through the record's author's own linked account (LinksPersonalAccounts), so the
    # provider shows them as its author; False: through the team connection, on their behalf.
    as_author: bool = False
    # The remote copy's version TimeHub last wrote or applied (link.remote_version): a
    # connector that reads the copy before updating it can tell someone else changed it.
    remote_version: str | None = None


def content_version(content) -> str:
    """A version made of what TimeHub cares about in a remote copy (JSON-able `content`),
    for providers whose own change marker also moves on changes that matter to nobody here
    (QuickBooks bumps SyncToken when an invoice is e-mailed)."""
    return "c:" + hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Pushed:
    """What `push` may return instead of the bare remote id: the id and the copy's version
    after the write, stored on the link so that the next pull knows this write as TimeHub's
    own and only someone else's later change reaches the applier."""

    external_id: str
    version: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    delivery_id: str
    event: str | None
    # The success status the provider insists on for an accepted delivery (Xero's
    # intent-to-receive check wants exactly 200); most take any 2xx.
    accepted_status: int = 202


class PushSkipped(Exception):
    """A change the provider must not receive (a Jira worklog under a minute); `reason`
    is shown to the user. Not a failure: nothing is retried."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class WebhookRejected(Exception):
    """A delivery that must not be accepted; `status` is the HTTP answer (400, 401, 404)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- what a connection's settings page is made of --------------------------------

@dataclass(frozen=True)
class AccountInfo:
    """Who or what a connection reached, as shown on the integrations page."""

    label: str


@dataclass(frozen=True)
class AllowListOption:
    """One thing the allow-list can pick: a project, repository or board at the provider."""

    external_id: str
    label: str
    detail: str = ""


@dataclass(frozen=True)
class SingleChoice:
    """One pick among options read from the provider, stored as the option's id under
    `setting` (absent: `default_label` applies), e.g. the calendar receiving the entries."""

    setting: str
    label: str
    options: tuple[AllowListOption, ...]
    default_label: str
    help: str = ""


@dataclass(frozen=True)
class SettingToggle:
    """A yes/no choice on a connection's settings page, kept in its preferences."""

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
    """A table of overrides on the settings page, filled from the provider. Saved in the
    preferences as {setting: {remote id: chosen value}}; rows left on "automatic" are not
    stored. `target` says what is chosen: "task_status" (todo / in_progress / done) or
    "user" (a TimeHub user id)."""

    setting: str
    title: str
    help: str
    target: Literal["task_status", "user"]
    rows: tuple[MappingRow, ...]


# -- messaging (Notifies, AnswersCommands) ------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A message for people about one event, in the engine's plain terms; a Notifies
    connector builds it for its medium (Slack blocks, Teams HTML). `link_url` points back
    at TimeHub (None when TIMEHUB_EXTERNAL_URL is unset)."""

    event: str
    title: str
    lines: tuple[str, ...] = ()
    link_url: str | None = None
    link_label: str = "Open in TimeHub"


@dataclass(frozen=True)
class ChannelOption:
    """A place a Notifies connector can post to. `channel_id` is what is stored and handed
    back to `post_notice`; `group` names what it belongs to (a team), for the picker."""

    channel_id: str
    label: str
    group: str = ""


@dataclass(frozen=True)
class ChannelGroup:
    """What a channel is picked in first, where the provider nests them (a Teams team)."""

    group_id: str
    label: str


@dataclass(frozen=True)
class CommandRequest:
    """A verified chat command (Slack's /timehub). `delivery_id` is unique per request,
    so a replayed one is recognised; `challenge` is set instead when the provider only
    checks the address (Slack's url_verification)."""

    delivery_id: str
    remote_user_id: str = ""
    text: str = ""
    reply_url: str | None = None
    challenge: str | None = None


@dataclass(frozen=True)
class AccountingParty:
    """A customer (QuickBooks) or contact (Xero) as the mapping and its suggestions see it.
    `marker` is TimeHub's own tag on a party it created (a client id), or ""."""

    remote_id: str
    name: str
    email: str = ""
    marker: str = ""
