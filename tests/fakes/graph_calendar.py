"""A fake Microsoft Graph (calendars) over loopback, with a Microsoft-style OAuth server.

The API lives under `/v1.0`, as graph.json describes it, and answers for a live
bearer token of the authorization server (`self.oauth`):
- `GET me` (who connected), `GET me/calendars` (with `canEdit`);
- `GET me[/calendars/{id}]/calendarView/delta`: the first request needs
  `startDateTime` and `endDateTime`; pages as big as `Prefer: odata.maxpagesize`
  asks (default 10, at most MAX_PAGE), linked by an absolute `@odata.nextLink`
  (`$skiptoken`); the last page carries `@odata.deltaLink` (`$deltatoken`) which
  lists only what changed since, removed events as `{"id", "@removed"}`; times in
  UTC when `Prefer: outlook.timezone="UTC"` is sent, else in the event's zone;
- `POST me[/calendars/{id}]/events`: a `transactionId` seen before answers the event
  it created then, instead of a second one; `PATCH`/`DELETE me/events/{id}`;
  `GET .../events?$filter=singleValueExtendedProperties/any(...)`;
- `PATCH`/`DELETE me/calendars/{id}/events/{id}`: only an event of that calendar;
- an unknown calendar or event is 404 `ErrorItemNotFound`;
- `me/calendars` lists `canEdit` only when the test gave one, and a shared calendar's owner.

Microsoft 365 groups (described by tests/fixtures/graph-groups/openapi.json, written from
Graph's reference; its info.description names the pages):
- `GET me/memberOf/microsoft.graph.group`: the account's groups, `$top` (at most 999, default
  100) a page, linked by `@odata.nextLink` (`$skiptoken`); without a group-reading scope
  (Group.Read.All, Group.ReadWrite.All, GroupMember.Read.All, Directory.Read.All) each group
  comes with its id alone, as Graph returns directory objects it may not read;
- `GET groups/{id}/calendarView` (startDateTime and endDateTime required; `$top`, default 10,
  at most 1000; `@odata.nextLink` carries `$skip`), times in UTC (Graph's default); no delta;
- `POST`/`GET($filter) groups/{id}/calendar/events`, `PATCH`/`DELETE .../events/{id}`, with
  the same transactionId rule as above;
- reads need Group.Read.All or Group.ReadWrite.All, writes Group.ReadWrite.All: 403
  `ErrorAccessDenied` otherwise; a deleted (or unknown) group is 404 `Request_ResourceNotFound`.

Change notifications (Graph "subscription" resource; not in the trimmed graph.json, so these
calls are checked here against Graph's "Create subscription" reference instead):
- `POST subscriptions` needs `changeType`, `notificationUrl`, `resource` (`me/events` or
  `me/calendars/{id}/events`), `expirationDateTime` (at most 10,080 minutes ahead) and a
  `clientState` of at most 128 characters; before answering 201 it POSTs
  `notificationUrl?validationToken=<token>` and wants 200, text/plain, the token as the body
  (within 10 s), else 400 `ValidationError`;
- `PATCH subscriptions/{id}` (`expirationDateTime`), `DELETE subscriptions/{id}` (204; unknown 404);
- a change in a subscribed calendar queues a notification `{"value": [{subscriptionId,
  clientState, changeType, resource, resourceData, subscriptionExpirationDateTime, tenantId}]}`,
  POSTed as JSON when the test calls `deliver_notifications()`.

Test hooks: `lose_create_answers = n`, `expire_delta_tokens()` (answers 410
`SyncStateNotFound`, as Graph does for a delta token it no longer knows), `add_group()`,
`delete_group()`; `oauth.scope` set before connecting grants fewer scopes than asked.
"""
from __future__ import annotations

import itertools
import json
import re
import secrets
import socket
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx2
from werkzeug.wrappers import Request, Response

from tests.contract import Description
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi
from tests.fakes.server import FakeServer

BASE_PATH = "/v1.0"
# Calls the trimmed graph.json leaves out, checked against tests/fixtures/graph-groups/openapi.json.
GROUP_CALLS = re.compile(r"/v1\.0/(groups/.*|me/memberOf/.*|me/calendars/[^/]+/events/[^/]+)")


def _described(recorded):
    """Graph's subscription calls are not in the trimmed graph.json (see the module's docstring)."""
    if recorded.path.startswith(BASE_PATH + "/subscriptions") or GROUP_CALLS.fullmatch(recorded.path):
        return None
    return recorded


def _group_call(recorded):
    return recorded if GROUP_CALLS.fullmatch(recorded.path) else None


class Descriptions:
    """Several descriptions, each checking the requests its `locate` takes."""

    def __init__(self, *descriptions: Description):
        self.descriptions = descriptions

    def violations(self, recorded) -> list[str]:
        return [line for description in self.descriptions for line in description.violations(recorded)]


GRAPH = Description("graph", locate=_described)
GRAPH_GROUPS = Description("graph-groups", locate=_group_call)
GROUP_KEY = "group:"   # a group's calendar among `calendars`: group:<group id>
GROUP_READ_SCOPES = {"Group.Read.All", "Group.ReadWrite.All"}
DIRECTORY_READ_SCOPES = GROUP_READ_SCOPES | {"GroupMember.Read.All", "Directory.Read.All"}
DEFAULT_GROUP_PAGE, MAX_GROUP_PAGE = 100, 999
DEFAULT_PAGE, MAX_PAGE = 10, 1000
DEFAULT_CALENDAR = "AAMkDefaultCalendar"
PROPERTY_FILTER = re.compile(r"ep/id eq '([^']+)' and ep/value eq '([^']*)'")


def graph_time(moment: datetime) -> dict:
    """A UTC moment as Graph writes an event time."""
    return {"dateTime": moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _parse(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = head + "." + digits[:6] + rest[len(digits):]
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class FakeGraphCalendar(FakeProviderWithApi):
    slug = "outlook_calendar"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "graph-client",
                 client_secret: str = "graph-secret"):
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris)
        self.oauth.account = {"id": "u-1", "name": "Team Account", "email": "team@contoso.example"}
        self.api = FakeServer(self._app, description=Descriptions(GRAPH, GRAPH_GROUPS))
        self._lock = threading.RLock()
        self.calendars: dict[str, dict] = {DEFAULT_CALENDAR: {"name": "Calendar", "canEdit": True, "events": {}}}
        self.groups: dict[str, dict] = {}   # id -> {"displayName", "groupTypes", "deleted"}
        self._seq = itertools.count(1)
        self._changed: dict[str, int] = {}
        self._tokens: dict[str, dict] = {}
        self.lose_create_answers = 0
        self.subscriptions: dict[str, dict] = {}
        self._seen: set[str] = set()                     # event ids that existed before
        self.validations: list[tuple[int, str]] = []   # (status, content type) of each address check
        self._outbox: list[tuple[dict, str, str]] = []   # (subscription, change type, event id)

    def env(self, slug: str | None = None) -> dict[str, str]:
        return {**super().env(slug), f"{(slug or self.slug).upper()}_API_BASE": self.api.base_url + BASE_PATH}

    # -- test data -------------------------------------------------------------------

    def add_calendar(self, calendar_id: str, name: str, *, can_edit: bool | None = True,
                     owner: str | None = None) -> None:
        """`can_edit=None`: listed without `canEdit`; `owner`: shared by that address."""
        with self._lock:
            self.calendars[calendar_id] = {"name": name, "canEdit": can_edit, "events": {}, "owner": owner}

    def add_group(self, group_id: str, name: str, *, unified: bool = True) -> str:
        """A group the account is a member of; a Microsoft 365 ("Unified") one has a calendar,
        `calendars[GROUP_KEY + id]`. Returns that key."""
        with self._lock:
            self.groups[group_id] = {"displayName": name, "groupTypes": ["Unified"] if unified else [],
                                     "deleted": False}
            if unified:
                self.calendars[GROUP_KEY + group_id] = {"name": "Calendar", "canEdit": True, "events": {},
                                                        "group": True}
        return GROUP_KEY + group_id

    def delete_group(self, group_id: str) -> None:
        with self._lock:
            self.groups[group_id]["deleted"] = True

    def add_event(self, subject: str, start: datetime, minutes: int = 60, *, calendar_id: str = DEFAULT_CALENDAR,
                  organizer: str = "team@contoso.example", attendees: tuple = (), **extra) -> dict:
        """`attendees`: e-mails, or (e-mail, response) pairs."""
        people = [a if isinstance(a, tuple) else (a, "accepted") for a in attendees]
        event = {"id": "AAMkEv" + secrets.token_hex(8), "subject": subject, "start": graph_time(start),
                 "end": graph_time(start + timedelta(minutes=minutes)), "isAllDay": False, "isCancelled": False,
                 "showAs": "busy", "type": "singleInstance",
                 "organizer": {"emailAddress": {"address": organizer, "name": organizer}},
                 "attendees": [{"type": "required", "emailAddress": {"address": e, "name": e},
                                "status": {"response": r, "time": "0001-01-01T00:00:00Z"}} for e, r in people],
                 **extra}
        with self._lock:
            self._touch(calendar_id, event)
        return event

    def change_event(self, event_id: str, **changes) -> dict:
        with self._lock:
            calendar_id, event = self._find(event_id)
            event.update(changes)
            self._touch(calendar_id, event)
            return event

    def remove_event(self, event_id: str) -> None:
        with self._lock:
            calendar_id, event = self._find(event_id)
            event["_deleted"] = True
            self._touch(calendar_id, event)

    def events(self, calendar_id: str = DEFAULT_CALENDAR) -> list[dict]:
        with self._lock:
            return [e for e in self.calendars[calendar_id]["events"].values() if not e.get("_deleted")]

    def expire_delta_tokens(self) -> None:
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v["kind"] != "delta"}

    def _touch(self, calendar_id: str, event: dict) -> None:
        number = next(self._seq)
        event["changeKey"] = f"ck{number}"
        event["lastModifiedDateTime"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.calendars[calendar_id]["events"][event["id"]] = event
        self._changed[event["id"]] = number
        change = "deleted" if event.get("_deleted") else "updated" if event["id"] in self._seen else "created"
        self._seen.add(event["id"])
        self._outbox.extend((sub, change, event["id"]) for sub in self.subscriptions.values()
                            if sub["calendar"] == calendar_id)

    # -- change notifications -------------------------------------------------------

    def deliver_notifications(self) -> list[int]:
        """POST every queued notification to its subscription's address; the statuses answered."""
        with self._lock:
            queued, self._outbox = self._outbox, []
        statuses = []
        for sub, change, event_id in queued:
            body = {"value": [{"subscriptionId": sub["id"], "clientState": sub.get("clientState"),
                               "changeType": change, "resource": f"Users/u-1/Events/{event_id}",
                               "subscriptionExpirationDateTime": sub["expirationDateTime"],
                               "tenantId": "tenant-1",
                               "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": event_id}}]}
            statuses.append(httpx2.post(sub["notificationUrl"], json=body, timeout=10).status_code)
        return statuses

    def _subscribe(self, body: dict | None) -> tuple[int, dict, dict]:
        body = body or {}
        missing = [name for name in ("changeType", "notificationUrl", "resource", "expirationDateTime")
                   if not body.get(name)]
        match = re.fullmatch(r"me/(?:calendars/([^/]+)/)?events", body.get("resource") or "")
        if missing or match is None or len(body.get("clientState") or "") > 128:
            return 400, _error("InvalidRequest", f"Invalid subscription: {missing or body.get('resource')}"), {}
        if _parse(body["expirationDateTime"]) > datetime.now(timezone.utc) + timedelta(minutes=10080):
            return 400, _error("InvalidRequest", "expirationDateTime is beyond the maximum"), {}
        calendar_id = match.group(1) or DEFAULT_CALENDAR
        if calendar_id not in self.calendars:
            return 404, _error("ErrorItemNotFound", "The specified object was not found in the store."), {}
        token = secrets.token_urlsafe(24)
        answer = httpx2.post(body["notificationUrl"], params={"validationToken": token}, content=b"",
                             headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=10)
        content_type = answer.headers.get("content-type", "")
        self.validations.append((answer.status_code, content_type))
        if answer.status_code != 200 or not content_type.startswith("text/plain") or answer.text != token:
            return 400, _error("ValidationError", "Subscription validation request failed."), {}
        sub = {"id": "sub-" + secrets.token_hex(6), "resource": body["resource"], "changeType": body["changeType"],
               "notificationUrl": body["notificationUrl"], "expirationDateTime": body["expirationDateTime"],
               "clientState": body.get("clientState")}
        self.subscriptions[sub["id"]] = {**sub, "calendar": calendar_id}
        return 201, sub, {}

    def _subscription(self, sub_id: str, request: Request) -> tuple[int, dict | None, dict]:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return 404, _error("ResourceNotFound", "The object was not found."), {}
        if request.method == "DELETE":
            del self.subscriptions[sub_id]
            self._outbox = [queued for queued in self._outbox if queued[0]["id"] != sub_id]
            return 204, None, {}
        expires = (request.get_json(silent=True) or {}).get("expirationDateTime")
        if not expires or _parse(expires) > datetime.now(timezone.utc) + timedelta(minutes=10080):
            return 400, _error("InvalidRequest", "Invalid expirationDateTime"), {}
        sub["expirationDateTime"] = expires
        return 200, {k: v for k, v in sub.items() if k != "calendar"}, {}

    def _find(self, event_id: str) -> tuple[str, dict] | tuple[None, None]:
        for calendar_id, calendar in self.calendars.items():
            event = calendar["events"].get(event_id)
            if event is not None and not event.get("_deleted"):
                return calendar_id, event
        return None, None

    # -- the API ------------------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        status, body, headers = self._answer(request)
        if status == -1:
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            status, body = 500, None
        response = Response(status=status) if body is None else \
            Response(json.dumps(body), status, content_type="application/json")
        for name, value in headers.items():
            response.headers[name] = value
        return response(environ, start_response)

    def _answer(self, request: Request) -> tuple[int, dict | None, dict]:
        if not request.path.startswith(BASE_PATH + "/"):
            return 404, _error("ResourceNotFound", "Not found"), {}
        if self.oauth._bearer_grant(request.headers) is None:
            return 401, _error("InvalidAuthenticationToken", "Access token is empty or invalid."), {}
        parts = request.path[len(BASE_PATH) + 1:].split("/")
        if parts[0] == "subscriptions":
            if parts == ["subscriptions"] and request.method == "POST":
                return self._subscribe(request.get_json(silent=True))  # unlocked: it calls the address back
            if len(parts) == 2 and request.method in ("PATCH", "DELETE"):
                with self._lock:
                    return self._subscription(parts[1], request)
            return 405, _error("MethodNotAllowed", "Method not allowed"), {}
        if parts[0] == "groups":
            with self._lock:
                return self._group(request, parts)
        if parts[0] != "me":
            return 404, _error("ResourceNotFound", "Not found"), {}
        rest = parts[1:]
        with self._lock:
            if rest == [] and request.method == "GET":
                account = self.oauth.account
                return 200, {"id": account["id"], "displayName": account["name"], "mail": account["email"],
                             "userPrincipalName": account["email"]}, {}
            if rest == ["calendars"] and request.method == "GET":
                return 200, {"value": [self._listed_calendar(cid, c) for cid, c in self.calendars.items()
                                       if not c.get("group")]}, {}
            if rest == ["memberOf", "microsoft.graph.group"] and request.method == "GET":
                return self._memberships(request)
            calendar_id, addressed = DEFAULT_CALENDAR, False
            if rest[:1] == ["calendars"] and len(rest) >= 3:
                calendar_id, rest, addressed = rest[1], rest[2:], True
                if calendar_id not in self.calendars or self.calendars[calendar_id].get("group"):
                    return 404, _error("ErrorItemNotFound", "The specified object was not found in the store."), {}
            if rest == ["calendarView", "delta"] and request.method == "GET":
                return self._delta(calendar_id, request, parts)
            if rest == ["events"] and request.method == "POST":
                return self._create(calendar_id, request.get_json(silent=True))
            if rest == ["events"] and request.method == "GET":
                return self._filtered(calendar_id, request.args.get("$filter", ""))
            if len(rest) == 2 and rest[0] == "events" and request.method in ("PATCH", "DELETE", "GET"):
                return self._one(rest[1], request, calendar_id if addressed else None)
        return 405, _error("MethodNotAllowed", "Method not allowed"), {}

    def _listed_calendar(self, calendar_id: str, calendar: dict) -> dict:
        owner = calendar.get("owner") or self.oauth.account["email"]
        listed = {"id": calendar_id, "name": calendar["name"], "owner": {"name": owner, "address": owner}}
        if calendar["canEdit"] is not None:
            listed["canEdit"] = calendar["canEdit"]
        return listed

    # -- groups ---------------------------------------------------------------------------

    def _memberships(self, request: Request) -> tuple[int, dict, dict]:
        readable = bool(self._scopes(request) & DIRECTORY_READ_SCOPES)
        size = min(int(request.args.get("$top") or DEFAULT_GROUP_PAGE), MAX_GROUP_PAGE)
        start = int(request.args.get("$skiptoken") or 0)
        rows = [{"@odata.type": "#microsoft.graph.group", "id": gid,
                 **({"displayName": g["displayName"], "groupTypes": g["groupTypes"]} if readable else {})}
                for gid, g in self.groups.items() if not g["deleted"]]
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups",
                "value": rows[start:start + size]}
        if start + size < len(rows):
            body["@odata.nextLink"] = (f"{request.host_url.rstrip('/')}{request.path}?$top={size}"
                                       f"&$skiptoken={start + size}")
        return 200, body, {}

    def _scopes(self, request: Request) -> set[str]:
        grant = self.oauth._bearer_grant(request.headers)
        return set(grant.scope.split()) if grant is not None else set()

    def _group(self, request: Request, parts: list[str]) -> tuple[int, dict | None, dict]:
        group = self.groups.get(parts[1]) if len(parts) > 1 else None
        if group is None or group["deleted"] or GROUP_KEY + parts[1] not in self.calendars:
            return 404, _error("Request_ResourceNotFound", f"Resource '{parts[1] if len(parts) > 1 else ''}' does "
                               "not exist or one of its queried reference-property objects are not present."), {}
        needed = GROUP_READ_SCOPES if request.method == "GET" else {"Group.ReadWrite.All"}
        if not self._scopes(request) & needed:
            return 403, _error("ErrorAccessDenied", "Access is denied. Check credentials and try again."), {}
        key, rest = GROUP_KEY + parts[1], parts[2:]
        if rest == ["calendarView"] and request.method == "GET":
            return self._view(key, request)
        if rest == ["calendar", "events"] and request.method == "POST":
            return self._create(key, request.get_json(silent=True))
        if rest == ["calendar", "events"] and request.method == "GET":
            return self._filtered(key, request.args.get("$filter", ""))
        if len(rest) == 3 and rest[:2] == ["calendar", "events"] and request.method in ("PATCH", "DELETE"):
            return self._one(rest[2], request, key)
        return 405, _error("MethodNotAllowed", "Method not allowed"), {}

    def _view(self, calendar_id: str, request: Request) -> tuple[int, dict, dict]:
        """A group's calendarView: every live event of the window, by start, `$top` a page."""
        args = request.args
        if not args.get("startDateTime") or not args.get("endDateTime"):
            return 400, _error("ErrorInvalidParameter", "startDateTime and endDateTime are required."), {}
        low, high = _parse(args["startDateTime"]), _parse(args["endDateTime"])
        size = min(int(args.get("$top") or DEFAULT_PAGE), MAX_PAGE)
        skip = int(args.get("$skip") or 0)
        live = sorted((e for e in self.calendars[calendar_id]["events"].values() if not e.get("_deleted")
                       and _parse(e["end"]["dateTime"]) > low and _parse(e["start"]["dateTime"]) < high),
                      key=lambda e: (e["start"]["dateTime"], e["id"]))
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
                "value": [self._shown(calendar_id, e["id"], True) for e in live[skip:skip + size]]}
        if skip + size < len(live):
            query = urlencode({"startDateTime": args["startDateTime"], "endDateTime": args["endDateTime"],
                               "$top": size, "$skip": skip + size})
            body["@odata.nextLink"] = f"{request.host_url.rstrip('/')}{request.path}?{query}"
        return 200, body, {}

    def _page_size(self, request: Request) -> int:
        match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
        return min(int(match.group(1)), MAX_PAGE) if match else DEFAULT_PAGE

    def _delta(self, calendar_id: str, request: Request, parts: list[str]) -> tuple[int, dict, dict]:
        args, size = request.args, self._page_size(request)
        utc = 'outlook.timezone="UTC"' in request.headers.get("Prefer", "")
        link_base = request.host_url.rstrip("/") + request.path
        if args.get("$skiptoken"):
            listing = self._tokens.pop(args["$skiptoken"], None)
            if listing is None or listing["kind"] != "page":
                return 400, _error("ErrorInvalidUrlQuery", "Invalid skip token."), {}
        elif args.get("$deltatoken"):
            known = self._tokens.get(args["$deltatoken"])
            if known is None or known["kind"] != "delta":
                return 410, _error("SyncStateNotFound", "The sync state is not found or has expired."), {}
            listing = self._listing(calendar_id, known["window"], since=known["number"])
        else:
            if not args.get("startDateTime") or not args.get("endDateTime"):
                return 400, _error("ErrorInvalidParameter", "startDateTime and endDateTime are required."), {}
            listing = self._listing(calendar_id, (args["startDateTime"], args["endDateTime"]), since=None)
        page, remaining = listing["items"][:size], listing["items"][size:]
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
                "value": [self._shown(calendar_id, i, utc) for i in page]}
        token = secrets.token_urlsafe(12)
        if remaining:
            self._tokens[token] = {**listing, "kind": "page", "items": remaining}
            body["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
        else:
            self._tokens[token] = {"kind": "delta", "window": listing["window"], "number": listing["number"]}
            body["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
        return 200, body, {"Preference-Applied": f"odata.maxpagesize={size}"}

    def _listing(self, calendar_id: str, window: tuple[str, str], since: int | None) -> dict:
        low, high = _parse(window[0]), _parse(window[1])
        events = self.calendars[calendar_id]["events"]
        ids = []
        for event_id, event in events.items():
            if since is None and (event.get("_deleted") or event.get("isCancelled")):
                continue
            if since is not None and self._changed[event_id] <= since:
                continue
            if not (_parse(event["end"]["dateTime"]) > low and _parse(event["start"]["dateTime"]) < high):
                continue
            ids.append(event_id)
        ids.sort(key=lambda i: self._changed[i])
        return {"items": ids, "window": window, "number": max(self._changed.values(), default=0),
                "calendar": calendar_id}

    def _shown(self, calendar_id: str, event_id: str, utc: bool) -> dict:
        event = self.calendars[calendar_id]["events"][event_id]
        if event.get("_deleted"):
            return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}
        shown = {k: v for k, v in event.items() if not k.startswith("_") and k != "singleValueExtendedProperties"}
        if not utc and event.get("_zone"):
            shown["start"] = {**event["start"], "timeZone": event["_zone"]}
        return shown

    def _create(self, calendar_id: str, body: dict | None) -> tuple[int, dict | None, dict]:
        if not isinstance(body, dict) or "start" not in body or "end" not in body:
            return 400, _error("ErrorInvalidRequest", "start and end are required."), {}
        transaction = body.get("transactionId")
        for event in self.calendars[calendar_id]["events"].values():
            if transaction and event.get("transactionId") == transaction and not event.get("_deleted"):
                return 201, self._shown(calendar_id, event["id"], True), {}
        event = {**body, "id": "AAMkEv" + secrets.token_hex(8), "isCancelled": False, "isAllDay": False,
                 "organizer": {"emailAddress": {"address": self.oauth.account["email"]}}, "attendees": []}
        self._touch(calendar_id, event)
        if self.lose_create_answers > 0:
            self.lose_create_answers -= 1
            return -1, None, {}
        return 201, self._shown(calendar_id, event["id"], True), {}

    def _filtered(self, calendar_id: str, expression: str) -> tuple[int, dict, dict]:
        match = PROPERTY_FILTER.search(expression)
        if not match:
            return 400, _error("ErrorInvalidUrlQueryFilter", "Unsupported filter."), {}
        wanted = {"id": match.group(1), "value": match.group(2)}
        found = [{"id": e["id"]} for e in self.calendars[calendar_id]["events"].values()
                 if not e.get("_deleted") and wanted in (e.get("singleValueExtendedProperties") or [])]
        return 200, {"value": found}, {}

    def _one(self, event_id: str, request: Request, in_calendar: str | None = None) -> tuple[int, dict | None, dict]:
        """`in_calendar`: the event was addressed under that calendar, so it must be one of its own."""
        calendar_id, event = self._find(event_id)
        # me/events reaches the account's own mailbox only: not a group's nor another owner's calendar.
        foreign = calendar_id is not None and (self.calendars[calendar_id].get("group")
                                               or self.calendars[calendar_id].get("owner"))
        if event is None or (calendar_id != in_calendar if in_calendar is not None else foreign):
            return 404, _error("ErrorItemNotFound", "The specified object was not found in the store."), {}
        if request.method == "GET":
            return 200, self._shown(calendar_id, event_id, True), {}
        if request.method == "PATCH":
            event.update(request.get_json(silent=True) or {})
            self._touch(calendar_id, event)
            return 200, self._shown(calendar_id, event_id, True), {}
        event["_deleted"] = True
        self._touch(calendar_id, event)
        return 204, None, {}


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}
