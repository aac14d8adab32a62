"""A fake Google Calendar API v3 over loopback, with Google's OAuth (FakeOAuthProvider, "google").

Each grant reaches the account that was `oauth.account` when it was made, so two
users connecting two accounts see two sets of calendars; an account's primary
calendar has the account's e-mail as id and answers to "primary" too.

What it does like Google (calendar v3 reference):
- `GET users/me/calendarList`: pages of at most 250 (`maxResults`, `pageToken`);
  needs a calendar-list scope;
- `GET calendars/{id}/events`: `maxResults` (default 250, at most 2500) and opaque
  `pageToken`s; `timeMin`/`timeMax` (overlap), `singleEvents`,
  `privateExtendedProperty=key=value`; the last page of a listing carries
  `nextSyncToken`, and a request with `syncToken` lists only what changed since
  (deleted events as `status: cancelled`); `syncToken` with `timeMin`, `timeMax`
  or `privateExtendedProperty` is a 400; an expired or unknown token is
  410 `fullSyncRequired`;
- `POST`, `PATCH`, `DELETE calendars/{id}/events[/{eventId}]` (a deleted event answers
  410 again; an unknown one 404; an unknown calendar 404);
- 401 without a live bearer token, 403 `insufficientPermissions` without the scope.

Push notifications (calendar v3 "Push notifications" guide):
- `POST calendars/{id}/events/watch` with a Channel (`id`, `type` web_hook, `address`, optional
  `token` and `params.ttl` in seconds) answers the channel with a `resourceId` and an
  `expiration` (ms since the epoch; at most a week ahead); a channel id in use is 400;
- `POST channels/stop` with `id` and `resourceId` ends it (unknown: 404);
- notifications are real POSTs with an empty body to the channel's address, carrying
  `X-Goog-Channel-ID`, `X-Goog-Channel-Token`, `X-Goog-Channel-Expiration`,
  `X-Goog-Resource-ID`, `X-Goog-Resource-URI`, `X-Goog-Resource-State` (`sync` right after a
  watch, `exists` after a change) and `X-Goog-Message-Number`. They are queued and sent when
  the test calls `deliver_notifications()` (so a test decides when the provider calls back).

Test hooks: `lose_insert_answers = n` (the next n inserts happen but their answer
is a dropped connection), `fail_next(n, status)` (the next n API calls answer
`status`; a 429 says `rateLimitExceeded` with `Retry-After`), `expire_sync_tokens()`.
"""
from __future__ import annotations

import itertools
import json
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx2
from werkzeug.wrappers import Request, Response

from tests.contract import Description
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi
from tests.fakes.server import FakeServer

BASE_PATH = "/calendar/v3"
GOOGLE_CALENDAR = Description("google-calendar")
EVENTS_SCOPES = ("https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events")
LIST_SCOPES = EVENTS_SCOPES[:1] + ("https://www.googleapis.com/auth/calendar.readonly",
                                   "https://www.googleapis.com/auth/calendar.calendarlist",
                                   "https://www.googleapis.com/auth/calendar.calendarlist.readonly")
MAX_EVENTS_PAGE, DEFAULT_EVENTS_PAGE = 2500, 250
MAX_CALENDARS_PAGE, DEFAULT_CALENDARS_PAGE = 250, 100
MAX_CHANNEL_TTL = 7 * 24 * 3600  # seconds; Google caps an events channel at about a week


def at(text: str) -> dict:
    """An event time as Google writes it, from an RFC 3339 text: {"dateTime": "2026-03-29T09:00:00+02:00"}."""
    return {"dateTime": text}


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Calendar:
    id: str
    summary: str
    primary: bool = False
    access_role: str = "owner"   # calendarList's accessRole: owner, writer, reader, freeBusyReader
    events: dict[str, dict] = field(default_factory=dict)


class FakeGoogleCalendar(FakeProviderWithApi):
    slug = "google_calendar"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "google-client",
                 client_secret: str = "google-secret"):
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret,
                                       redirect_uris=redirect_uris, dialect="google")
        self.api = FakeServer(self._app, description=GOOGLE_CALENDAR)
        self._lock = threading.RLock()
        self.accounts: dict[str, dict[str, Calendar]] = {}   # e-mail -> calendar id -> calendar
        self._seq = itertools.count(1)
        self._changed: dict[tuple[str, str], int] = {}        # (calendar, event id) -> change number
        self._sync_tokens: dict[str, tuple[str, int]] = {}    # token -> (calendar, change number)
        self._page_tokens: dict[str, dict] = {}
        self._failures: list[int] = []
        self.lose_insert_answers = 0
        self.channels: dict[str, dict] = {}                   # channel id -> channel (with "calendar")
        self.stopped: list[str] = []                          # channel ids stopped, in order
        self._outbox: list[tuple[dict, str]] = []             # (channel, resource state) to notify

    def env(self, slug: str | None = None) -> dict[str, str]:
        return {**super().env(slug), f"{(slug or self.slug).upper()}_API_BASE": self.api.base_url + BASE_PATH}

    # -- test data -------------------------------------------------------------------

    def calendar(self, email: str, calendar_id: str | None = None, summary: str | None = None,
                 access_role: str = "owner") -> Calendar:
        """The account's calendar (created when new, with `access_role`; the primary one without an id)."""
        with self._lock:
            calendars = self.accounts.setdefault(email, {})
            if not calendars:
                calendars[email] = Calendar(email, email, primary=True)
            key = calendar_id or email
            if key not in calendars:
                calendars[key] = Calendar(key, summary or key, access_role=access_role)
            return calendars[key]

    def add_event(self, email: str, summary: str, start: dict, end: dict | None, *, calendar_id: str | None = None,
                  **extra) -> dict:
        with self._lock:
            calendar = self.calendar(email, calendar_id)
            event = {"kind": "calendar#event", "id": extra.pop("id", None) or _event_id(), "status": "confirmed",
                     "summary": summary, "start": start,
                     "organizer": {"email": email, "self": True}, "creator": {"email": email, "self": True},
                     **({"end": end} if end is not None else {}), **extra}
            self._touch(calendar, event)
            return event

    def add_series(self, email: str, summary: str, first_start: datetime, minutes: int, count: int,
                   every: timedelta = timedelta(days=7), **extra) -> list[dict]:
        """A recurring event's occurrences, as `singleEvents=true` lists them."""
        series = _event_id()
        return [self.add_event(email, summary, at((first_start + every * n).isoformat()),
                               at((first_start + every * n + timedelta(minutes=minutes)).isoformat()),
                               id=f"{series}_{n}", recurringEventId=series, **extra) for n in range(count)]

    def change_event(self, email: str, event_id: str, calendar_id: str | None = None, **changes) -> dict:
        with self._lock:
            calendar = self.calendar(email, calendar_id)
            event = calendar.events[event_id]
            event.update(changes)
            self._touch(calendar, event)
            return event

    def cancel_event(self, email: str, event_id: str, calendar_id: str | None = None) -> None:
        self.change_event(email, event_id, calendar_id, status="cancelled")

    def events(self, email: str, calendar_id: str | None = None, *, live: bool = True) -> list[dict]:
        with self._lock:
            found = list(self.calendar(email, calendar_id).events.values())
        return [e for e in found if e["status"] != "cancelled"] if live else found

    def expire_sync_tokens(self) -> None:
        with self._lock:
            self._sync_tokens.clear()

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def _touch(self, calendar: Calendar, event: dict) -> None:
        number = next(self._seq)
        event["updated"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event["etag"] = f'"{number}"'
        calendar.events[event["id"]] = event
        self._changed[(calendar.id, event["id"])] = number
        self._outbox.extend((channel, "exists") for channel in self.channels.values()
                            if channel["calendar"] == calendar.id)

    # -- push notifications --------------------------------------------------------

    def deliver_notifications(self) -> list[int]:
        """Send every queued notification to its channel's address; the HTTP statuses answered."""
        with self._lock:
            queued, self._outbox = self._outbox, []
        statuses = []
        for channel, state in queued:
            channel["messages"] += 1
            headers = {"X-Goog-Channel-ID": channel["id"], "X-Goog-Channel-Expiration": channel["expiration_text"],
                       "X-Goog-Resource-ID": channel["resourceId"], "X-Goog-Resource-URI": channel["resourceUri"],
                       "X-Goog-Resource-State": state, "X-Goog-Message-Number": str(channel["messages"])}
            if channel.get("token") is not None:
                headers["X-Goog-Channel-Token"] = channel["token"]
            statuses.append(httpx2.post(channel["address"], headers=headers, content=b"", timeout=10).status_code)
        return statuses

    def _watch(self, calendar: Calendar, body: dict | None) -> tuple[int, dict]:
        body = body or {}
        if not body.get("id") or body.get("type") not in ("web_hook", "webhook") or not body.get("address"):
            return 400, _error(400, "required", "Required: id, type web_hook, address")
        if body["id"] in self.channels:
            return 400, _error(400, "channelIdNotUnique", "Channel id not unique")
        ttl = min(int((body.get("params") or {}).get("ttl") or MAX_CHANNEL_TTL), MAX_CHANNEL_TTL)
        expiration = int((datetime.now(timezone.utc) + timedelta(seconds=ttl)).timestamp() * 1000)
        channel = {"kind": "api#channel", "id": body["id"], "resourceId": "res-" + secrets.token_hex(6),
                   "resourceUri": f"https://www.googleapis.com/calendar/v3/calendars/{calendar.id}/events",
                   "expiration": str(expiration), **({"token": body["token"]} if "token" in body else {})}
        self.channels[body["id"]] = {**channel, "calendar": calendar.id, "address": body["address"],
                                     "messages": 0, "expiration_text": datetime.fromtimestamp(
                                         expiration / 1000, timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")}
        self._outbox.append((self.channels[body["id"]], "sync"))
        return 200, channel

    def _stop(self, body: dict | None) -> tuple[int, dict | None]:
        body = body or {}
        channel = self.channels.get(body.get("id") or "")
        if channel is None or channel["resourceId"] != body.get("resourceId"):
            return 404, _error(404, "notFound", "Channel not found")
        del self.channels[channel["id"]]
        self._outbox = [(queued, state) for queued, state in self._outbox if queued["id"] != channel["id"]]
        self.stopped.append(channel["id"])
        return 204, None

    # -- the API ------------------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        status, body = self._answer(request)
        if status == -1:  # the insert happened; its answer is lost with the connection
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            status, body = 500, None
        response = Response(status=status) if body is None else \
            Response(json.dumps(body), status, content_type="application/json; charset=UTF-8")
        if status == 429:
            response.headers["Retry-After"] = "0"
        return response(environ, start_response)

    def _answer(self, request: Request) -> tuple[int, dict | None]:
        with self._lock:
            if self._failures:
                status = self._failures.pop(0)
                if status == 429:
                    return status, _error(429, "rateLimitExceeded", "Rate Limit Exceeded")
                return status, _error(status, "backendError", "Backend Error")
        if not request.path.startswith(BASE_PATH + "/"):
            return 404, _error(404, "notFound", "Not Found")
        grant = self.oauth._bearer_grant(request.headers)
        if grant is None:
            return 401, _error(401, "authError", "Request had invalid authentication credentials.")
        scopes = set(grant.scope.split())
        parts = request.path[len(BASE_PATH) + 1:].split("/")
        email = grant.account_email
        if parts[:3] == ["users", "me", "calendarList"] and request.method == "GET":
            if not scopes & set(LIST_SCOPES):
                return 403, _error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
            return self._calendar_list(email, request.args)
        if not scopes & set(EVENTS_SCOPES):
            return 403, _error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        if parts == ["channels", "stop"] and request.method == "POST":
            with self._lock:
                return self._stop(request.get_json(silent=True))
        if len(parts) < 3 or parts[0] != "calendars" or parts[2] != "events":
            return 404, _error(404, "notFound", "Not Found")
        with self._lock:
            calendars = self.accounts.get(email) or {}
            calendar_id = email if parts[1] == "primary" else parts[1]
            calendar = calendars.get(calendar_id) or (self.calendar(email) if calendar_id == email else None)
            if calendar is None:
                return 404, _error(404, "notFound", "Not Found")
            if len(parts) == 3 and request.method == "GET":
                return self._list(calendar, request.args)
            if len(parts) == 3 and request.method == "POST":
                return self._insert(calendar, request.get_json(silent=True))
            if parts[3:] == ["watch"] and request.method == "POST":
                return self._watch(calendar, request.get_json(silent=True))
            if len(parts) == 4:
                return self._one(calendar, parts[3], request)
        return 405, _error(405, "methodNotAllowed", "Method Not Allowed")

    def _calendar_list(self, email: str, args) -> tuple[int, dict]:
        with self._lock:
            self.calendar(email)
            items = [{"kind": "calendar#calendarListEntry", "id": c.id, "summary": c.summary, "accessRole": c.access_role,
                      **({"primary": True} if c.primary else {})} for c in self.accounts[email].values()]
        size = min(int(args.get("maxResults", DEFAULT_CALENDARS_PAGE)), MAX_CALENDARS_PAGE)
        offset = int(args.get("pageToken") or 0)
        body = {"kind": "calendar#calendarList", "etag": '"l"', "items": items[offset:offset + size]}
        if offset + size < len(items):
            body["nextPageToken"] = str(offset + size)
        else:
            body["nextSyncToken"] = "cl-" + secrets.token_hex(4)
        return 200, body

    def _list(self, calendar: Calendar, args) -> tuple[int, dict]:
        size = min(int(args.get("maxResults", DEFAULT_EVENTS_PAGE)), MAX_EVENTS_PAGE)
        if args.get("pageToken"):
            listing = self._page_tokens.get(args["pageToken"])
            if listing is None or listing["calendar"] != calendar.id:
                return 400, _error(400, "invalid", "Invalid page token.")
        else:
            listing = self._new_listing(calendar, args)
            if isinstance(listing, tuple):
                return listing
        ids, offset = listing["ids"], listing["offset"]
        page = [calendar.events[i] for i in ids[offset:offset + size]]
        body = {"kind": "calendar#events", "summary": calendar.summary, "etag": f'"{listing["number"]}"',
                "updated": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "items": page}
        if offset + size < len(ids):
            token = secrets.token_urlsafe(12)
            self._page_tokens[token] = {**listing, "offset": offset + size}
            body["nextPageToken"] = token
        else:
            token = secrets.token_urlsafe(12)
            self._sync_tokens[token] = (calendar.id, listing["number"])
            body["nextSyncToken"] = token
        return 200, body

    def _new_listing(self, calendar: Calendar, args):
        number = max(self._changed.values(), default=0)
        if args.get("syncToken"):
            if any(args.get(name) for name in ("timeMin", "timeMax", "privateExtendedProperty", "updatedMin")):
                return 400, _error(400, "invalid", "Sync token cannot be used with other filters.")
            known = self._sync_tokens.get(args["syncToken"])
            if known is None or known[0] != calendar.id:
                return 410, _error(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
            since = known[1]
            ids = [i for i, e in calendar.events.items() if self._changed[(calendar.id, i)] > since]
        else:
            low = _parse(args["timeMin"]) if args.get("timeMin") else None
            high = _parse(args["timeMax"]) if args.get("timeMax") else None
            wanted = None
            if args.get("privateExtendedProperty"):
                key, _, value = args["privateExtendedProperty"].partition("=")
                wanted = (key, value)
            ids = []
            for event_id, event in calendar.events.items():
                if event["status"] == "cancelled" and args.get("showDeleted") != "true":
                    continue
                if wanted and ((event.get("extendedProperties") or {}).get("private") or {}).get(wanted[0]) != wanted[1]:
                    continue
                if (low or high) and not _overlaps(event, low, high):
                    continue
                ids.append(event_id)
        ids.sort(key=lambda i: self._changed[(calendar.id, i)])
        return {"calendar": calendar.id, "ids": ids, "offset": 0, "number": number}

    def _insert(self, calendar: Calendar, body: dict | None) -> tuple[int, dict]:
        if not isinstance(body, dict) or "start" not in body or "end" not in body:
            return 400, _error(400, "required", "Missing end time.")
        event = {**body, "kind": "calendar#event", "id": _event_id(), "status": "confirmed",
                 "organizer": {"email": calendar.id, "self": True}, "creator": {"email": calendar.id, "self": True}}
        self._touch(calendar, event)
        if self.lose_insert_answers > 0:
            self.lose_insert_answers -= 1
            return -1, None
        return 200, event

    def _one(self, calendar: Calendar, event_id: str, request: Request) -> tuple[int, dict | None]:
        event = calendar.events.get(event_id)
        if event is None:
            return 404, _error(404, "notFound", "Not Found")
        if event["status"] == "cancelled":
            return 410, _error(410, "deleted", "Resource has been deleted")
        if request.method == "GET":
            return 200, event
        if request.method == "PATCH":
            event.update(request.get_json(silent=True) or {})
            self._touch(calendar, event)
            return 200, event
        if request.method == "DELETE":
            event["status"] = "cancelled"
            self._touch(calendar, event)
            return 204, None
        return 405, _error(405, "methodNotAllowed", "Method Not Allowed")


def _overlaps(event: dict, low: datetime | None, high: datetime | None) -> bool:
    start, end = event.get("start") or {}, event.get("end") or event.get("start") or {}
    begins = _parse(start["dateTime"]) if "dateTime" in start else \
        datetime.fromisoformat(start["date"]).replace(tzinfo=timezone.utc)
    ends = _parse(end["dateTime"]) if "dateTime" in end else \
        datetime.fromisoformat(end["date"]).replace(tzinfo=timezone.utc)
    if begins.tzinfo is None:
        begins = begins.replace(tzinfo=timezone.utc)
    if ends.tzinfo is None:
        ends = ends.replace(tzinfo=timezone.utc)
    return (low is None or ends > low) and (high is None or begins < high)


def _event_id() -> str:
    """Google's event ids: base32hex characters (a-v, 0-9)."""
    alphabet = "abcdefghijklmnopqrstuv0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def _error(code: int, reason: str, message: str) -> dict:
    return {"error": {"code": code, "message": message,
                      "errors": [{"domain": "global", "reason": reason, "message": message}]}}
