"""A fake Trello REST API (https://api.trello.com/1) served over loopback.

It speaks the subset TimeHub uses, with Trello's own behaviour where it
matters to a client:

- auth by `key` and `token` parameters: a missing or unknown key answers
  401 `invalid key`, a bad or revoked token 401 `invalid token` (plain text,
  like Trello);
- 24-hex ids whose first 8 digits are the creation time in seconds (Trello
  ids are Mongo ObjectIds), so ids sort in creation order; a malformed id
  answers 400 `invalid id`, an unknown one 404;
- `fields=a,b` selects fields (`id` always comes back), `all` or no value
  returns everything;
- board cards are paged with `limit` (1..1000), `before` and `since` (card
  ids); results are in creation order: without `since` a page holds the
  newest `limit` cards (page backwards with `before=<first id>`), with only
  `since` the oldest `limit` cards after it (page forwards with
  `since=<last id>`);
- rate limits: a per-token window like Trello's (100 requests per 10 s by
  default when enabled) with its `x-rate-limit-api-token-*` headers, or
  `throttle_next(n)` to answer the next n requests with 429 deterministically;
- board lists with their cards nested (`cards=all|open|closed`, `card_fields`);
- board actions (`GET /boards/{id}/actions`): every change made through the
  seeding helpers (`update_card`, `delete_card`, `update_list`, ...) is an
  action, newest first, filtered by `filter`, `since` / `before` (action ids
  or dates) and `limit` (1..1000);
- members show their e-mail only where Trello would (`email_visible`);
- webhooks: create (optionally checking the callback answers HEAD with 200,
  as Trello does), delete, and `deliver()` a signed delivery
  (`X-Trello-Webhook` = base64 HMAC-SHA1 of body + callback URL, keyed by the
  application secret).

Seed it with `add_member`, `add_credentials`, `add_board`, `add_list`,
`add_card`; run it with `with FakeTrello() as trello:` and point the app at
`trello.api_base`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
import re
import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx2
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.contract import Description
from tests.fakes.paged_provider import Faults
from tests.fakes.server import FakeServer, RecordedRequest

# Every request is checked against Trello's description (tests/fakes/server.py); the fake is
# mounted at the description's own base path, /1.
TRELLO_DESCRIPTION = Description("trello")
TRELLO_ID = re.compile(r"^[0-9a-fA-F]{24}$")
MAX_CARDS_LIMIT = 1000
CARD_FILTERS = {"all", "closed", "open", "visible"}
BOARD_FILTERS = {"all", "closed", "members", "open", "organization", "public", "starred"}
LIST_FILTERS = {"all", "closed", "none", "open"}


class TrelloError(Exception):
    """Answered as Trello does: a status and a short plain-text body."""

    def __init__(self, status: int, text: str, headers: dict | None = None, json_body: dict | None = None):
        super().__init__(text)
        self.status, self.text, self.headers, self.json_body = status, text, headers or {}, json_body


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Member:
    id: str
    username: str
    full_name: str
    email: str | None = None
    email_visible: bool = False   # Trello shows others' e-mail only in managed workspaces

    def as_json(self, board_ids: list[str]) -> dict:
        initials = "".join(part[0] for part in self.full_name.split()[:2]).upper()
        return {"id": self.id, "username": self.username, "fullName": self.full_name, "initials": initials,
                "url": f"https://trello.com/{self.username}", "memberType": "normal", "confirmed": True,
                "idBoards": board_ids}

    def public_json(self) -> dict:
        found = {"id": self.id, "fullName": self.full_name, "username": self.username}
        if self.email_visible and self.email:
            found["email"] = self.email
        return found


@dataclass
class Board:
    id: str
    name: str
    member_ids: set[str]
    id_organization: str
    short_link: str
    desc: str = ""
    closed: bool = False
    date_last_activity: str = field(default_factory=_now_iso)

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "desc": self.desc, "closed": self.closed,
                "idOrganization": self.id_organization, "pinned": False,
                "url": f"https://trello.com/b/{self.short_link}/{_slugify(self.name)}",
                "shortUrl": f"https://trello.com/b/{self.short_link}", "shortLink": self.short_link,
                "dateLastActivity": self.date_last_activity}


@dataclass
class TrelloList:
    id: str
    board_id: str
    name: str
    pos: float
    closed: bool = False

    def as_json(self) -> dict:
        return {"id": self.id, "idBoard": self.board_id, "name": self.name, "closed": self.closed,
                "pos": self.pos, "subscribed": False}


@dataclass
class Card:
    id: str
    board_id: str
    list_id: str
    name: str
    pos: float
    id_short: int
    short_link: str
    desc: str = ""
    closed: bool = False
    due: str | None = None
    member_ids: list[str] = field(default_factory=list)
    date_last_activity: str = field(default_factory=_now_iso)

    def as_json(self) -> dict:
        return {"id": self.id, "idBoard": self.board_id, "idList": self.list_id, "name": self.name,
                "desc": self.desc, "closed": self.closed, "due": self.due, "dueComplete": False,
                "pos": self.pos, "idShort": self.id_short, "shortLink": self.short_link,
                "url": f"https://trello.com/c/{self.short_link}/{self.id_short}-{_slugify(self.name)}",
                "shortUrl": f"https://trello.com/c/{self.short_link}", "idMembers": list(self.member_ids),
                "idLabels": [], "labels": [], "dateLastActivity": self.date_last_activity}


@dataclass
class Webhook:
    id: str
    id_model: str
    callback_url: str
    description: str
    active: bool
    token: str
    api_key: str  # whose application secret signs the deliveries

    def as_json(self) -> dict:
        return {"id": self.id, "description": self.description, "idModel": self.id_model,
                "callbackURL": self.callback_url, "active": self.active, "consecutiveFailures": 0,
                "firstConsecutiveFailDate": None}


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "item"


def _parse_bool(value: str, name: str) -> bool:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TrelloError(400, f"invalid value for {name}")


def _select_fields(record: dict, fields: str | None) -> dict:
    if not fields or fields == "all":
        return record
    wanted = {name.strip() for name in fields.split(",")} | {"id"}
    return {key: value for key, value in record.items() if key in wanted}


class FakeTrello:
    """The fake's state, its WSGI app, and the loopback server that runs it."""

    def __init__(self, *, rate_limit: tuple[int, float] | None = None, check_webhook_callbacks: bool = False,
                 faults: Faults | None = None, fault_seed: int = 3):
        self._lock = threading.RLock()
        # Injected faults (tests.fakes.paged_provider.Faults), drawn per call before it is handled.
        self.faults = faults
        self.faults_struck: list[str] = []
        self._fault_rng = random.Random(fault_seed)
        self._clock = itertools.count(int(time.time()) - 86_400)  # one "second" per id keeps them ordered
        self.members: dict[str, Member] = {}
        self.boards: dict[str, Board] = {}
        self.lists: dict[str, TrelloList] = {}
        self.cards: dict[str, Card] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.actions: list[dict] = []               # oldest first
        self.app_secrets: dict[str, str] = {}      # API key -> application secret (signs webhooks)
        self.tokens: dict[str, tuple[str, str]] = {}  # token -> (API key, member id)
        self.rate_limit = rate_limit
        self.check_webhook_callbacks = check_webhook_callbacks
        self._recent: dict[str, deque[float]] = {}
        self._throttled = 0
        self._throttle_retry_after: int | None = None
        self._card_numbers = itertools.count(1)
        self._server: FakeServer | None = None
        self._urls = Map([
            Rule("/1/members/<member_ref>", endpoint="member", methods=["GET"]),
            Rule("/1/members/<member_ref>/boards", endpoint="member_boards", methods=["GET"]),
            Rule("/1/boards/<board_id>", endpoint="board", methods=["GET"]),
            Rule("/1/boards/<board_id>/lists", endpoint="board_lists", methods=["GET"]),
            Rule("/1/boards/<board_id>/cards", endpoint="board_cards", methods=["GET"]),
            Rule("/1/boards/<board_id>/actions", endpoint="board_actions", methods=["GET"]),
            Rule("/1/boards/<board_id>/members", endpoint="board_members", methods=["GET"]),
            Rule("/1/cards/<card_id>", endpoint="card", methods=["GET"]),
            Rule("/1/webhooks", endpoint="create_webhook", methods=["POST"], strict_slashes=False),
            Rule("/1/webhooks/<webhook_id>", endpoint="delete_webhook", methods=["DELETE"]),
        ])

    # ---- seeding -----------------------------------------------------------------

    def new_id(self) -> str:
        """A Trello-shaped id: creation seconds (8 hex) + 16 random hex digits."""
        with self._lock:
            return f"{next(self._clock):08x}{secrets.token_hex(8)}"

    def add_member(self, full_name: str = "Tess Trello", username: str | None = None, *, email: str | None = None,
                   email_visible: bool = False) -> Member:
        member = Member(self.new_id(), username or _slugify(full_name).replace("-", ""), full_name, email,
                        email_visible)
        with self._lock:
            self.members[member.id] = member
        return member

    def add_credentials(self, member: Member, key: str | None = None, token: str | None = None) -> tuple[str, str]:
        """Register an API key (with its application secret) and a token of `member`."""
        key = key or secrets.token_hex(16)
        token = token or "ATTA" + secrets.token_hex(32)
        with self._lock:
            self.app_secrets.setdefault(key, secrets.token_hex(32))
            self.tokens[token] = (key, member.id)
        return key, token

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self.tokens.pop(token, None)

    def add_board(self, name: str, *members: Member, closed: bool = False, desc: str = "") -> Board:
        board = Board(self.new_id(), name, {m.id for m in members}, self.new_id(), secrets.token_urlsafe(6)[:8],
                      desc=desc, closed=closed)
        with self._lock:
            self.boards[board.id] = board
        self.record_action(board.id, "createBoard", board=board)
        return board

    def add_list(self, board: Board, name: str, *, closed: bool = False) -> TrelloList:
        with self._lock:
            pos = 16384.0 * (1 + sum(1 for lst in self.lists.values() if lst.board_id == board.id))
            trello_list = TrelloList(self.new_id(), board.id, name, pos, closed)
            self.lists[trello_list.id] = trello_list
        return trello_list

    def add_card(self, trello_list: TrelloList, name: str, *, closed: bool = False, desc: str = "",
                 due: str | None = None, members: tuple[Member, ...] = ()) -> Card:
        with self._lock:
            pos = 16384.0 * (1 + sum(1 for c in self.cards.values() if c.list_id == trello_list.id))
            card = Card(self.new_id(), trello_list.board_id, trello_list.id, name, pos, next(self._card_numbers),
                        secrets.token_urlsafe(6)[:8], desc=desc, closed=closed, due=due,
                        member_ids=[m.id for m in members])
            self.cards[card.id] = card
        self.record_action(card.board_id, "createCard", card=card, list_id=card.list_id)
        return card

    # ---- changes, each recorded as a board action ------------------------------------

    def record_action(self, board_id: str, kind: str, *, card: Card | None = None, board: Board | None = None,
                      list_id: str | None = None, **extra) -> dict:
        board = board or self.boards[board_id]
        data: dict = {"board": {"id": board.id, "name": board.name, "shortLink": board.short_link}}
        if card is not None:
            data["card"] = {"id": card.id, "name": card.name, "idShort": card.id_short, "shortLink": card.short_link}
        if list_id is not None and list_id in self.lists:
            data["list"] = {"id": list_id, "name": self.lists[list_id].name}
        data.update(extra)
        action = {"id": self.new_id(), "idMemberCreator": next(iter(board.member_ids), self.new_id()),
                  "type": kind, "date": _now_iso(), "data": data, "_board": board_id}
        with self._lock:
            self.actions.append(action)
            if card is not None:
                card.date_last_activity = action["date"]
        return action

    def update_card(self, card: Card, *, name: str | None = None, to_list: TrelloList | None = None,
                    closed: bool | None = None, members: tuple[Member, ...] | None = None) -> dict:
        with self._lock:
            if name is not None:
                card.name = name
            if to_list is not None:
                card.list_id = to_list.id
            if closed is not None:
                card.closed = closed
            if members is not None:
                card.member_ids = [m.id for m in members]
        return self.record_action(card.board_id, "updateCard", card=card, list_id=card.list_id)

    def delete_card(self, card: Card) -> dict:
        with self._lock:
            del self.cards[card.id]
        return self.record_action(card.board_id, "deleteCard", card=card)

    def move_card_to_board(self, card: Card, to_list: TrelloList) -> None:
        source = card.board_id
        with self._lock:
            card.board_id, card.list_id = to_list.board_id, to_list.id
        self.record_action(source, "moveCardFromBoard", card=card, boardTarget={"id": to_list.board_id})
        self.record_action(to_list.board_id, "moveCardToBoard", card=card, list_id=to_list.id,
                           boardSource={"id": source})

    def update_list(self, trello_list: TrelloList, *, name: str | None = None, closed: bool | None = None) -> dict:
        with self._lock:
            if name is not None:
                trello_list.name = name
            if closed is not None:
                trello_list.closed = closed
        return self.record_action(trello_list.board_id, "updateList", list_id=trello_list.id)

    def board_cards(self, board: Board) -> list[Card]:
        return sorted((c for c in self.cards.values() if c.board_id == board.id), key=lambda c: c.id)

    def throttle_next(self, count: int, retry_after: int | None = None) -> None:
        """Answer the next `count` requests with 429, whatever the rate."""
        with self._lock:
            self._throttled = count
            self._throttle_retry_after = retry_after

    # ---- running -----------------------------------------------------------------

    def start(self) -> "FakeTrello":
        self._server = FakeServer(self, description=TRELLO_DESCRIPTION).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "FakeTrello":
        return self.start()

    def __exit__(self, *exc) -> None:
        server = self._server
        self.stop()
        if exc[0] is None and server is not None:
            server.raise_violations()

    @property
    def server(self) -> FakeServer:
        assert self._server is not None, "FakeTrello is not running: use start() or `with`"
        return self._server

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def api_base(self) -> str:
        """What TRELLO_API_BASE should be: the fake's `/1` root."""
        return self.base_url + "/1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    # ---- webhooks delivered to the app ----------------------------------------------

    def signature(self, api_key: str, body: bytes, callback_url: str) -> str:
        digest = hmac.new(self.app_secrets[api_key].encode(), body + callback_url.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def deliver(self, webhook: Webhook, action: dict, *, body: bytes | None = None, signature: str | None = None,
                **client_kwargs) -> httpx2.Response:
        """POST a signed delivery of `action` to the webhook's callback URL, like Trello
        (`body` / `signature` replace what Trello would send, for forged or malformed ones)."""
        action = {key: value for key, value in action.items() if not key.startswith("_")}
        if body is None:
            body = json.dumps({"action": action, "model": self._model_json(webhook.id_model)}).encode()
        headers = {"Content-Type": "application/json",
                   "X-Trello-Webhook": signature or self.signature(webhook.api_key, body, webhook.callback_url)}
        with httpx2.Client(**client_kwargs) as client:
            return client.post(webhook.callback_url, content=body, headers=headers)

    # ---- HTTP ----------------------------------------------------------------------

    def __call__(self, environ: dict, start_response):
        request = Request(environ)
        try:
            endpoint, values = self._urls.bind_to_environ(environ).match()
            params = self._params(request)
            self._inject_fault(environ)
            member = self._authenticate(params)
            self._check_rate(params["token"])
            result = getattr(self, f"_{endpoint}")(member, params, **values)
            response = Response(json.dumps(result), status=200, content_type="application/json; charset=utf-8")
        except TrelloError as exc:
            if exc.json_body is not None:
                response = Response(json.dumps(exc.json_body), status=exc.status, content_type="application/json")
            else:
                response = Response(exc.text, status=exc.status, content_type="text/plain; charset=utf-8")
            response.headers.update(exc.headers)
        except (NotFound, MethodNotAllowed):
            response = Response("Cannot " + request.method + " " + request.path, status=404, content_type="text/plain")
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    def _inject_fault(self, environ) -> None:
        with self._lock:
            if self.faults is None or not self.faults.rate or self._fault_rng.random() >= self.faults.rate:
                return
            fault = self._fault_rng.choice(self.faults.kinds)
            self.faults_struck.append(fault)
        if fault == "latency":
            time.sleep(self.faults.latency)
        elif fault == "error":
            raise TrelloError(500, "Internal Server Error")
        elif fault == "rate_limit":
            raise TrelloError(429, "", {"Retry-After": self.faults.retry_after},
                              {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"})
        elif fault == "timeout":
            time.sleep(self.faults.hang)
            raise TrelloError(504, "Gateway Timeout")
        elif fault == "reset":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            raise TrelloError(500, "connection reset")

    @staticmethod
    def _params(request: Request) -> dict[str, str]:
        """Trello reads parameters from the query string and from a form or JSON body alike."""
        params = dict(request.args)
        if request.mimetype == "application/json" and request.content_length:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise TrelloError(400, "invalid json")
            params.update({k: ("true" if v is True else "false" if v is False else str(v)) for k, v in body.items()})
        else:
            params.update(request.form)
        return params

    def _authenticate(self, params: dict) -> Member:
        key, token = params.get("key", ""), params.get("token", "")
        with self._lock:
            if key not in self.app_secrets:
                raise TrelloError(401, "invalid key")
            owner = self.tokens.get(token)
            if owner is None or owner[0] != key:
                raise TrelloError(401, "invalid token")
            return self.members[owner[1]]

    def _check_rate(self, token: str) -> None:
        with self._lock:
            if self._throttled > 0:
                self._throttled -= 1
                headers = {"Retry-After": str(self._throttle_retry_after)} if self._throttle_retry_after else {}
                raise TrelloError(429, "", headers, {"error": "API_TOKEN_LIMIT_EXCEEDED",
                                                     "message": "Rate limit exceeded"})
            if self.rate_limit is None:
                return
            limit, window = self.rate_limit
            now = time.monotonic()
            recent = self._recent.setdefault(token, deque())
            while recent and recent[0] <= now - window:
                recent.popleft()
            headers = {"x-rate-limit-api-token-interval-ms": str(int(window * 1000)),
                       "x-rate-limit-api-token-max": str(limit)}
            if len(recent) >= limit:
                headers["x-rate-limit-api-token-remaining"] = "0"
                raise TrelloError(429, "", headers, {"error": "API_TOKEN_LIMIT_EXCEEDED",
                                                     "message": "Rate limit exceeded"})
            recent.append(now)

    def _own_member(self, member: Member, wanted: str) -> Member:
        if wanted in ("me", member.id, member.username):
            return member
        raise TrelloError(401, "unauthorized member permission requested")

    def _visible_board(self, member: Member, board_id: str) -> Board:
        if not TRELLO_ID.match(board_id):
            raise TrelloError(400, "invalid id")
        board = self.boards.get(board_id)
        if board is None:
            raise TrelloError(404, "The requested resource was not found.")
        if member.id not in board.member_ids:
            raise TrelloError(401, "unauthorized permission requested")
        return board

    def _model_json(self, model_id: str) -> dict | None:
        for collection in (self.boards, self.lists, self.cards):
            if model_id in collection:
                return collection[model_id].as_json()
        if model_id in self.members:
            return self.members[model_id].as_json([])
        return None

    # ---- endpoints -------------------------------------------------------------------

    def _member(self, member: Member, params: dict, *, member_ref: str) -> dict:
        target = self._own_member(member, member_ref)
        board_ids = [b.id for b in self._member_boards_of(target)]
        return _select_fields(target.as_json(board_ids), params.get("fields"))

    def _member_boards(self, member: Member, params: dict, *, member_ref: str) -> list[dict]:
        target = self._own_member(member, member_ref)
        wanted = params.get("filter", "all")
        if wanted not in BOARD_FILTERS:
            raise TrelloError(400, "invalid value for filter")
        boards = self._member_boards_of(target)
        if wanted in ("open", "closed"):
            boards = [b for b in boards if b.closed == (wanted == "closed")]
        return [_select_fields(b.as_json(), params.get("fields")) for b in boards]

    def _member_boards_of(self, member: Member) -> list[Board]:
        return sorted((b for b in self.boards.values() if member.id in b.member_ids), key=lambda b: b.id)

    def _board(self, member: Member, params: dict, *, board_id: str) -> dict:
        return _select_fields(self._visible_board(member, board_id).as_json(), params.get("fields"))

    def _board_lists(self, member: Member, params: dict, *, board_id: str) -> list[dict]:
        board = self._visible_board(member, board_id)
        wanted = params.get("filter", "open")
        if wanted not in LIST_FILTERS:
            raise TrelloError(400, "invalid value for filter")
        lists = sorted((lst for lst in self.lists.values() if lst.board_id == board.id), key=lambda lst: lst.pos)
        if wanted in ("open", "closed"):
            lists = [lst for lst in lists if lst.closed == (wanted == "closed")]
        elif wanted == "none":
            lists = []
        answer = [_select_fields(lst.as_json(), params.get("fields")) for lst in lists]
        nested = params.get("cards", "none")   # Trello's nested resource: each list's cards
        if nested not in LIST_FILTERS:
            raise TrelloError(400, "invalid value for cards")
        if nested != "none":
            for found in answer:
                cards = sorted((c for c in self.cards.values() if c.list_id == found["id"]), key=lambda c: c.id)
                found["cards"] = [_select_fields(c.as_json(), params.get("card_fields"))
                                  for c in cards if nested == "all" or c.closed == (nested == "closed")]
        return answer

    def _board_cards(self, member: Member, params: dict, *, board_id: str) -> list[dict]:
        board = self._visible_board(member, board_id)
        wanted = params.get("filter", "visible")
        if wanted not in CARD_FILTERS:
            raise TrelloError(400, "invalid value for filter")
        cards = sorted((c for c in self.cards.values() if c.board_id == board.id), key=lambda c: c.id)
        if wanted in ("open", "visible"):
            cards = [c for c in cards if not c.closed]
        elif wanted == "closed":
            cards = [c for c in cards if c.closed]
        for name in ("before", "since"):
            if name in params and not TRELLO_ID.match(params[name]):
                raise TrelloError(400, f"invalid value for {name}")
        if "before" in params:
            cards = [c for c in cards if c.id.lower() < params["before"].lower()]
        if "since" in params:
            cards = [c for c in cards if c.id.lower() > params["since"].lower()]
        if "limit" in params:
            try:
                limit = int(params["limit"])
            except ValueError:
                raise TrelloError(400, "invalid value for limit") from None
            if not 1 <= limit <= MAX_CARDS_LIMIT:
                raise TrelloError(400, "invalid value for limit")
            forward = "since" in params and "before" not in params
            cards = cards[:limit] if forward else cards[-limit:]
        return [_select_fields(c.as_json(), params.get("fields")) for c in cards]

    def _board_members(self, member: Member, params: dict, *, board_id: str) -> list[dict]:
        board = self._visible_board(member, board_id)
        return [self.members[m].public_json() for m in sorted(board.member_ids) if m in self.members]

    def _board_actions(self, member: Member, params: dict, *, board_id: str) -> list[dict]:
        board = self._visible_board(member, board_id)
        kinds = set(params.get("filter", "all").split(","))
        try:
            limit = int(params.get("limit", "50"))
        except ValueError:
            raise TrelloError(400, "invalid value for limit") from None
        if not 0 <= limit <= 1000:
            raise TrelloError(400, "invalid value for limit")
        with self._lock:
            found = [a for a in self.actions if a["_board"] == board.id and ("all" in kinds or a["type"] in kinds)]

        def position(marker: str) -> tuple[str, str]:  # an action id, or a date
            if TRELLO_ID.match(marker):
                return next((a["date"], a["id"]) for a in self.actions if a["id"] == marker) \
                    if any(a["id"] == marker for a in self.actions) else ("", marker)
            return (marker, "")
        if "since" in params:
            low = position(params["since"])
            found = [a for a in found if (a["date"], a["id"]) > low]
        if "before" in params:
            high = position(params["before"])
            found = [a for a in found if (a["date"], a["id"]) < high]
        newest_first = sorted(found, key=lambda a: (a["date"], a["id"]), reverse=True)[:limit]
        return [{key: value for key, value in a.items() if not key.startswith("_")} for a in newest_first]

    def _card(self, member: Member, params: dict, *, card_id: str) -> dict:
        if not TRELLO_ID.match(card_id):
            raise TrelloError(400, "invalid id")
        card = self.cards.get(card_id)
        if card is None:
            raise TrelloError(404, "The requested resource was not found.")
        self._visible_board(member, card.board_id)
        found = _select_fields(card.as_json(), params.get("fields"))
        if params.get("list") == "true":
            found["list"] = self.lists[card.list_id].as_json()
        if params.get("members") == "true":
            found["members"] = [self.members[m].public_json() for m in card.member_ids if m in self.members]
        return found

    def _create_webhook(self, member: Member, params: dict) -> dict:
        callback_url = params.get("callbackURL", "")
        id_model = params.get("idModel", "")
        if not re.match(r"^https?://", callback_url):
            raise TrelloError(400, "invalid value for callbackURL")
        if not TRELLO_ID.match(id_model) or self._model_json(id_model) is None:
            raise TrelloError(400, "invalid value for idModel")
        active = _parse_bool(params["active"], "active") if "active" in params else True
        with self._lock:
            for hook in self.webhooks.values():
                if (hook.callback_url, hook.id_model, hook.token) == (callback_url, id_model, params["token"]):
                    raise TrelloError(400, "A webhook with that callback, model, and token already exists")
        if self.check_webhook_callbacks:
            self._check_callback(callback_url)
        hook = Webhook(self.new_id(), id_model, callback_url, params.get("description", ""), active, params["token"],
                       params["key"])
        with self._lock:
            self.webhooks[hook.id] = hook
        return hook.as_json()

    @staticmethod
    def _check_callback(callback_url: str) -> None:
        """Trello sends HEAD to the callback URL and refuses the webhook unless it gets 200."""
        try:
            status = httpx2.head(callback_url, timeout=5).status_code
        except httpx2.HTTPError:
            status = "no response"
        if status != 200:
            raise TrelloError(400, f"URL ({callback_url}) did not return 200 status code, got {status}")

    def _delete_webhook(self, member: Member, params: dict, *, webhook_id: str) -> dict:
        if not TRELLO_ID.match(webhook_id):
            raise TrelloError(400, "invalid id")
        with self._lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None or hook.token != params["token"]:
                raise TrelloError(404, "The requested resource was not found.")
            del self.webhooks[webhook_id]
        return {"_value": None}

