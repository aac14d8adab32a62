"""Google Calendar, per user: each user's own calendar <-> that user's time entries.

Import: the events of the calendars the user reads (the primary one unless they
chose others), expanded into single occurrences, over a window around today;
then only the changes, with the sync token Google hands out on a listing's last
page. A 410 answer means the token expired: the calendar is read whole again.
Every event becomes a local "calendar_event" of this user; all-day, declined,
free ("transparent") and TimeHub's own pushed events are kept but never
suggested.

Push notifications: with a public address (TIMEHUB_EXTERNAL_URL), each calendar read
is watched (`events.watch`, a channel with a random token of its own); Google then
calls the webhook address when something changed there, and TimeHub pulls the
changes at once (an incremental read: one request per calendar). Channels are
renewed a day before they expire, after any pull, and stopped on disconnect or when
the calendar is no longer read; the periodic sync stays the safety net.

Push: the user's completed time entries become events in their primary
calendar (or the one they chose), marked with a private extended property
holding the entry id: an edit patches the event, a delete deletes it, and a
retry after a lost answer finds the event by that property before creating
another one. The same property keeps pushed events out of the suggestions.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from app.integrations.base import Connector
from app.integrations.calendar_times import EventTimeUnreadable, rfc3339, to_utc_naive
from app.integrations.capabilities import AllowList, ManagesRemoteSetup, Pulls, Pushes, ReceivesWebhooks, SingleChoices
from app.integrations.exchange import (
    AllowListOption, PushRequest, PushSkipped, RemoteRecord, RunContext, SingleChoice, SyncPage, WebhookEvent,
    WebhookRejected,
)
from app.integrations.http import NotFoundError, PermanentError
from app.integrations.pagination import cursor_pages, delta_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec
from app.integrations.oauth import (
    ConnectedAccount,
    OAuthFlowError,
    OAuthProvider,
    TokenSet,
)

log = logging.getLogger(__name__)

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events"
# calendarList.list needs a scope of its own: the list of calendars to choose from.
CALENDAR_LIST_SCOPE = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")

EVENT_PAGE_SIZE = 2500          # the most events.list returns per page
CALENDAR_LIST_PAGE_SIZE = 250   # the most calendarList.list returns per page
# The window a full read covers; after it, sync tokens bring every change whatever its date.
WINDOW_PAST_DAYS = 366
WINDOW_AHEAD_DAYS = 92
# The private extended property that marks TimeHub's own events (its value: the entry id).
ENTRY_PROPERTY = "timehubEntryId"
# Where time entries go unless the user picked another calendar (a preference).
PUSH_CALENDAR_SETTING = "push_calendar"
EXTERNAL_ID_MAX = 200            # external_links.external_id
# Push notification channels (events.watch): asked to live a week (Google's most for events),
# renewed when less than a day is left; pulls run every 15 minutes, so one always comes first.
CHANNEL_TTL_SECONDS = 7 * 24 * 3600
CHANNEL_RENEW_BEFORE = timedelta(days=1)
CHANNELS_STATE = "channels"      # connector state: {calendar id: channel}
# X-Goog-Resource-State values: "sync" confirms a new channel; the others say something changed.
CHANGE_STATES = ("exists", "not_exists")
# Google delivers only to HTTPS addresses (with a valid certificate); a plain-HTTP address gets
# no channels, and the periodic sync alone (tests over loopback widen this).
NOTIFIED_SCHEMES = ("https",)
RESOURCE_STATES = ("sync",) + CHANGE_STATES

SPEC = ProviderSpec(
    slug="google_calendar",
    name="Google Calendar",
    scope="per_user",
    auth_kind="oauth2",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    revoke_url="https://oauth2.googleapis.com/revoke",
    api_base="https://www.googleapis.com/calendar/v3",
    # openid + email: the token answer then carries an ID token naming the account.
    scopes=("openid", "email", CALENDAR_SCOPE, CALENDAR_LIST_SCOPE),
    console_url="https://console.cloud.google.com/apis/credentials",
    register_steps=(
        "In Google Cloud Console enable the Google Calendar API for a project.",
        "Configure the OAuth consent screen and add the scopes listed below.",
        "Create an OAuth client ID of type 'Web application' with the redirect URI below.",
        "Copy the client ID and secret into this form; each user then connects their own calendar.",
        "Publish the app (OAuth consent screen, Publishing status: In production). While it stays in "
        "\"Testing\", Google expires every user's refresh token after 7 days and each of them has to "
        "connect again.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    rate_limit=RateLimit(8, 1.0, 4),  # per-user quota of the Calendar API
    features={
        "import": "Your calendar's events appear on your calendar page as suggestions to turn into time.",
        "push": "Your completed time entries appear as events in your Google calendar.",
        "calendar": "Each user's own calendar and their time entries stay in step.",
    },
    defaults={"sync_interval_minutes": 15},
    # A refresh token only with access_type=offline, and again on reconnect only with prompt=consent.
    oauth=OAuthProfile(authorize_params={"access_type": "offline", "prompt": "consent",
                                         "include_granted_scopes": "true"}),
)


# Calendars a user may add events to (calendarList accessRole).
WRITABLE_ROLES = ("owner", "writer")


class GoogleCalendarConnector(Connector, Pulls, Pushes, AllowList, SingleChoices, ReceivesWebhooks,
                              ManagesRemoteSetup):
    spec = SPEC
    streams = ("calendar_events",)
    push_kinds = frozenset({"time_entry"})
    allow_list_label = "Calendars read for suggestions"
    choice_fields = (SingleChoice(
        PUSH_CALENDAR_SETTING, "Calendar that receives your time entries", (), "Your primary calendar",
        "Entries already there stay where they are; new ones go to the calendar chosen here."),)

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """Refuse a grant without the calendar scope (Google's consent screen lets
        people untick it), and name the account by the ID token's e-mail."""
        missing = missing_scopes(token)
        if missing:  # the callback revokes a refused grant
            raise OAuthFlowError(
                "Google did not grant access to your calendar events (missing: " + ", ".join(missing) + "). "
                "Connect again and leave the calendar permission ticked on Google's consent screen; "
                "nothing was connected.")
        return ConnectedAccount(label=id_token_email(token.raw.get("id_token"), provider.client_id))

    # -- which calendars -----------------------------------------------------------------

    def _calendar_list(self) -> list[dict]:
        """Every page of the user's calendar list, read once per connector: the settings page
        asks for it twice (calendars read, push calendar) within one request."""
        if getattr(self, "_listed_calendars", None) is None:
            self._listed_calendars = [item for page in cursor_pages(
                self.client, "users/me/calendarList", params={"maxResults": CALENDAR_LIST_PAGE_SIZE},
                records="items", next_cursor="nextPageToken", cursor_param="pageToken") for item in page]
        return self._listed_calendars

    @staticmethod
    def _option(calendar: dict) -> AllowListOption:
        return AllowListOption(calendar["id"], calendar.get("summaryOverride") or calendar.get("summary")
                               or calendar["id"], "primary" if calendar.get("primary") else
                               calendar.get("accessRole", ""))

    def allow_list_options(self) -> list[AllowListOption]:
        return [self._option(c) for c in self._calendar_list()]

    def choice_options(self, setting: str) -> list[AllowListOption]:
        """The push calendar: only calendars the user may write to."""
        return [self._option(c) for c in self._calendar_list() if c.get("accessRole") in WRITABLE_ROLES]

    def read_calendars(self) -> list[str]:
        """The calendars read for suggestions: the chosen ones, or the primary one."""
        chosen = self.allowed_ids
        return sorted(chosen) if chosen else ["primary"]

    @property
    def push_calendar(self) -> str:
        return self.chosen(PUSH_CALENDAR_SETTING) or "primary"

    # -- import ----------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        """The cursor holds every calendar's sync token, and where a listing under way stopped:
        {"tokens": {calendar: token}, "at": calendar, "page": page token, "with": the sync token
        that listing started from (None: a full read)}."""
        state = json.loads(cursor) if cursor else {}
        tokens = {cal: token for cal, token in (state.get("tokens") or {}).items()}
        calendars = self.read_calendars()
        tokens = {cal: token for cal, token in tokens.items() if cal in calendars}
        # Every calendar read whole in this run (the first read, or after the settings changed):
        # a whole listing, so the engine archives the events of calendars no longer read.
        whole = not state.get("at") and not tokens
        for number, calendar_id in enumerate(calendars):
            resume = (state.get("page"), state.get("with")) if state.get("at") == calendar_id else (None, None)
            yield from self._read_calendar(calendar_id, tokens, *resume,
                                           listing=(whole and number == 0, whole and number == len(calendars) - 1))

    def _read_calendar(self, calendar_id: str, tokens: dict, page: str | None, started_with: str | None,
                       listing: tuple[bool, bool] = (False, False)):
        """One calendar's events; `listing`: whether its first page starts, and its last page
        ends, a whole listing of every calendar read."""
        sync_token = started_with if page else tokens.get(calendar_id)
        if sync_token:
            params = {"syncToken": sync_token}
        else:
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            params = {"timeMin": rfc3339(now - timedelta(days=WINDOW_PAST_DAYS)),
                      "timeMax": rfc3339(now + timedelta(days=WINDOW_AHEAD_DAYS))}
        params.update({"singleEvents": "true", "maxResults": EVENT_PAGE_SIZE})
        first = True
        try:
            for listed in delta_pages(self.client, f"calendars/{_quoted(calendar_id)}/events", params=params,
                                      records="items", next_page="nextPageToken", follow_up="nextSyncToken",
                                      page_param="pageToken", start=page):
                if listed.follow_up:
                    tokens[calendar_id] = listed.follow_up
                cursor = json.dumps({"tokens": tokens, "at": calendar_id if listed.resume else None,
                                     "page": listed.resume, "with": sync_token})
                yield SyncPage([self._record(calendar_id, event) for event in listed], cursor,
                               listing_starts=listing[0] and first,
                               listing_complete="calendar_event" if listing[1] and not listed.resume else None)
                first = False
        except PermanentError as exc:
            if exc.status != 410 or not sync_token:
                raise
            log.info("Google's sync token for a calendar expired (410); reading it whole again")
            tokens.pop(calendar_id, None)
            yield from self._read_calendar(calendar_id, tokens, None, None)

    def _record(self, calendar_id: str, event: dict) -> RemoteRecord:
        external_id = _external_id(calendar_id, event["id"])
        if event.get("status") == "cancelled":
            return RemoteRecord("calendar_event", external_id, event.get("etag"), deleted=True)
        fields = {"title": event.get("summary") or "(no title)", "user_ids": [self.integration.user_id],
                  "series_key": event.get("recurringEventId"), "emails": []}
        fields.update(_times(event))
        reason = fields.get("skip_reason") or _not_suggested_because(event)
        fields["suggestible"], fields["skip_reason"] = reason is None, reason
        return RemoteRecord("calendar_event", external_id, event.get("etag"), fields)

    # -- push notifications (events.watch channels) ---------------------------------------

    bodyless_deliveries = True  # everything is in the X-Goog-* headers

    @classmethod
    def verify_webhook(cls, integration, secrets_: Mapping[str, str], headers, body: bytes,
                       url: str) -> WebhookEvent:
        """A notification names its channel and carries the channel's own token, compared in
        constant time with the one TimeHub made for it; the message number makes the delivery id."""
        channel_id = headers.get("X-Goog-Channel-ID") or ""
        channels = ((integration.state or {}).get(CHANNELS_STATE) or {}).values()
        channel = next((c for c in channels if c.get("id") == channel_id), None)
        token = (headers.get("X-Goog-Channel-Token") or "").encode()
        expected = (channel or {}).get("token", secrets.token_urlsafe(32)).encode()
        if not hmac.compare_digest(token, expected) or channel is None:
            raise WebhookRejected(401, "unknown channel or wrong channel token")
        resource = headers.get("X-Goog-Resource-ID")
        if resource is not None and resource != channel.get("resource_id"):
            raise WebhookRejected(401, "the notification names another resource than its channel")
        state, number = headers.get("X-Goog-Resource-State"), headers.get("X-Goog-Message-Number") or ""
        if state not in RESOURCE_STATES:
            raise WebhookRejected(400, "unknown X-Goog-Resource-State")
        if not number.isdigit() or len(number) > 20:
            raise WebhookRejected(400, "X-Goog-Message-Number is not a number")
        return WebhookEvent(f"{channel_id}:{number}", state, accepted_status=200)

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        return []  # a notification says only that the calendar changed: the pull reads what

    @classmethod
    def delivery_asks_for_pull(cls, event: str | None) -> bool:
        return event in CHANGE_STATES

    def housekeeping(self, run: RunContext) -> dict | None:
        """Every calendar read has a live channel to this integration's address (none without
        one): new ones watched, ones near expiry replaced, others stopped."""
        channels = dict(self.state.get(CHANNELS_STATE) or {})
        wanted = set(self.read_calendars()) if run.webhook_url_in(NOTIFIED_SCHEMES) else set()
        for calendar_id in [c for c in channels if c not in wanted]:
            self._stop_channel(channels.pop(calendar_id))
        renew_by = datetime.now(timezone.utc) + CHANNEL_RENEW_BEFORE
        for calendar_id in sorted(wanted):
            old = channels.get(calendar_id)
            if old and old.get("address") == run.webhook_url and \
                    datetime.fromtimestamp(old["expires_ms"] / 1000, timezone.utc) > renew_by:
                continue
            channels[calendar_id] = self._watch(calendar_id, run.webhook_url)
            if old:
                self._stop_channel(old)  # after its successor exists: no change goes unnoticed
        state = {**self.state, CHANNELS_STATE: channels}
        return None if state == dict(self.state) else state

    def before_disconnect(self, run: RunContext) -> dict:
        for channel in (self.state.get(CHANNELS_STATE) or {}).values():
            self._stop_channel(channel)
        return {**self.state, CHANNELS_STATE: {}}

    @classmethod
    def status_facts(cls, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        channels = (state.get(CHANNELS_STATE) or {}).values()
        if not channels:
            return [("Push notifications", "none: changes arrive with the periodic sync")]
        soonest = min(c["expires_ms"] for c in channels) / 1000
        return [("Push notifications", f"{len(channels)} calendar(s) watched; renewed before "
                 f"{datetime.fromtimestamp(soonest, timezone.utc):%Y-%m-%d %H:%M} UTC")]

    def _watch(self, calendar_id: str, address: str) -> dict:
        token = secrets.token_urlsafe(32)
        answer = self.client.request("POST", f"calendars/{_quoted(calendar_id)}/events/watch", json={
            "id": str(uuid.uuid4()), "type": "web_hook", "address": address, "token": token,
            "params": {"ttl": str(CHANNEL_TTL_SECONDS)}}).json()
        expires = answer.get("expiration")
        expires_ms = int(expires) if str(expires or "").isdigit() else \
            int((datetime.now(timezone.utc).timestamp() + CHANNEL_TTL_SECONDS) * 1000)
        return {"id": answer["id"], "resource_id": answer.get("resourceId"), "token": token, "address": address,
                "expires_ms": expires_ms}

    def _stop_channel(self, channel: dict) -> None:
        try:
            self.client.request("POST", "channels/stop", json={"id": channel["id"],
                                                               "resourceId": channel.get("resource_id")})
        except NotFoundError:
            pass  # expired or stopped already

    # -- push ------------------------------------------------------------------------------

    @classmethod
    def wants_push(cls, integration, kind: str, entry, links) -> bool:
        return kind == "time_entry" and entry.user_id == integration.user_id and entry.ended_at is not None

    def push(self, request: PushRequest, run: RunContext) -> str:
        """The remote id is "<calendar>|<event id>": edits and deletes go to the calendar the
        event was made in, even after the user picked another one for new entries."""
        entry, external_id = request.record, request.external_id
        if entry.user_id != self.integration.user_id or entry.ended_at is None:
            if external_id:
                self.delete_remote(request.kind, external_id, run)
            raise PushSkipped("Only your own completed time entries go to your calendar.")
        body = _event_body(entry)
        if external_id:
            calendar_id, event_id = self._split(external_id)
            try:
                self.client.request("PATCH", f"calendars/{_quoted(calendar_id)}/events/{_quoted(event_id)}",
                                    json=body)
                return external_id
            except NotFoundError:
                pass  # deleted in Google Calendar; the entry still stands here, so it goes there again
            except PermanentError as exc:
                if exc.status != 410:  # 410: deleted in Google Calendar, as above
                    raise
        calendar_id = self.push_calendar
        events = f"calendars/{_quoted(calendar_id)}/events"
        if request.earlier_attempts:
            existing = self._pushed_before(events, entry.id)
            if existing and _pushed_id(calendar_id, existing) != external_id:  # an insert got through, unanswered
                return self.push(replace(request, external_id=_pushed_id(calendar_id, existing),
                                         earlier_attempts=0), run)
        try:
            return _pushed_id(calendar_id, self.client.request("POST", events, json=body).json()["id"])
        except NotFoundError:
            raise PermanentError(f"Google Calendar: the calendar {calendar_id!r} no longer exists or is "
                                 "not shared with this account; choose another one.", 404) from None

    def _split(self, external_id: str) -> tuple[str, str]:
        calendar_id, separator, event_id = external_id.rpartition("|")
        return (calendar_id, event_id) if separator else (self.push_calendar, external_id)

    def _pushed_before(self, events_path: str, entry_id: int) -> str | None:
        found = self.client.get_json(events_path, params={
            "privateExtendedProperty": f"{ENTRY_PROPERTY}={entry_id}", "maxResults": 10})
        live = [e for e in found.get("items", []) if e.get("status") != "cancelled"]
        return live[0]["id"] if live else None

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        calendar_id, event_id = self._split(external_id)
        try:
            self.client.request("DELETE", f"calendars/{_quoted(calendar_id)}/events/{_quoted(event_id)}")
        except NotFoundError:
            pass
        except PermanentError as exc:
            if exc.status != 410:  # 410: deleted already
                raise


def missing_scopes(token: TokenSet) -> list[str]:
    """Required scopes the token lacks. With granular consent the answer's `scope`
    lists what the person actually allowed; a missing `scope` means all that was
    asked (RFC 6749, 5.1)."""
    if token.scope is None:
        return []
    granted = set(token.scope.split())
    return [scope for scope in (CALENDAR_SCOPE,) if scope not in granted]


def id_token_email(id_token: str | None, client_id: str) -> str | None:
    """The e-mail claim of the ID token from the token answer, or None.

    The signature is not checked: the token came straight from Google's token
    endpoint over TLS, which authenticates it (OpenID Connect Core 3.1.3.7;
    Google's OpenID Connect guide says the same). Issuer and audience are still
    checked, so a token minted for another client is not taken as ours."""
    if not id_token:
        return None
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        log.warning("Google sent an ID token that could not be read; the account stays unnamed")
        return None
    if not isinstance(claims, dict) or claims.get("iss") not in GOOGLE_ISSUERS or claims.get("aud") != client_id:
        log.warning("Google's ID token names another issuer or audience; the account stays unnamed")
        return None
    email = claims.get("email")
    return email if isinstance(email, str) and email else None


def _quoted(segment: str) -> str:
    return quote(segment, safe="")


def _pushed_id(calendar_id: str, event_id: str) -> str:
    return f"{calendar_id}|{event_id}"


def _external_id(calendar_id: str, event_id: str) -> str:
    """Unique per calendar (one event invited to two calendars is two occurrences here)."""
    value = f"{calendar_id}/{event_id}"
    if len(value) <= EXTERNAL_ID_MAX:
        return value
    return "h:" + hashlib.sha256(value.encode()).hexdigest()


def _times(event: dict) -> dict:
    """starts_at / ends_at in UTC, or a skip reason when the times cannot be used."""
    start, end = event.get("start") or {}, event.get("end") or {}
    if "date" in start and "dateTime" not in start:
        day = datetime.fromisoformat(start["date"])
        return {"starts_at": day, "ends_at": day + timedelta(days=1), "skip_reason": "all-day event"}
    try:
        starts = to_utc_naive(start["dateTime"], start.get("timeZone"))
    except (KeyError, EventTimeUnreadable) as exc:
        return {"starts_at": datetime(1970, 1, 1), "ends_at": datetime(1970, 1, 1),
                "skip_reason": f"no usable start ({exc})"[:200]}
    try:
        ends = to_utc_naive(end["dateTime"], end.get("timeZone") or start.get("timeZone"))
    except (KeyError, EventTimeUnreadable):
        return {"starts_at": starts, "ends_at": starts, "skip_reason": "no usable end time"}
    if ends <= starts:
        return {"starts_at": starts, "ends_at": starts, "skip_reason": "ends before it starts"}
    return {"starts_at": starts, "ends_at": ends}


def _not_suggested_because(event: dict) -> str | None:
    private = (event.get("extendedProperties") or {}).get("private") or {}
    if ENTRY_PROPERTY in private:
        return "pushed by TimeHub"
    if event.get("transparency") == "transparent":
        return "shown as free"
    if any(a.get("self") and a.get("responseStatus") == "declined" for a in event.get("attendees") or ()):
        return "declined"
    return None


def _event_body(entry) -> dict:
    parts = [part for part in (entry.project.name if entry.project else None,
                               entry.task.title if entry.task else None) if part]
    return {
        "summary": " · ".join(parts) or entry.description or "Time entry",
        "description": entry.description or "",
        "start": {"dateTime": rfc3339(entry.started_at), "timeZone": "UTC"},
        "end": {"dateTime": rfc3339(entry.ended_at), "timeZone": "UTC"},
        "extendedProperties": {"private": {ENTRY_PROPERTY: str(entry.id)}},
    }
