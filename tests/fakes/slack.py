"""A fake Slack Web API (https://slack.com/api) served over loopback.

The subset TimeHub calls, with Slack's own behaviour where a client meets it:

- auth by `Authorization: Bearer <bot token>`; a token the OAuth fake did not
  issue (or revoked) answers `invalid_auth`, none `not_authed`;
- errors as Slack gives them: HTTP 200 with `{"ok": false, "error": ...}`
  (`channel_not_found`, `not_in_channel`, `is_archived`, `missing_scope` with
  `needed`/`provided`, `user_not_found`, `invalid_cursor`, `no_text`);
- each method's scope: chat:write, channels:read / groups:read by the types
  asked, users:read (and users:read.email for the profile's e-mail);
- rate limits per method tier (Tier 2: 20 a minute, Tier 3: 50, Tier 4: 100;
  chat.postMessage about one a second per channel, with a short burst),
  answered with 429, `Retry-After` and `{"ok": false, "error": "ratelimited"}`;
  `throttle_next(method, n)` answers the next n calls with 429 deterministically
  and `fail_next(method, n, status)` with 5xx; `lose_answers_next(method, n)` does
  the work of the next n successful calls (the message is stored) and then drops
  the connection before the answer leaves, as a timeout after sending looks;
- conversations.list and users.list paged with `limit` (at most 1000, and the fake hands out
  at most `page_cap` however many are asked) and an opaque cursor in
  `response_metadata.next_cursor` ("" on the last page); private channels are
  listed only when the bot is in them, as Slack does;
- `signed_command()` builds a slash-command request signed with the app's
  signing secret (v0 HMAC-SHA256), as Slack sends it; `response_url()` hands out
  a reply address on this fake (as Slack's hooks.slack.com/commands/...), whose
  POSTed answers are kept in `replies` (an address it never handed out: 404).

Every request is checked against Slack's description (../shared/specs/slack.json,
converted to OpenAPI 3 by tests/contract.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from tests.contract import Description
from tests.fakes.server import FakeServer

# A slash command's response_url is not a Web API method (Slack documents it with the
# commands, not in the Web API's description): the only path left unchecked.
REPLY_PREFIX = "/commands/"
SLACK_DESCRIPTION = Description(
    "slack", locate=lambda recorded: None if recorded.path.startswith(REPLY_PREFIX) else recorded)
MAX_LIST_LIMIT = 1000
# (requests, per seconds) of each method's tier (api.slack.com/apis/rate-limits).
TIERS = {"conversations.list": (20, 60.0), "users.list": (20, 60.0), "users.info": (100, 60.0),
         "auth.test": (100, 60.0)}
POST_MESSAGE_PER_CHANNEL = (3, 1.0)  # "1 per second" with short bursts allowed
SCOPES = {"chat.postMessage": "chat:write", "users.info": "users:read"}


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    member: bool = True
    archived: bool = False


@dataclass
class Posted:
    channel: str
    text: str
    blocks: list
    ts: str


@dataclass
class _Window:
    limit: int
    seconds: float
    times: deque = field(default_factory=deque)

    def take(self, now: float) -> float | None:
        """None when the call may go, else the seconds until it could."""
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return self.times[0] + self.seconds - now
        self.times.append(now)
        return None


class FakeSlack:
    def __init__(self, *, oauth=None, page_cap: int = 200, rate_limits: bool = True):
        self.oauth = oauth                      # a FakeOAuthProvider whose bot tokens are valid here
        self.tokens: dict[str, set[str]] = {}   # tokens added by hand: token -> scopes
        self.page_cap = page_cap
        self.rate_limits = rate_limits
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict] = {}
        self.posted: list[Posted] = []
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._throttle: dict[str, list[float]] = {}
        self._failures: dict[str, list[int]] = {}
        self._lose: dict[str, int] = {}
        self._reply_paths: set[str] = set()
        self.replies: list[dict] = []           # the JSON bodies POSTed to a response_url
        self.server = FakeServer(self._app, description=SLACK_DESCRIPTION)

    # -- lifecycle and seeding ------------------------------------------------------

    def __enter__(self) -> "FakeSlack":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    @property
    def api_base(self) -> str:
        return f"{self.server.base_url}/api"

    def add_channel(self, name: str, **kw) -> Channel:
        channel = Channel(f"C{len(self.channels) + 1:08d}", name, **kw)
        self.channels[channel.id] = channel
        return channel

    def add_user(self, user_id: str, email: str | None, name: str = "someone", **flags) -> None:
        """`flags`: Slack's user flags, such as is_bot=True or deleted=True."""
        self.users[user_id] = {"id": user_id, "name": name, "deleted": False, "is_bot": False, **flags,
                               "profile": {"email": email, "real_name": name}}

    def throttle_next(self, method: str, count: int, retry_after: float = 1) -> None:
        with self._lock:
            self._throttle.setdefault(method, []).extend([retry_after] * count)

    def clear_throttle(self) -> None:
        with self._lock:
            self._throttle.clear()

    def fail_next(self, method: str, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend([status] * count)

    def response_url(self) -> str:
        path = f"{REPLY_PREFIX}T0FAKE001/{next(self._ts)}/{base64.urlsafe_b64encode(bytes(8)).decode()}"
        self._reply_paths.add(path)
        return f"{self.server.base_url}{path}"

    def lose_answers_next(self, method: str, count: int) -> None:
        with self._lock:
            self._lose[method] = self._lose.get(method, 0) + count

    def _loses_answer(self, method: str) -> bool:
        with self._lock:
            if self._lose.get(method, 0) > 0:
                self._lose[method] -= 1
                return True
            return False

    def calls(self, method: str) -> list:
        return [r for r in self.server.requests if r.path == f"/api/{method}"]

    # -- requests -------------------------------------------------------------------

    def _scopes(self, request: Request) -> set[str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = header[7:]
        if token in self.tokens:
            return self.tokens[token]
        grant = self.oauth.grant_for(token) if self.oauth is not None else None
        if grant is None or grant.revoked or token not in grant.access_tokens:
            return set()  # known to be bad, unlike a missing one
        return set(grant.scope.replace(",", " ").split())

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith(REPLY_PREFIX):
            return self._reply(request)(environ, start_response)
        method = request.path.removeprefix("/api/")
        status, body, headers = self._answer(request, method)
        if body.get("ok") and self._loses_answer(method):  # done, but the answer never arrives
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        response = Response(json.dumps(body), status=status, headers=headers, content_type="application/json")
        return response(environ, start_response)

    def _reply(self, request: Request) -> Response:
        """A POST to a response_url: Slack shows the JSON message to the command's sender."""
        if request.method != "POST" or request.path not in self._reply_paths:
            return Response("no_active_hooks", status=404, content_type="text/plain")
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("text"):
            return Response("no_text", status=400, content_type="text/plain")
        with self._lock:
            self.replies.append(body)
        return Response("ok", status=200, content_type="text/plain")

    def _answer(self, request: Request, method: str) -> tuple[int, dict, dict]:
        with self._lock:
            failures = self._failures.get(method)
            if failures:
                return failures.pop(0), {"ok": False, "error": "internal_error"}, {}
            throttled = self._throttle.get(method)
            if throttled:
                return self._ratelimited(throttled.pop(0))
        scopes = self._scopes(request)
        if scopes is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if not scopes:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = {"chat.postMessage": self._post_message, "conversations.list": self._list,
                   "users.info": self._user_info, "users.list": self._user_list}.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return handler(request, scopes)

    def _ratelimited(self, wait: float) -> tuple[int, dict, dict]:
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(int(wait + 0.999), 1))}

    def _over_limit(self, key: str, limit: tuple[int, float]) -> tuple[int, dict, dict] | None:
        if not self.rate_limits:
            return None
        with self._lock:
            window = self._windows.setdefault(key, _Window(*limit))
            wait = window.take(time.monotonic())
        return None if wait is None else self._ratelimited(wait)

    @staticmethod
    def _missing(needed: str, scopes: set[str]) -> tuple[int, dict, dict]:
        return 200, {"ok": False, "error": "missing_scope", "needed": needed,
                     "provided": ",".join(sorted(scopes))}, {}

    def _post_message(self, request: Request, scopes: set[str]) -> tuple[int, dict, dict]:
        if "chat:write" not in scopes:
            return self._missing("chat:write", scopes)
        data = request.get_json(silent=True) if request.mimetype == "application/json" else request.form.to_dict()
        if not isinstance(data, dict):
            return 200, {"ok": False, "error": "invalid_json"}, {}
        channel = self.channels.get(str(data.get("channel") or ""))
        if channel is None or (channel.private and not channel.member):
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        limited = self._over_limit(f"chat.postMessage:{channel.id}", POST_MESSAGE_PER_CHANNEL)
        if limited:
            return limited
        if channel.archived:
            return 200, {"ok": False, "error": "is_archived"}, {}
        if not channel.member:
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        if not data.get("text") and not data.get("blocks"):
            return 200, {"ok": False, "error": "no_text"}, {}
        with self._lock:
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self.posted.append(Posted(channel.id, str(data.get("text") or ""), list(data.get("blocks") or []), ts))
        return 200, {"ok": True, "channel": channel.id, "ts": ts,
                     "message": {"type": "message", "text": data.get("text") or "", "ts": ts}}, {}

    @staticmethod
    def _page_of(request: Request, rows: list, cap: int) -> tuple[list, str] | None:
        """(the page asked for with `limit` and `cursor`, the next cursor or ""); None: a bad cursor."""
        try:
            limit = min(int(request.args.get("limit") or 100), MAX_LIST_LIMIT, cap)
            start = int(base64.b64decode(request.args["cursor"]).decode().removeprefix("next:")) \
                if request.args.get("cursor") else 0
        except (ValueError, UnicodeDecodeError):
            return None
        following = start + limit
        cursor = base64.b64encode(f"next:{following}".encode()).decode() if following < len(rows) else ""
        return rows[start:following], cursor

    def _list(self, request: Request, scopes: set[str]) -> tuple[int, dict, dict]:
        types = set((request.args.get("types") or "public_channel").split(","))
        for kind, scope in (("public_channel", "channels:read"), ("private_channel", "groups:read")):
            if kind in types and scope not in scopes:
                return self._missing(scope, scopes)
        limited = self._over_limit("conversations.list", TIERS["conversations.list"])
        if limited:
            return limited
        exclude_archived = request.args.get("exclude_archived") in ("true", "1")
        listed = [c for c in self.channels.values()
                  if (("private_channel" if c.private else "public_channel") in types)
                  and (not c.private or c.member) and not (exclude_archived and c.archived)]
        paged = self._page_of(request, listed, self.page_cap)
        if paged is None:
            return 200, {"ok": False, "error": "invalid_cursor"}, {}
        page, cursor = paged
        return 200, {"ok": True, "channels": [{
            "id": c.id, "name": c.name, "is_channel": not c.private, "is_private": c.private,
            "is_member": c.member, "is_archived": c.archived} for c in page],
            "response_metadata": {"next_cursor": cursor}}, {}

    def _user_info(self, request: Request, scopes: set[str]) -> tuple[int, dict, dict]:
        if "users:read" not in scopes:
            return self._missing("users:read", scopes)
        limited = self._over_limit("users.info", TIERS["users.info"])
        if limited:
            return limited
        user = self.users.get(request.args.get("user", ""))
        if user is None:
            return 200, {"ok": False, "error": "user_not_found"}, {}
        profile = dict(user["profile"])
        if "users:read.email" not in scopes or not profile.get("email"):
            profile.pop("email", None)
        return 200, {"ok": True, "user": {**user, "profile": profile}}, {}


    def _user_list(self, request: Request, scopes: set[str]) -> tuple[int, dict, dict]:
        """users.list: everyone in the workspace, bots and deactivated people included (flagged)."""
        if "users:read" not in scopes:
            return self._missing("users:read", scopes)
        limited = self._over_limit("users.list", TIERS["users.list"])
        if limited:
            return limited
        paged = self._page_of(request, list(self.users.values()), self.page_cap)
        if paged is None:
            return 200, {"ok": False, "error": "invalid_cursor"}, {}
        page, cursor = paged
        email_visible = "users:read.email" in scopes
        members = [{**user, "profile": {key: value for key, value in user["profile"].items()
                                        if value is not None and (key != "email" or email_visible)}}
                   for user in page]
        return 200, {"ok": True, "members": members, "response_metadata": {"next_cursor": cursor}}, {}


def signed_command(secret: str, *, text: str, user_id: str = "U0ANN", timestamp: int | None = None,
                   team_id: str = "T0FAKE001",
                   response_url: str = "https://hooks.slack.com/commands/T0FAKE001/1/abc") -> tuple[dict, bytes]:
    """(headers, body) of a /timehub request as Slack sends it, signed with `secret`."""
    body = urlencode({"token": "deprecated-verification-token", "team_id": team_id, "channel_id": "C00000001",
                      "user_id": user_id, "user_name": "ann", "command": "/timehub", "text": text,
                      "response_url": response_url,
                      "trigger_id": "1.2.3"}).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}, body
