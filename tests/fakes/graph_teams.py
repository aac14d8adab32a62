"""A fake of Microsoft Graph's Teams endpoints (https://graph.microsoft.com/v1.0), over loopback.

What TimeHub calls to post to a channel as the signed-in account:

- `GET /me` (who connected), `GET /me/joinedTeams`, `GET /teams/{id}/channels`,
  each paged with `@odata.nextLink` (the next page's full URL, carrying a
  `$skiptoken`) when more than `page_size` items are left;
- `POST /teams/{id}/channels/{id}/messages` with a chatMessage body; it needs the
  delegated `ChannelMessage.Send` scope (403 otherwise, with Graph's error shape
  `{"error": {"code": ..., "message": ...}}`), membership of the team (403), and an
  existing team and channel (404);
- tokens are the OAuth fake's (a revoked or expired one answers 401
  `InvalidAuthenticationToken`); `throttle_next(n)` answers 429 with Retry-After,
  `fail_next(n)` 503, as Graph does under load; `lose_answers_next(n)` stores the next
  n posted messages and drops the connection before the 201 leaves.

Every request is checked against Graph's description (../shared/specs/graph.json).
"""
from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from werkzeug.wrappers import Request, Response

from tests.contract import Description
from tests.fakes.server import FakeServer

GRAPH_DESCRIPTION = Description("graph")


@dataclass
class Team:
    id: str
    name: str
    member: bool = True
    channels: dict = field(default_factory=dict)  # id -> name


@dataclass
class Message:
    team_id: str
    channel_id: str
    content_type: str
    content: str
    id: str


def _error(status: int, code: str, message: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    return status, {"error": {"code": code, "message": message}}, headers or {}


class FakeGraphTeams:
    def __init__(self, *, oauth, page_size: int = 2):
        self.oauth = oauth
        self.page_size = page_size
        self.teams: dict[str, Team] = {}
        self.messages: list[Message] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._throttle: list[int] = []
        self._failures: list[int] = []
        self._lose = 0
        self.server = FakeServer(self._app, description=GRAPH_DESCRIPTION)

    def __enter__(self) -> "FakeGraphTeams":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    @property
    def api_base(self) -> str:
        return f"{self.server.base_url}/v1.0"

    def add_team(self, name: str, channels: tuple[str, ...] = ("General",), member: bool = True) -> Team:
        team = Team(f"{next(self._ids):08x}-0000-4000-8000-000000000000", name, member)
        for channel in channels:
            team.channels[f"19:{next(self._ids):06x}@thread.tacv2"] = channel
        self.teams[team.id] = team
        return team

    def throttle_next(self, count: int, retry_after: int = 1) -> None:
        with self._lock:
            self._throttle.extend([retry_after] * count)

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures.extend([503] * count)

    def lose_answers_next(self, count: int) -> None:
        with self._lock:
            self._lose += count

    def _scopes(self, request: Request) -> set[str] | None:
        header = request.headers.get("Authorization", "")
        grant = self.oauth.grant_for(header[7:]) if header.startswith("Bearer ") else None
        if grant is None or grant.revoked or grant.access_tokens.get(header[7:], 0) < time.time():
            return None
        return set(grant.scope.split())

    def _app(self, environ, start_response):
        request = Request(environ)
        status, body, headers = self._answer(request)
        if status == 201:
            with self._lock:
                lose, self._lose = self._lose > 0, max(self._lose - 1, 0)
            if lose:  # the message is stored; its answer goes to a dropped connection
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        response = Response(json.dumps(body) if body is not None else "", status=status, headers=headers,
                            content_type="application/json")
        return response(environ, start_response)

    def _answer(self, request: Request) -> tuple[int, dict | None, dict]:
        with self._lock:
            if self._failures:
                self._failures.pop(0)
                return _error(503, "serviceNotAvailable", "The service is temporarily unavailable.")
            if self._throttle:
                wait = self._throttle.pop(0)
                return _error(429, "TooManyRequests", "Too many requests.", {"Retry-After": str(wait)})
        scopes = self._scopes(request)
        if scopes is None:
            return _error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        parts = [unquote(part) for part in request.path.removeprefix("/v1.0/").split("/")]
        if request.method == "GET" and parts == ["me"]:
            account = self.oauth.account
            return 200, {"id": account["id"], "displayName": account["name"], "mail": account["email"],
                         "userPrincipalName": account["email"]}, {}
        if request.method == "GET" and parts == ["me", "joinedTeams"]:
            rows = [{"id": t.id, "displayName": t.name} for t in self.teams.values() if t.member]
            return self._page(request, rows)
        if len(parts) >= 3 and parts[0] == "teams" and parts[2] == "channels":
            team = self.teams.get(parts[1])
            if team is None:
                return _error(404, "NotFound", "No team found with Group Id")
            if not team.member:
                return _error(403, "Forbidden", "The user is not a member of the team.")
            if request.method == "GET" and len(parts) == 3:
                return self._page(request, [{"id": cid, "displayName": name, "membershipType": "standard"}
                                            for cid, name in team.channels.items()])
            if request.method == "POST" and len(parts) == 5 and parts[4] == "messages":
                return self._post(request, scopes, team, parts[3])
        return _error(404, "UnknownError", "Resource not found")

    def _page(self, request: Request, rows: list[dict]) -> tuple[int, dict, dict]:
        start = int(request.args.get("$skiptoken") or 0)
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata",
                "value": rows[start:start + self.page_size]}
        if start + self.page_size < len(rows):
            body["@odata.nextLink"] = f"{self.server.base_url}{quote(request.path)}?$skiptoken={start + self.page_size}"
        return 200, body, {}

    def _post(self, request: Request, scopes: set[str], team: Team, channel_id: str) -> tuple[int, dict, dict]:
        if "ChannelMessage.Send" not in scopes:
            return _error(403, "Forbidden", "Missing scope permissions on the request. API requires one of "
                          "'ChannelMessage.Send, Group.ReadWrite.All'.")
        if channel_id not in team.channels:
            return _error(404, "NotFound", "Channel not found")
        body = request.get_json(silent=True) or {}
        content = (body.get("body") or {}).get("content")
        if not content:
            return _error(400, "BadRequest", "Missing body content")
        with self._lock:
            message = Message(team.id, channel_id, (body.get("body") or {}).get("contentType", "text"), content,
                              str(int(time.time() * 1000) + next(self._ids)))
            self.messages.append(message)
        return 201, {"id": message.id, "messageType": "message", "body": body["body"]}, {}
