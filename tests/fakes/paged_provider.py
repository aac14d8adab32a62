"""A generic paged fake provider on loopback (127.0.0.1, a free port, a background thread).

It serves `records` seeded records in three pagination styles, accepts
creates with idempotency keys, injects faults at a given rate and enforces a
rate limit the way real providers do:

    GET  /link/items?page=&per_page=     a JSON list; `Link: <...>; rel="next"`
    GET  /cursor/items?limit=&cursor=    {"data": [...], "next_cursor": "..." | null}
         &updated_since=T                only records changed after T (updated_at), oldest
                                         change first, deletions as {"id", "deleted": true};
                                         "total": how many records the whole listing holds
    GET  /offset/items?offset=&limit=    {"items": [...], "total": N}
    POST /items                          creates a record; `Idempotency-Key` makes a repeat harmless
    PUT  /items/<id>, DELETE /items/<id> change or remove a created record (404 when unknown)

`touch(id, title)` and `remove(id)` change the seeded records as a user of the
provider would, moving them past every `updated_since` seen so far.

Faults (`Faults.kinds`), each drawn per request with probability `Faults.rate`
from a generator seeded with `seed` (so a sequential client meets the same
faults every run):
    latency     answer after `Faults.latency` seconds
    error       500/502/503 before doing anything
    rate_limit  429 with `Retry-After: Faults.retry_after` before doing anything
    timeout     do the work, then answer only after `Faults.hang` seconds (set it past
                the client's read timeout)
    reset       do the work, then reset the connection without an answer

A create that met a `timeout` or `reset` exists although the client never heard
so: only an idempotency key keeps its retry from creating it twice.

Every request needs `Authorization: Bearer <token>` (`token`, "paged-token" by
default, what the test integrations store); anything else is answered 401
`{"message": "unauthorized"}` before any other decision, as real APIs do.
"""
from __future__ import annotations

import base64
import json
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = ("latency", "error", "rate_limit", "timeout", "reset")


@dataclass(frozen=True)
class Faults:
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    latency: float = 0.02
    retry_after: str = "0.05"   # header value of an injected 429 (fractional to keep tests fast)
    hang: float = 0.5


@dataclass
class Stats:
    requests: int = 0
    pages: int = 0                      # successful page answers
    faults: Counter = field(default_factory=Counter)
    rate_limited: int = 0               # 429s of the enforced limit (not injected ones)
    unauthorized: int = 0               # 401s: no or a wrong bearer token
    in_flight: int = 0
    max_in_flight: int = 0


class PagedProvider:
    def __init__(self, records: int = 100, *, seed: int = 0, max_page_size: int = 100,
                 default_page_size: int = 20, faults: Faults = Faults(),
                 rate_limit: tuple[int, float] | None = None, token: str = "paged-token"):
        """`rate_limit`: (requests, per seconds), answered with 429 beyond it. `token`: the bearer
        token every request must carry."""
        self.token = token
        data_rng = random.Random(seed)
        self.records = [
            {"id": f"rec-{i:06d}", "title": f"Item {i} {data_rng.randrange(10**6):06d}",
             "updated_at": 1_700_000_000 + i * 60}
            for i in range(1, records + 1)
        ]
        self.max_page_size = max_page_size
        self.default_page_size = default_page_size
        self.faults = faults
        self.rate_limit = rate_limit
        self.stats = Stats()
        self.created: list[dict] = []
        self.tombstones: list[dict] = []
        self._clock = self.records[-1]["updated_at"] if self.records else 1_700_000_000
        self._by_idempotency_key: dict[str, dict] = {}
        self._fault_rng = random.Random(seed)
        self._accepted: deque[float] = deque()   # arrival times inside the rate-limit window
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "PagedProvider":
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="paged-provider", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "PagedProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- decisions, under the lock -------------------------------------------

    def _admit(self) -> tuple[str, float | None]:
        """('ok' | 'limited' | a fault kind, seconds until the limit frees a request)."""
        with self._lock:
            self.stats.requests += 1
            if self.rate_limit is not None:
                allowed, window = self.rate_limit
                now = time.monotonic()
                while self._accepted and self._accepted[0] <= now - window:
                    self._accepted.popleft()
                if len(self._accepted) >= allowed:
                    self.stats.rate_limited += 1
                    return "limited", self._accepted[0] + window - now
                self._accepted.append(now)
            if self.faults.rate and self._fault_rng.random() < self.faults.rate:
                kind = self._fault_rng.choice(self.faults.kinds)
                self.stats.faults[kind] += 1
                return kind, None
            return "ok", None

    def _create(self, body: dict, key: str | None) -> tuple[int, dict]:
        with self._lock:
            if key and key in self._by_idempotency_key:
                return 200, self._by_idempotency_key[key]
            record = {**body, "id": f"new-{len(self.created) + 1:06d}"}
            self.created.append(record)
            if key:
                self._by_idempotency_key[key] = record
            return 201, record

    # -- changes made "at the provider" ----------------------------------------

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def touch(self, record_id: str, title: str) -> None:
        with self._lock:
            record = next(r for r in self.records if r["id"] == record_id)
            record.update(title=title, updated_at=self._tick())

    def remove(self, record_id: str) -> None:
        with self._lock:
            self.records = [r for r in self.records if r["id"] != record_id]
            self.tombstones.append({"id": record_id, "deleted": True, "updated_at": self._tick()})

    def changed_since(self, since: int) -> list[dict]:
        with self._lock:
            changed = [r for r in self.records + self.tombstones if r["updated_at"] > since]
        return sorted(changed, key=lambda r: (r["updated_at"], r["id"]))

    def _change(self, method: str, record_id: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            record = next((r for r in self.created if r["id"] == record_id), None)
            if record is None:
                return 404, {"message": "no such item"}
            if method == "DELETE":
                self.created.remove(record)
                return 200, {"id": record_id, "deleted": True}
            record.update({**body, "id": record_id})
            return 200, record

    def _page_size(self, value: str | None) -> int:
        return min(int(value), self.max_page_size) if value else self.default_page_size


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients that gave up (timeouts) and reset connections are expected here


def _handler_for(provider: PagedProvider):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive, like real APIs
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, *args):
            pass

        def do_GET(self):
            self._serve(self._page)

        def do_POST(self):
            self._serve(self._create)

        def do_PUT(self):
            self._serve(self._change)

        def do_DELETE(self):
            self._serve(self._change)

        # -- plumbing --------------------------------------------------------

        def _serve(self, work):
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""  # read it even when refusing: keep-alive
            with provider._lock:
                provider.stats.in_flight += 1
                provider.stats.max_in_flight = max(provider.stats.max_in_flight, provider.stats.in_flight)
            self.counted = True
            try:
                if self.headers.get("Authorization") != f"Bearer {provider.token}":
                    with provider._lock:
                        provider.stats.unauthorized += 1
                    return self._finish(401, {"message": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
                decision, wait = provider._admit()
                if decision == "limited":
                    return self._finish(429, {"message": "rate limit exceeded"}, {"Retry-After": f"{wait:.3f}"})
                if decision == "error":
                    status = provider._fault_rng.choice((500, 502, 503))
                    return self._finish(status, {"message": "injected server error"})
                if decision == "rate_limit":
                    return self._finish(429, {"message": "slow down"}, {"Retry-After": provider.faults.retry_after})
                if decision == "latency":
                    time.sleep(provider.faults.latency)
                status, body, headers = work()
                if decision == "reset":
                    return self._reset()
                if decision == "timeout":
                    time.sleep(provider.faults.hang)
                self._finish(status, body, headers)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                self._leave()

        def _leave(self):
            if self.counted:
                self.counted = False
                with provider._lock:
                    provider.stats.in_flight -= 1

        def _finish(self, status: int, body, headers: dict | None = None):
            # Leave the in-flight count before answering: the client may start its next
            # request the moment it has this answer.
            self._leave()
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            if status in (200, 201):
                with provider._lock:
                    provider.stats.pages += self.command == "GET"

        def _reset(self):
            self._leave()
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()        # the socket closes for real only when its files are gone
            self.connection.close()   # linger 0: the peer gets a RST, not a FIN

        def _query(self) -> tuple[str, dict[str, str]]:
            parts = urlsplit(self.path)
            return parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}

        # -- the API ---------------------------------------------------------

        def _page(self):
            path, query = self._query()
            records = provider.records
            try:
                if path == "/link/items":
                    size = provider._page_size(query.get("per_page"))
                    number = int(query.get("page", "1"))
                    start = (number - 1) * size
                    headers = {}
                    if start + size < len(records):
                        headers["Link"] = (f'<{provider.url}/link/items?page={number + 1}&per_page={size}>; rel="next", '
                                           f'<{provider.url}/link/items?page=1&per_page={size}>; rel="first"')
                    return 200, records[start:start + size], headers
                if path == "/cursor/items":
                    if query.get("updated_since"):
                        records = provider.changed_since(int(query["updated_since"]))
                    size = provider._page_size(query.get("limit"))
                    start = _decode_cursor(query["cursor"]) if query.get("cursor") else 0
                    following = _encode_cursor(start + size) if start + size < len(records) else None
                    return 200, {"data": records[start:start + size], "next_cursor": following,
                                 "total": len(records)}, {}
                if path == "/offset/items":
                    size = provider._page_size(query.get("limit"))
                    start = int(query.get("offset", "0"))
                    return 200, {"items": records[start:start + size], "total": len(records)}, {}
            except (ValueError, KeyError, IndexError):
                return 400, {"message": "bad paging parameters"}, {}
            return 404, {"message": "no such listing"}, {}

        def _create(self):
            path, _ = self._query()
            raw = self.body
            if path != "/items":
                return 404, {"message": "no such collection"}, {}
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return 400, {"message": "body is not JSON"}, {}
            status, record = provider._create(body, self.headers.get("Idempotency-Key"))
            return status, record, {}

        def _change(self):
            path, _ = self._query()
            if not path.startswith("/items/"):
                return 404, {"message": "no such item"}, {}
            try:
                body = json.loads(self.body or b"{}")
            except ValueError:
                return 400, {"message": "body is not JSON"}, {}
            status, record = provider._change(self.command, path.removeprefix("/items/"), body)
            return status, record, {}

    return Handler
