"""Outlook Calendar (Microsoft Graph): a shared team calendar <-> every user's time entries.

An admin connects once and picks the team calendar (any calendar the account can
write: its own, one shared with it, or a Microsoft 365 group's; the account's default
calendar until one is picked). Import: Graph's `calendarView/delta` over a window around today,
page after page (`@odata.nextLink`), keeping the `@odata.deltaLink` of the last
page for the next read of changes; times are asked for in UTC
(`Prefer: outlook.timezone`). An event becomes a suggestion for the TimeHub users
among its organiser and attendees (by e-mail), except those who declined;
all-day, cancelled, free ("show as available") and TimeHub's own events never.

A group calendar has no delta and no change notifications in Graph v1.0: each pull reads
`groups/{id}/calendarView` over the same window, page after page, as one whole listing, so
an event no longer listed is archived; it is addressed at `groups/{id}/calendar/events`
and needs the Group.ReadWrite.All permission.

Change notifications: with a public address (TIMEHUB_EXTERNAL_URL), a Graph subscription
on the team calendar's events calls the webhook address when something changed there
(after Graph checked the address with a `validationToken` it must echo as text/plain);
each notification carries the subscription's `clientState`, compared in constant time,
and makes TimeHub read the delta at once. The subscription is renewed a day before it
expires, moved when the team calendar changes and deleted on disconnect; the periodic
sync stays the safety net.

Push: every user's completed time entries become events "User · Project · Task"
in the team calendar, created with a `transactionId` (Graph answers a repeated
create with the event it made) and marked with a single-value extended property
holding the entry id; a retry after a lost answer also looks the event up by that
property. Edits patch the stored event, deletes delete it, both addressed under the
team calendar's path (Graph's "Update event" and "Delete event" accept
`me/calendars/{id}/events/{id}`, which also reaches a calendar shared from another mailbox).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from app.integrations.calendar_times import EventTimeUnreadable, rfc3339, to_utc_naive
from app.integrations.capabilities import (
    ALLOW_LIST_SETTING, ConfirmsWebhookHandshake, ManagesRemoteSetup, Pulls, Pushes, ReceivesWebhooks, SingleChoices,
)
from app.integrations.exchange import (
    AllowListOption, PushRequest, PushSkipped, RemoteRecord, RunContext, SingleChoice, SyncPage, WebhookEvent,
    WebhookRejected,
)
from app.integrations.http import AuthError, NotFoundError, PermanentError
from app.integrations.pagination import cursor_pages, delta_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import ProviderSpec
from app.integrations.microsoft import (
    GRAPH_API,
    MICROSOFT_APP_FIELDS,
    MICROSOFT_AUTHORIZE_URL,
    MICROSOFT_CONSOLE_URL,
    MICROSOFT_REGISTER_STEPS,
    MICROSOFT_TOKEN_URL,
    MicrosoftIdentity,
)

# Graph documents no cap for an event delta page; it honours odata.maxpagesize up to its own limit.
DELTA_PAGE_SIZE = 1000
# A group's calendarView pages with $top (Graph's default page is 10 events).
GROUP_VIEW_PAGE_SIZE = 1000
# Directory listings (memberOf) take $top up to 999.
GROUP_PAGE_SIZE = 999
WINDOW_PAST_DAYS = 366
WINDOW_AHEAD_DAYS = 92
# The extended property marking TimeHub's events: a String property in TimeHub's own namespace.
ENTRY_PROPERTY_ID = "String {6f2b4c1e-6a43-4f1c-9a0e-7d7b4a1e5c11} Name TimeHubEntryId"
TRANSACTION_PREFIX = "timehub-entry-"
# Change notifications (Graph subscriptions): an event subscription lives at most 10,080 minutes;
# TimeHub asks for 3 days and renews when less than one is left (pulls run every 15 minutes).
SUBSCRIPTION_LIFETIME = timedelta(days=3)
SUBSCRIPTION_RENEW_BEFORE = timedelta(days=1)
SUBSCRIPTION_STATE = "subscription"   # connector state: {"id", "resource", "address", "client_state", "expires"}
VALIDATION_TOKEN_MAX = 1024
# Graph calls only HTTPS notification URLs; a plain-HTTP address gets no subscription (tests widen this).
NOTIFIED_SCHEMES = ("https",)
# The preference holding the team calendar's id (absent: the account's default calendar).
TEAM_CALENDAR_SETTING = "team_calendar"
GROUP_PREFIX = "group:"  # the team calendar setting of a Microsoft 365 group's calendar: group:<group id>
EXTERNAL_ID_MAX = 200

SPEC = ProviderSpec(
    slug="outlook_calendar",
    name="Outlook Calendar",
    scope="global",
    auth_kind="oauth2",
    authorize_url=MICROSOFT_AUTHORIZE_URL,
    token_url=MICROSOFT_TOKEN_URL,
    api_base=GRAPH_API,
    # Group.ReadWrite.All: a Microsoft 365 group's calendar (delegated; needs an admin's consent).
    scopes=("offline_access", "User.Read", "Calendars.ReadWrite", "Calendars.ReadWrite.Shared", "Group.ReadWrite.All"),
    console_url=MICROSOFT_CONSOLE_URL,
    register_steps=MICROSOFT_REGISTER_STEPS,
    setup_fields=MICROSOFT_APP_FIELDS,
    rate_limit=RateLimit(8, 1.0, 4),  # Graph: 10,000 per 10 min per mailbox, 4 concurrent
    features={
        "import": "The team calendar's events appear as suggestions for the people invited to them.",
        "push": "Everyone's completed time entries appear in the team calendar.",
        "calendar": "Keeps a shared team calendar and the team's time entries in step.",
    },
    defaults={"sync_interval_minutes": 15},
)


class OutlookCalendarConnector(MicrosoftIdentity, Pulls, Pushes, SingleChoices, ReceivesWebhooks,
                               ConfirmsWebhookHandshake, ManagesRemoteSetup):
    spec = SPEC
    streams = ("calendar_events",)
    push_kinds = frozenset({"time_entry"})
    choice_fields = (SingleChoice(
        TEAM_CALENDAR_SETTING, "Team calendar", (), "The account's default calendar",
        "Every calendar the account can write: its own, those shared with it (added in Outlook), and the "
        "calendars of its Microsoft 365 groups. Its events become suggestions; everyone's entries go there."),)

    # -- the team calendar -----------------------------------------------------------------

    def choice_options(self, setting: str) -> list[AllowListOption]:
        """The account's own calendars, then those shared with it (named with their owner),
        then its Microsoft 365 groups; a calendar Graph does not say is writable is left out."""
        me = self.client.get_json("me", params={"$select": "mail,userPrincipalName"})
        own_addresses = {(me.get(key) or "").lower() for key in ("mail", "userPrincipalName")} - {""}
        own, shared = [], []
        for page in cursor_pages(self.client, "me/calendars", params={"$select": "id,name,canEdit,owner"},
                                 records="value", next_cursor="@odata.nextLink", cursor_param=None):
            for calendar in page:
                if calendar.get("canEdit") is not True:
                    continue
                owner = calendar.get("owner") or {}
                address = (owner.get("address") or "").lower()
                label = calendar.get("name") or calendar["id"]
                if not address or address in own_addresses:
                    own.append(AllowListOption(calendar["id"], label))
                else:
                    shared.append(AllowListOption(calendar["id"], label, f"shared by {owner.get('address')}"))
        return own + shared + self._group_options()

    def _group_options(self) -> list[AllowListOption]:
        """Microsoft 365 groups ("Unified"): only they have a calendar; security groups do not."""
        groups = []
        for page in cursor_pages(self.client, "me/memberOf/microsoft.graph.group",
                                 params={"$select": "id,displayName,groupTypes", "$top": GROUP_PAGE_SIZE},
                                 records="value", next_cursor="@odata.nextLink", cursor_param=None):
            groups += [AllowListOption(GROUP_PREFIX + group["id"], group.get("displayName") or group["id"],
                                       "Microsoft 365 group")
                       for group in page if "Unified" in (group.get("groupTypes") or ())]
        return groups

    @property
    def _chosen_calendar(self) -> str | None:
        # Before the single choice, the team calendar was the first id of the allow-list.
        return self.chosen(TEAM_CALENDAR_SETTING) or next(iter(sorted(self.preferences.get(ALLOW_LIST_SETTING)
                                                                      or ())), None)

    @property
    def group_id(self) -> str | None:
        """The Microsoft 365 group whose calendar is the team calendar, if it is one."""
        chosen = self._chosen_calendar
        return chosen[len(GROUP_PREFIX):] if chosen and chosen.startswith(GROUP_PREFIX) else None

    @property
    def calendar_path(self) -> str:
        """Where the team calendar's events live: `{calendar_path}/events`."""
        if self.group_id:
            return f"groups/{quote(self.group_id, safe='')}/calendar"
        chosen = self._chosen_calendar
        return f"me/calendars/{quote(chosen, safe='')}" if chosen else "me"

    def _event_path(self, event_id: str) -> str:
        return f"{self.calendar_path}/events/{quote(event_id, safe='')}"

    @contextmanager
    def _group_refusals(self):
        """On a group calendar, Graph's refusals in words: a missing permission needs a
        reconnect (and an admin's consent), a deleted group another pick."""
        if not self.group_id:
            yield
            return
        try:
            yield
        except AuthError as exc:
            if exc.status != 403:
                raise
            raise AuthError(f"Outlook Calendar: the group calendar needs the Group.ReadWrite.All permission, "
                            f"which this connection lacks; reconnect after an admin consented to it ({exc.message})",
                            403) from None
        except NotFoundError:
            raise _calendar_gone() from None

    # -- import ----------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        """The cursor is the link to read next: a nextLink of a read under way, or the
        deltaLink of the last one (JSON {"link": ..., "calendar": ...}). A link of another
        calendar than the chosen one is dropped, and so is a delta link Graph no longer
        knows (410): the calendar is read whole again."""
        if self.group_id:
            with self._group_refusals():
                yield from self._read_group()
            return
        state = json.loads(cursor) if cursor else {}
        link = state.get("link") if state.get("calendar") == self.calendar_path else None
        try:
            yield from self._read(link)
        except PermanentError as exc:
            if exc.status != 410 or link is None:
                raise
            yield from self._read(None)

    def _read(self, link: str | None):
        headers = {"Prefer": f'odata.maxpagesize={DELTA_PAGE_SIZE}, outlook.timezone="UTC"'}
        params = None
        if link is None:
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            params = {"startDateTime": rfc3339(now - timedelta(days=WINDOW_PAST_DAYS)),
                      "endDateTime": rfc3339(now + timedelta(days=WINDOW_AHEAD_DAYS))}
        whole, first = link is None, True  # a read from the start lists every event of the window
        for listed in delta_pages(self.client, link or f"{self.calendar_path}/calendarView/delta", params=params,
                                  records="value", next_page="@odata.nextLink", follow_up="@odata.deltaLink",
                                  page_param=None, headers=headers):
            following = listed.resume or listed.follow_up
            yield SyncPage([self._record(event) for event in listed],
                           json.dumps({"link": following, "calendar": self.calendar_path}),
                           listing_starts=whole and first,
                           listing_complete="calendar_event" if whole and not listed.resume else None)
            first = False

    def _read_group(self):
        """Graph has no delta for a group calendar: every read lists the whole window again.
        Event times come in UTC: Graph's default without `Prefer: outlook.timezone`."""
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        params = {"startDateTime": rfc3339(now - timedelta(days=WINDOW_PAST_DAYS)),
                  "endDateTime": rfc3339(now + timedelta(days=WINDOW_AHEAD_DAYS)), "$top": GROUP_VIEW_PAGE_SIZE}
        cursor = json.dumps({"link": None, "calendar": self.calendar_path})
        first = True
        for page in cursor_pages(self.client, f"groups/{quote(self.group_id, safe='')}/calendarView", params=params,
                                 records="value", next_cursor="@odata.nextLink", cursor_param=None):
            yield SyncPage([self._record(event) for event in page], cursor, listing_starts=first,
                           listing_complete="calendar_event" if page.resume is None else None)
            first = False

    def _record(self, event: dict) -> RemoteRecord:
        external_id = _external_id(event["id"])
        version = event.get("changeKey") or event.get("lastModifiedDateTime")
        if "@removed" in event or event.get("isCancelled"):
            return RemoteRecord("calendar_event", external_id, version, deleted=True)
        emails = [((event.get("organizer") or {}).get("emailAddress") or {}).get("address")]
        emails += [(a.get("emailAddress") or {}).get("address") for a in event.get("attendees") or ()
                   if ((a.get("status") or {}).get("response")) != "declined"]
        declined = {((a.get("emailAddress") or {}).get("address") or "").lower()
                    for a in event.get("attendees") or () if (a.get("status") or {}).get("response") == "declined"}
        fields = {"title": event.get("subject") or "(no title)", "user_ids": [],
                  "emails": [e for e in emails if e and e.lower() not in declined],
                  "series_key": event.get("seriesMasterId")}
        fields.update(_times(event))
        reason = fields.get("skip_reason") or _not_suggested_because(event)
        fields["suggestible"], fields["skip_reason"] = reason is None, reason
        return RemoteRecord("calendar_event", external_id, version, fields)

    # -- change notifications (Graph subscriptions) -----------------------------------------

    @classmethod
    def webhook_handshake(cls, headers, body: bytes) -> dict[str, str] | None:
        return None  # Graph's handshake is the validationToken in the query (below)

    @classmethod
    def webhook_handshake_text(cls, query: Mapping[str, str]) -> str | None:
        """Graph checks a new subscription's address by POSTing ?validationToken=...: the token
        must come back as text/plain within 10 seconds. Only a configured address gets here."""
        token = query.get("validationToken")
        if token is None:
            return None
        if not token or len(token) > VALIDATION_TOKEN_MAX or not token.isprintable():
            raise WebhookRejected(400, "unusable validationToken")
        return token

    @classmethod
    def verify_webhook(cls, integration, secrets_: Mapping[str, str], headers, body: bytes,
                       url: str) -> WebhookEvent:
        """Every notification of the batch must name TimeHub's subscription and carry its
        clientState (compared in constant time). Graph gives no delivery id: the body's digest
        stands in, so a notification Graph sends again is stored once."""
        stored = (integration.state or {}).get(SUBSCRIPTION_STATE) or {}
        expected = str(stored.get("client_state") or secrets.token_urlsafe(32)).encode()
        try:
            items = json.loads(body).get("value")
        except (ValueError, AttributeError):
            items = None
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise WebhookRejected(400, "no notifications in the body")
        for item in items:
            given = str(item.get("clientState") or "").encode()
            if not hmac.compare_digest(given, expected) or not stored or \
                    item.get("subscriptionId") != stored.get("id"):
                raise WebhookRejected(401, "unknown subscription or wrong clientState")
        return WebhookEvent("graph:" + hashlib.sha256(body).hexdigest(), "change")

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        return []  # a notification names the event that changed; the delta read brings it

    @classmethod
    def delivery_asks_for_pull(cls, event: str | None) -> bool:
        return event == "change"

    def housekeeping(self, run: RunContext) -> dict | None:
        """One live subscription on the team calendar's events, to this integration's address
        (none without one, nor for a group calendar)."""
        current = dict(self.state.get(SUBSCRIPTION_STATE) or {})
        resource = f"{self.calendar_path}/events"
        # Graph v1.0 notifies no changes of a group calendar's events: the periodic read covers it.
        if self.group_id or not run.webhook_url_in(NOTIFIED_SCHEMES):
            if current:
                self._unsubscribe(current)
            return self._with_subscription({})
        now = datetime.now(timezone.utc)
        if current and (current.get("resource"), current.get("address")) == (resource, run.webhook_url):
            if datetime.fromisoformat(current["expires"]) > now + SUBSCRIPTION_RENEW_BEFORE:
                return None
            expires = rfc3339((now + SUBSCRIPTION_LIFETIME).replace(tzinfo=None))
            try:
                self.client.request("PATCH", f"subscriptions/{quote(current['id'], safe='')}",
                                    json={"expirationDateTime": expires})
                return self._with_subscription({**current, "expires": expires.replace("Z", "+00:00")})
            except NotFoundError:
                pass  # Graph removed it (expired, or the grant changed): subscribe again
        elif current:
            self._unsubscribe(current)  # another calendar or address
        client_state = secrets.token_urlsafe(32)
        expires = rfc3339((now + SUBSCRIPTION_LIFETIME).replace(tzinfo=None))
        created = self.client.request("POST", "subscriptions", json={
            "changeType": "created,updated,deleted", "notificationUrl": run.webhook_url, "resource": resource,
            "expirationDateTime": expires, "clientState": client_state}).json()
        return self._with_subscription({"id": created["id"], "resource": resource, "address": run.webhook_url,
                                        "client_state": client_state, "expires": expires.replace("Z", "+00:00")})

    def _with_subscription(self, subscription: dict) -> dict | None:
        state = {**self.state, SUBSCRIPTION_STATE: subscription}
        return None if state == dict(self.state) else state

    def before_disconnect(self, run: RunContext) -> dict:
        current = self.state.get(SUBSCRIPTION_STATE) or {}
        if current:
            self._unsubscribe(current)
        return {**self.state, SUBSCRIPTION_STATE: {}}

    @classmethod
    def status_facts(cls, state) -> list[tuple[str, str]]:
        current = state.get(SUBSCRIPTION_STATE) or {}
        if not current:
            return [("Change notifications", "none: changes arrive with the periodic sync")]
        return [("Change notifications", f"subscribed; renewed before {current['expires'][:16]} UTC")]

    def _unsubscribe(self, subscription: dict) -> None:
        try:
            self.client.request("DELETE", f"subscriptions/{quote(subscription['id'], safe='')}")
        except NotFoundError:
            pass  # gone already

    # -- push ------------------------------------------------------------------------------

    @classmethod
    def wants_push(cls, integration, kind: str, entry, links) -> bool:
        return kind == "time_entry" and entry.ended_at is not None

    def push(self, request: PushRequest, run: RunContext) -> str:
        entry, external_id = request.record, request.external_id
        if entry.ended_at is None:
            if external_id:
                self.delete_remote(request.kind, external_id, run)
            raise PushSkipped("Running timers go to the team calendar once they stop.")
        with self._group_refusals():
            return self._upsert(request, run)

    def _upsert(self, request: PushRequest, run: RunContext) -> str:
        entry, external_id = request.record, request.external_id
        body = _event_body(entry)
        if external_id:
            try:
                return self.client.request("PATCH", self._event_path(external_id), json=body).json()["id"]
            except NotFoundError:
                pass  # deleted in Outlook (or made in an earlier team calendar): the entry goes there again
        if request.earlier_attempts:
            existing = self._pushed_before(entry.id)
            if existing and existing != external_id:
                return self._upsert(replace(request, external_id=existing, earlier_attempts=0), run)
        created = {**body, "transactionId": f"{TRANSACTION_PREFIX}{entry.id}",
                   "singleValueExtendedProperties": [{"id": ENTRY_PROPERTY_ID, "value": str(entry.id)}]}
        try:
            return self.client.request("POST", f"{self.calendar_path}/events", json=created).json()["id"]
        except NotFoundError:
            raise _calendar_gone() from None

    def _pushed_before(self, entry_id: int) -> str | None:
        found = self.client.get_json(f"{self.calendar_path}/events", params={
            "$filter": f"singleValueExtendedProperties/any(ep: ep/id eq '{ENTRY_PROPERTY_ID}' "
                       f"and ep/value eq '{entry_id}')", "$select": "id"})
        items = found.get("value") or []
        return items[0]["id"] if items else None

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        with self._group_refusals():
            try:
                self.client.request("DELETE", self._event_path(external_id))
            except NotFoundError:
                pass  # gone already (with its group, too)


def _calendar_gone() -> PermanentError:
    return PermanentError("Outlook Calendar: the team calendar no longer exists or is no longer shared "
                          "with the connected account; pick another one.", 404)


def _external_id(event_id: str) -> str:
    return event_id if len(event_id) <= EXTERNAL_ID_MAX else "h:" + hashlib.sha256(event_id.encode()).hexdigest()


def _times(event: dict) -> dict:
    start, end = event.get("start") or {}, event.get("end") or {}
    try:
        starts = to_utc_naive(start["dateTime"], start.get("timeZone"))
    except (KeyError, EventTimeUnreadable) as exc:
        return {"starts_at": datetime(1970, 1, 1), "ends_at": datetime(1970, 1, 1),
                "skip_reason": f"no usable start ({exc})"[:200]}
    if event.get("isAllDay"):
        return {"starts_at": starts, "ends_at": starts + timedelta(days=1), "skip_reason": "all-day event"}
    try:
        ends = to_utc_naive(end["dateTime"], end.get("timeZone") or start.get("timeZone"))
    except (KeyError, EventTimeUnreadable):
        return {"starts_at": starts, "ends_at": starts, "skip_reason": "no usable end time"}
    if ends <= starts:
        return {"starts_at": starts, "ends_at": starts, "skip_reason": "ends before it starts"}
    return {"starts_at": starts, "ends_at": ends}


def _not_suggested_because(event: dict) -> str | None:
    own = any(p.get("id") == ENTRY_PROPERTY_ID for p in event.get("singleValueExtendedProperties") or ())
    if own or (event.get("transactionId") or "").startswith(TRANSACTION_PREFIX):
        return "pushed by TimeHub"
    if event.get("showAs") == "free":
        return "shown as free"
    return None


def _event_body(entry) -> dict:
    parts = [part for part in (entry.user.name if entry.user else None,
                               entry.project.name if entry.project else None,
                               entry.task.title if entry.task else None) if part]
    return {
        "subject": " · ".join(parts) or "Time entry",
        "body": {"contentType": "text", "content": entry.description or ""},
        "start": {"dateTime": rfc3339(entry.started_at)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": rfc3339(entry.ended_at)[:-1], "timeZone": "UTC"},
        "showAs": "busy",
    }
