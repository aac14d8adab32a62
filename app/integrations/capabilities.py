"""The capabilities a connector can have, one small abstract class each.

They are mixed into a Connector (app.integrations.base) and use what it has
(`self.client`, `self.preferences`, `self.connection`, `self.state`).

A connector class lists the capabilities it implements among its bases
(`class JiraConnector(Connector, Pulls, Pushes, ...)`); an abstract method left
unimplemented makes the class impossible to instantiate, and a test over the
registry checks every connector is complete. What a connector can do is read
from its bases (`capabilities_of`), never declared a second time: the pages
show a provider's feature sentences only for what its connector implements.

Every call that belongs to one run of the engine receives that run's
`RunContext` (links, webhook address, retry policy, what earlier streams
learnt); a connector keeps nothing of a run on itself.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar

from app.integrations.exchange import (
    AccountInfo,
    AccountingParty,
    AllowListOption,
    ChannelGroup,
    ChannelOption,
    CommandRequest,
    LinkLookup,
    MappingRow,
    MappingTable,
    Notice,
    PushRequest,
    RemoteRecord,
    RunContext,
    SingleChoice,
    SyncPage,
    WebhookEvent,
)
from app.integrations.http import PermanentError
from app.models.task import TASK_STATUS_LABELS

# The settings the generic settings page saves a connector's mapping tables under.
STATUS_MAP_SETTING, USER_MAP_SETTING = "status_map", "user_map"

# Preference keys the generic settings page writes (integration.settings).
ALLOW_LIST_SETTING = "allow_list"      # list of external ids, or absent
BACKFILL_SETTING = "updated_since"     # "YYYY-MM-DD", or absent


class Pulls(ABC):
    """Import: provider items -> local records, page by page from a saved cursor.

    `streams` run in this order (parents before children), each from its own
    cursor; the engine commits every page together with the page's cursor. Paging
    goes through app.integrations.pagination, never a loop of the connector's own.
    """

    streams: ClassVar[tuple[str, ...]]
    # Whether pull honours the backfill window ("only sync items updated since"); the
    # settings page offers it only then.
    supports_backfill: ClassVar[bool] = False

    @abstractmethod
    def pull(self, stream: str, cursor: str | None, run: RunContext) -> Iterator[SyncPage]:
        """Yield SyncPages of RemoteRecords from `cursor` (None: from the start)."""

    @property
    def backfill_since(self) -> datetime | None:
        """"Only sync items updated since": the start of that day in UTC, or None for everything."""
        value = self.preferences.get(BACKFILL_SETTING)
        if not value:
            return None
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=timezone.utc)

    @staticmethod
    def due_since(moment: str | None, every_hours: float) -> bool:
        """Whether something done every `every_hours` is due again: never done (`moment`
        None) or done that long ago (`moment`: an ISO time with its offset). The whole
        listings use it: they see what an incremental one cannot (deletions, moves away)."""
        return moment is None or datetime.fromisoformat(moment) + timedelta(
            hours=every_hours) <= datetime.now(timezone.utc)


class Pushes(ABC):
    """Push: local changes (time entries, invoices, clients) -> the provider, from the outbox."""

    # Local kinds whose changes this connector pushes ("time_entry", "invoice", "client").
    push_kinds: ClassVar[frozenset[str]]

    @classmethod
    def wants_push(cls, integration, kind: str, record, links: LinkLookup) -> bool:
        """Whether a change of `record` should go to this integration. Changes of a
        record that was pushed before always go (an edit may have to remove it)."""
        return kind in cls.push_kinds

    @classmethod
    def push_notice(cls, integration, kind: str, record, links: LinkLookup) -> str | None:
        """What the person saving `record` should know about its push, e.g. that the
        provider will not take it (Jira: worklogs under a minute). None: nothing to say."""
        return None

    @abstractmethod
    def push(self, request: PushRequest, run: RunContext) -> str:
        """Create (request.external_id None) or update the remote copy; return its id. Raise
        PushSkipped when the record must not be there (after removing a remote copy)."""

    @abstractmethod
    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        """Remove the remote copy; one that is gone already is no error."""


class ReceivesWebhooks(ABC):
    """The provider calls TimeHub's webhook address when something changes. (An address
    also answers HEAD, for providers that check it before registering it.)"""

    # Deliveries whose body is empty (Google's push notifications say everything in headers):
    # the intake reads an empty body as {} instead of refusing it as no JSON.
    bodyless_deliveries: ClassVar[bool] = False

    @classmethod
    def delivery_asks_for_pull(cls, event: str | None) -> bool:
        """Whether a delivery only says that something changed, without the records: the engine
        then queues an incremental pull once it is processed (webhook_records may return [])."""
        return False

    @classmethod
    @abstractmethod
    def verify_webhook(cls, integration, secrets: Mapping[str, str], headers, body: bytes,
                       url: str) -> WebhookEvent:
        """Check a delivery's signature and name it; raise WebhookRejected when it fails.
        `secrets` are the app's (OAuth) or the credential's (API key) secret values."""

    @classmethod
    def delivery_problem(cls, event: str | None, payload: dict) -> str | None:
        """What makes a verified delivery impossible to apply later (a field of the wrong
        type), checked before it is stored and answered 422; None: it can be applied."""
        return None

    @abstractmethod
    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        """The RemoteRecords a verified delivery changes."""


class VerifiesApiKey(ABC):
    """An API-key provider (Trello): how a key authenticates, and a real call to check it."""

    @classmethod
    @abstractmethod
    def api_key_auth(cls, credentials: Mapping[str, str]) -> tuple[dict, dict]:
        """(query parameters, headers) that authenticate a request."""

    @classmethod
    @abstractmethod
    def verify(cls, api_base: str, credentials: Mapping[str, str], **client_kwargs: Any) -> AccountInfo:
        """Check the credentials with the provider; raise ProviderError when refused."""


class ConnectsWithToken(ABC):
    """An OAuth provider that can also be connected with a personal access token pasted by the
    admin (Jira Data Center without an application link); each person then links with their
    own token the same way."""

    @classmethod
    @abstractmethod
    def token_account(cls, app_settings: Mapping[str, Any], token: str, **client_kwargs: Any):
        """The oauth.ConnectedAccount `token` acts for, checked with a real call (ProviderError
        when the provider refuses it)."""


class AllowList(ABC):
    """The settings page lets the admin pick what to sync (projects, repositories, boards)."""

    # What the allow-list picks, as the page names it ("Projects", "Boards").
    allow_list_label: ClassVar[str]
    # Whether a connection with no allow-list saved yet syncs everything (True) or nothing
    # until someone picks (False: large sites should not be imported whole by surprise).
    allow_all_until_chosen: ClassVar[bool] = True

    @abstractmethod
    def allow_list_options(self) -> list[AllowListOption]:
        """Everything the admin can pick from, read from the provider (every page)."""

    @property
    def allowed_ids(self) -> frozenset[str] | None:
        """The external ids the admin allowed; None: all of them."""
        chosen = self.preferences.get(ALLOW_LIST_SETTING)
        if chosen is None:
            return None if self.allow_all_until_chosen else frozenset()
        return frozenset(str(value) for value in chosen)

    def is_allowed(self, external_id: str) -> bool:
        allowed = self.allowed_ids
        return allowed is None or str(external_id) in allowed


class SingleChoices(ABC):
    """The settings page offers a few single picks read from the provider (Google: the calendar
    that receives the entries; Outlook: the team calendar). The page checks a posted value is
    one of the options; an empty one removes the setting (the default applies)."""

    # The picks, with no options: what the page shows when the provider cannot be asked.
    choice_fields: ClassVar[tuple[SingleChoice, ...]]

    @abstractmethod
    def choice_options(self, setting: str) -> list[AllowListOption]:
        """Every option of the pick stored under `setting`, read from the provider (every page)."""

    def single_choices(self) -> list[SingleChoice]:
        return [replace(choice, options=tuple(self.choice_options(choice.setting))) for choice in self.choice_fields]

    def chosen(self, setting: str) -> str | None:
        value = self.preferences.get(setting)
        return str(value) if value else None


class MappingTables(ABC):
    """The settings page offers override tables filled from the provider (statuses, people).
    The helpers below read what the admin chose, the same way for every connector."""

    @abstractmethod
    def mapping_tables(self) -> list[MappingTable]:
        """The tables, read from the provider."""

    def mapped_assignee(self, person_key: str | None, email: str | None) -> dict:
        """An assignee as the engine applies it: the TimeHub user the admin chose for
        `person_key` in the user mapping, else whoever has `email` (unassigned without)."""
        chosen = (self.preferences.get(USER_MAP_SETTING) or {}).get(person_key) if person_key else None
        return {"email": email or None, "user_id": int(chosen) if chosen else None}

    # Issue trackers with two states and free labels (GitHub, GitLab): the rows are
    # "state:<open state>", "state:closed" and one "label:<name>" per label.

    @staticmethod
    def label_status_rows(open_state: str, labels) -> tuple[MappingRow, ...]:
        return (MappingRow(f"state:{open_state}", "Open (no mapped label)", TASK_STATUS_LABELS["todo"]),
                MappingRow("state:closed", "Closed", TASK_STATUS_LABELS["done"])) + tuple(
            MappingRow(f"label:{name}", f"Label: {name}", "the issue's state")
            for name in sorted(labels, key=str.lower))

    def label_status(self, closed: bool, labels: list[str], open_state: str) -> str:
        """Closed issues are done, open ones to do, unless mapped: a closed issue by its
        state, an open one by its first mapped label (in name order), else by its state."""
        chosen = self.preferences.get(STATUS_MAP_SETTING) or {}
        if closed:
            return chosen.get("state:closed") or "done"
        for name in sorted(labels, key=str.lower):
            if chosen.get(f"label:{name}"):
                return chosen[f"label:{name}"]
        return chosen.get(f"state:{open_state}") or "todo"


class ManagesRemoteSetup(ABC):
    """The connection keeps something set up at the provider (Jira's webhooks), in its
    connector state. The connector returns the new state; the engine stores it."""

    @abstractmethod
    def housekeeping(self, run: RunContext) -> dict | None:
        """After each pull: keep the set-up in shape. The new connector state, or None
        when nothing changed."""

    @abstractmethod
    def before_disconnect(self, run: RunContext) -> dict:
        """Undo the set-up (errors are the caller's); the connector state to keep."""

    @classmethod
    def status_facts(cls, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(label, value) pairs the integration's page shows about the set-up."""
        return []

    @staticmethod
    def webhook_fact(registered: int, error: str | None, one: str, many: str) -> tuple[str, str]:
        """The page's line on webhooks kept one per chosen container (`one` / `many`: its
        name, "board" / "boards"), with the last failure to update them."""
        if registered:
            value = f"registered for {registered} {one if registered == 1 else many}"
            if error:
                value += f"; the last attempt to update them failed: {error}"
        elif error:
            value = f"none: {error}"
        else:
            value = f"registered at the next sync, once {many} are chosen"
        return ("Webhooks", value)


class ReleasesUnchosenAccounts(ABC):
    """A grant can reach several accounts (Xero's organisations); once someone picked one,
    access to the others is given up where the provider allows it."""

    @abstractmethod
    def release_unchosen(self, unchosen: list[dict]) -> None:
        """`unchosen` holds the other options' connection facts; provider errors are the caller's."""


# The capabilities the pages speak of, by the key of ProviderSpec.features.
FEATURES: dict[str, type] = {
    "import": Pulls,
    "push": Pushes,
    "webhooks": ReceivesWebhooks,
}


def capabilities_of(connector_class: type) -> frozenset[type]:
    """The capability classes a connector class implements."""
    every = (Pulls, Pushes, ReceivesWebhooks, VerifiesApiKey, ConnectsWithToken, AllowList, SingleChoices, MappingTables,
             ManagesRemoteSetup, ReleasesUnchosenAccounts, ConfirmsWebhookHandshake, Notifies, AnswersCommands, Accounting,
             LinksPersonalAccounts)
    return frozenset(capability for capability in every if issubclass(connector_class, capability))


def features_of(connector_class) -> list[str]:
    """The spec's feature sentences of what the connector implements, in the spec's order."""
    spec = connector_class.spec
    return [sentence for key, sentence in spec.features.items()
            if key in FEATURES and issubclass(connector_class, FEATURES[key])]


def moves_data(connector_class: type) -> bool:
    """Whether the connector imports or pushes anything."""
    return issubclass(connector_class, (Pulls, Pushes))


class ConfirmsWebhookHandshake(ABC):
    """The provider confirms a new webhook by calling its address, while the registration
    is under way, with a challenge the address must echo (Asana's `X-Hook-Secret`).

    The intake asks this before verifying a delivery; a handshake is answered 200 with
    the headers returned and stores nothing (the connector keeps the signing secret
    from the registration's own answer, in its connector state)."""

    @classmethod
    @abstractmethod
    def webhook_handshake(cls, headers, body: bytes) -> dict[str, str] | None:
        """The headers to answer a handshake with; None when the request is no handshake."""

    @classmethod
    def webhook_handshake_text(cls, query: Mapping[str, str]) -> str | None:
        """A challenge in the address's query string that must come back as a text/plain body
        (Graph's `validationToken`); None when the request is no such handshake."""
        return None


# -- messaging -------------------------------------------------------------------

# Preferences the notification settings write (integration.settings).
NOTIFY_CHANNEL_SETTING = "notify_channel"        # the ChannelOption.channel_id chosen
NOTIFY_EVENTS_SETTING = "notify_events"          # list of NOTIFY_EVENTS keys
NOTIFY_LONG_HOURS_SETTING = "notify_long_entry_hours"
NOTIFY_DAILY_AT_SETTING = "notify_daily_at"      # "HH:MM", local time of NOTIFY_TIMEZONE_SETTING
NOTIFY_TIMEZONE_SETTING = "notify_timezone"
# The manual mapping of command senders, {remote user id: TimeHub user id}: a MappingTable
# of the connector, which the command engine reads before matching by e-mail.
COMMAND_USER_MAP_SETTING = "command_user_map"

# What can be announced, with the settings page's words.
NOTIFY_EVENTS: dict[str, str] = {
    "timer_started": "A timer is started",
    "timer_stopped": "A timer is stopped",
    "long_entry": "A time entry is longer than the hours below",
    "invoice_issued": "An invoice is issued",
    "invoice_paid": "An invoice is paid",
    "integration_problem": "An integration needs reconnecting or its syncs keep failing (for admins)",
    "daily_summary": "A daily team summary, at the time below",
    "weekly_summary": "A weekly team summary (Mondays, at the time below)",
}


class Notifies(ABC):
    """Posts notices to a channel the admin picked. Messages go through the engine's
    notification outbox (app.services.notification_service): the connector only
    builds and posts one message, and says what went wrong through the client's
    errors (AuthError: reconnect; RateLimitedError: later; PermanentError: the
    provider's reason, in words a person can act on)."""

    @abstractmethod
    def channel_options(self, group_id: str | None = None) -> list[ChannelOption]:
        """The channels the connection may post to (every page): those of `group_id` when
        the provider nests channels in groups, else all of them."""

    def channel_groups(self) -> list[ChannelGroup] | None:
        """The groups a channel is picked in first (every page), for a two-step picker;
        None (the default) when channels are picked directly."""
        return None

    @classmethod
    def channel_group_of(cls, channel_id: str) -> str | None:
        """The group a stored channel id belongs to (None: no groups)."""
        return None

    @abstractmethod
    def post_notice(self, channel_id: str, notice: Notice) -> str:
        """Post `notice`, built for the medium, to `channel_id`; return the message's id."""

    @property
    def channel_id(self) -> str | None:
        return self.preferences.get(NOTIFY_CHANNEL_SETTING) or None


class AnswersCommands(ABC):
    """People type commands in the provider's chat (/timehub start ...); TimeHub answers
    at once, in the same request, or through the request's reply URL when the work may
    take longer than the provider waits. The engine runs the command; the connector
    verifies the request, names its sender and shapes the answer."""

    # Hosts the provider's reply URLs live on (HTTPS only); the engine posts a deferred
    # answer there or to the configured API base, nowhere else a request names.
    command_reply_hosts: tuple[str, ...] = ()

    @classmethod
    @abstractmethod
    def verify_command(cls, secrets: Mapping[str, str], headers, body: bytes, now: float) -> CommandRequest:
        """Check the request's signature and age; raise WebhookRejected(401) when it fails."""

    @abstractmethod
    def command_user_email(self, remote_user_id: str) -> str | None:
        """The sender's e-mail address, asked of the provider (None: it has none to give)."""

    @classmethod
    @abstractmethod
    def command_answer(cls, text: str) -> dict:
        """The JSON body answering a command with `text`, seen by the sender only."""


FEATURES["notify"] = Notifies
FEATURES["commands"] = AnswersCommands


# -- accounting (issue 13) -------------------------------------------------------------

# Preference keys of an accounting connection (integration.settings), written by the admin:
# which provider customer a client is ({client id: remote id, or CREATE_NEW}), and what invoice
# lines are booked to ({"default": code, "projects": {project id: code}}; a code is a
# QuickBooks item id or a Xero "account code|tax type").
CUSTOMER_MATCHES_SETTING = "customer_matches"
BOOKING_SETTING = "booking"
CREATE_NEW = "new"
# Where one run keeps the provider's customer list (RunContext.carry): read once, then extended.
CUSTOMERS_CARRY = "accounting_customers"


def _normalised(name: str) -> str:
    """A company name without case, punctuation or legal suffixes, for near-duplicate checks."""
    words = "".join(ch if ch.isalnum() else " " for ch in (name or "").lower()).split()
    suffixes = {"inc", "ltd", "llc", "gmbh", "limited", "co", "corp", "corporation", "plc", "pty", "sa", "ag",
                "bv", "the"}
    return " ".join(word for word in words if word not in suffixes)


class Accounting(ABC):
    """Clients -> customers/contacts and invoices -> invoices at an accounting provider.

    Customers are matched by id: a client's customer is the one the engine linked, the one
    the admin confirmed (CUSTOMER_MATCHES_SETTING), or one the connector created carrying
    TimeHub's own marker. A provider customer that merely looks like the client (same name
    apart from case and legal suffix, or the same e-mail) is only *suggested*: the push stops
    with a plain reason until the admin confirms it or chooses "create new", so a
    near-duplicate is never created silently and a match never guessed.
    """

    @abstractmethod
    def customer_candidates(self) -> list[AccountingParty]:
        """Every customer/contact at the provider (every page)."""

    @abstractmethod
    def booking_options(self) -> list[AllowListOption]:
        """What an invoice line can be booked to (items, or account codes with tax types), every page."""

    @abstractmethod
    def invoice_preview(self, invoice, run: RunContext) -> dict:
        """Exactly what a push would send now: {"customer"/"contact": the body that creates
        it, or its id when it exists; "invoice": the invoice body, whose customer id reads
        "(created on export)" while the customer does not exist yet}."""

    def time_preview(self, client, entries: list, run: RunContext) -> dict:
        """Exactly what pushing `entries` (time on `client`'s projects) would send now, as
        invoice_preview says it: {"customer": ..., "time_activities": [body, or {"entry": id,
        "not sent": why}]}. Only connectors whose push_kinds hold "time_entry" have it."""
        raise NotImplementedError(f"{self.spec.name} takes no time entries")

    @staticmethod
    def suggestions(client, candidates: list[AccountingParty]) -> list[AccountingParty]:
        """The candidates that look like `client`: same normalised name, or the same e-mail."""
        name = _normalised(client.name)
        email = (client.email or "").strip().lower()
        return [party for party in candidates
                if (name and _normalised(party.name) == name) or (email and party.email.lower() == email)]

    def confirmed_customer(self, client_id: int) -> str | None:
        """The admin's choice for a client: a remote id, CREATE_NEW, or None (not chosen)."""
        return (self.preferences.get(CUSTOMER_MATCHES_SETTING) or {}).get(str(client_id))

    # What the provider calls a customer, for the messages ("customer", "contact").
    customer_noun: ClassVar[str] = "customer"

    @abstractmethod
    def create_customer(self, client) -> str:
        """Create the client's customer at the provider, carrying TimeHub's marker, with a key
        that makes a repeated create harmless; return its remote id."""

    def remote_customer_id(self, client, run: RunContext, *, create: bool = True) -> str | None:
        """The client's customer: linked, confirmed by the admin, or created by TimeHub (its
        marker). A look-alike stops the push until the admin decides; none: create it (unless
        `create` is False, for a preview). The provider's list is read once per run."""
        linked = run.links.external_id("client", client.id)
        if linked:
            return linked
        chosen = self.confirmed_customer(client.id)
        if chosen and chosen != CREATE_NEW:
            return chosen
        candidates = run.carry.get(CUSTOMERS_CARRY)
        if candidates is None:
            candidates = run.carry[CUSTOMERS_CARRY] = self.customer_candidates()
        ours = [party for party in candidates if party.marker == str(client.id)]
        if ours:
            return ours[0].remote_id
        if chosen != CREATE_NEW:
            alike = self.suggestions(client, candidates)
            if alike:
                names = ", ".join(f"{party.name} (#{party.remote_id})" for party in alike)
                raise PermanentError(
                    f"{client.name} looks like the {self.spec.name} {self.customer_noun} {names}: confirm the "
                    f"match or choose 'create new' in the {self.spec.name} settings; nothing was sent.")
        if not create:
            return None
        remote_id = self.create_customer(client)
        candidates.append(AccountingParty(remote_id, client.name, client.email or "", str(client.id)))
        return remote_id

    def booking_for(self, project_id: int | None) -> str | None:
        """What a line of `project_id` is booked to: the project's override, else the default."""
        booking = self.preferences.get(BOOKING_SETTING) or {}
        return (booking.get("projects") or {}).get(str(project_id)) or booking.get("default")


FEATURES["accounting"] = Accounting


class LinksPersonalAccounts(ABC):
    """Each user may link their own account at this global provider (a second consent with the
    same OAuth app), so that what they push through the team connection is authored by them
    (Jira worklogs) rather than by whoever connected the team. The link is an integration row
    of its own (`Integration.team_integration_id`), refreshed and revoked like any grant; the
    engine pushes a linked user's records through it (PushRequest.as_author) and falls back to
    the team connection when it is gone."""

    personal_link_action: ClassVar[str]  # the account page's button, e.g. "Log my Jira time as me"

    @classmethod
    @abstractmethod
    def personal_account(cls, provider, token, team_facts: Mapping[str, Any]):
        """The oauth.ConnectedAccount the personal `token` reached, checked to reach the team
        connection's place too (its `connection_facts`: Jira's site); raises oauth.OAuthFlowError
        with a message for the user when it cannot act there. Jira Data Center also takes
        `provider` None: the person's own personal access token, on a team connected with one."""


FEATURES["personal_links"] = LinksPersonalAccounts
