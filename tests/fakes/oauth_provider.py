"""A strict OAuth 2.0 authorization server on loopback, usable for every provider.

It behaves like the real ones where it matters to us, and refuses what they
refuse:

- `/authorize` checks client_id, redirect_uri and response_type (errors about
  the client or redirect URI are shown, never redirected), passes `state`
  through, requires a PKCE S256 `code_challenge` when `require_pkce` is set,
  and auto-approves (or answers `error=access_denied` when `deny` is set).
- `/token` authenticates the client (client_secret_post and/or
  client_secret_basic, as configured); authorization codes are single-use and
  short-lived, bound to the redirect URI and to the PKCE challenge; the
  refresh_token grant rotates refresh tokens, and presenting an already
  rotated one revokes the whole grant (as Xero, QuickBooks and Atlassian do).
- `/revoke` (RFC 7009) revokes the grant a token belongs to.
- `/api/me` answers for a valid bearer token and 401 otherwise.

Failures can be injected (`fail_next_token_requests`, `revoke_all`,
`token_latency`), and counters let tests assert how often each grant was used.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    issued_at: float
    used: bool = False
    grant_id: int | None = None


@dataclass
class _Grant:
    id: int
    client_id: str
    scope: str
    refresh_token: str
    old_refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at (epoch)
    revoked: bool = False


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that timed out on an injected hang has gone away; that is the point.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeOAuthProvider:
    """Start with `with FakeOAuthProvider(...) as fake:`; `fake.base_url` is where it listens."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        redirect_uris: tuple[str, ...] = (),
        require_pkce: bool = True,
        client_auth_methods: tuple[str, ...] = ("client_secret_post", "client_secret_basic"),
        access_token_lifetime: int = 3600,
        code_lifetime: int = 60,
        rotate_refresh_tokens: bool = True,
        scope: str | None = None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        # Empty means "accept any redirect URI on first use" is NOT offered:
        # a test must register the exact callback, as at a real provider.
        self.redirect_uris = set(redirect_uris)
        self.require_pkce = require_pkce
        self.client_auth_methods = client_auth_methods
        self.access_token_lifetime = access_token_lifetime
        self.code_lifetime = code_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.scope = scope
        self.deny = False
        self.token_latency = 0.0
        self.hang_seconds = 2.0
        self.account = {"id": "fake-user-1", "name": "Fran Fake", "email": "fran@fake.example"}

        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._grants: dict[int, _Grant] = {}
        self._injected_failures: list[tuple[int, dict] | str] = []
        self.counts = {"authorize": 0, "authorization_code": 0, "refresh_token": 0, "revoke": 0}
        self.requests: list[dict] = []  # every /token and /revoke request: grant type, client auth method

        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-oauth", daemon=True)

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "FakeOAuthProvider":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, slug: str) -> dict[str, str]:
        """The endpoint overrides pointing provider `slug` at this server."""
        prefix = slug.upper()
        return {
            f"{prefix}_AUTHORIZE_URL": f"{self.base_url}/authorize",
            f"{prefix}_TOKEN_URL": f"{self.base_url}/token",
            f"{prefix}_REVOKE_URL": f"{self.base_url}/revoke",
            f"{prefix}_API_BASE": f"{self.base_url}/api",
        }

    # -- controls for tests --------------------------------------------------

    def fail_next_token_requests(self, count: int, status: int = 503, error: str = "temporarily_unavailable") -> None:
        """The next `count` /token requests answer `status` with an OAuth error body."""
        with self._lock:
            self._injected_failures.extend([(status, {"error": error})] * count)

    def hang_next_token_requests(self, count: int) -> None:
        """The next `count` /token requests never answer in time (the client should time out)."""
        with self._lock:
            self._injected_failures.extend(["hang"] * count)

    def revoke_all(self) -> None:
        """Every grant revoked, as when the user removes the app at the provider."""
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._grants.values():
                grant.access_tokens = {t: 0.0 for t in grant.access_tokens}

    def grant_for(self, token: str) -> _Grant | None:
        with self._lock:
            return self._find_grant(token)

    def active_grants(self) -> list[_Grant]:
        with self._lock:
            return [g for g in self._grants.values() if not g.revoked]

    # -- the protocol --------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict, str]:
        self.counts["authorize"] += 1
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return 400, {}, "unknown client_id"
        if redirect_uri not in self.redirect_uris:
            return 400, {}, "redirect_uri is not registered for this client"

        def back(**params) -> tuple[int, dict, str]:
            if "state" in query:
                params["state"] = query["state"]
            separator = "&" if "?" in redirect_uri else "?"
            return 302, {"Location": redirect_uri + separator + urlencode(params)}, ""

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        challenge = query.get("code_challenge")
        if challenge and query.get("code_challenge_method") != "S256":
            return back(error="invalid_request", error_description="only S256 code challenges are accepted")
        if self.require_pkce and not challenge:
            return back(error="invalid_request", error_description="code_challenge required")
        if self.deny:
            return back(error="access_denied", error_description="The user declined.")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(self.client_id, redirect_uri, query.get("scope", ""), challenge, time.time())
        return back(code=code)

    def _authenticate_client(self, headers, form: dict[str, str]) -> str | None:
        """The client auth method used, or None when authentication fails."""
        header = headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            method = "client_secret_basic"
            client_id, client_secret = unquote(client_id), unquote(client_secret)
        else:
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            method = "client_secret_post"
        if method not in self.client_auth_methods:
            return None
        if client_id != self.client_id or client_secret != self.client_secret:
            return None
        return method

    def _token(self, headers, form: dict[str, str]) -> tuple[int, dict]:
        if self.token_latency:
            time.sleep(self.token_latency)
        grant_type = form.get("grant_type", "")
        method = self._authenticate_client(headers, form)
        with self._lock:
            self.requests.append({"endpoint": "token", "grant_type": grant_type, "client_auth": method})
            if grant_type in self.counts:
                self.counts[grant_type] += 1
            if self._injected_failures:
                failure = self._injected_failures.pop(0)
                if failure == "hang":
                    return -1, {}
                return failure
            if method is None:
                return 401, {"error": "invalid_client"}
            if grant_type == "authorization_code":
                return self._exchange_code(form)
            if grant_type == "refresh_token":
                return self._refresh(form)
            return 400, {"error": "unsupported_grant_type"}

    def _exchange_code(self, form: dict[str, str]) -> tuple[int, dict]:
        code = self._codes.get(form.get("code", ""))
        if code is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown code"}
        if code.used:
            # RFC 6749 4.1.2: a replayed code revokes what it issued.
            if code.grant_id is not None:
                self._grants[code.grant_id].revoked = True
            return 400, {"error": "invalid_grant", "error_description": "code already used"}
        code.used = True
        if time.time() - code.issued_at > self.code_lifetime:
            return 400, {"error": "invalid_grant", "error_description": "code expired"}
        if form.get("redirect_uri") != code.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        verifier = form.get("code_verifier")
        if code.code_challenge and (not verifier or s256(verifier) != code.code_challenge):
            return 400, {"error": "invalid_grant", "error_description": "code_verifier does not match"}
        if verifier and not code.code_challenge:
            return 400, {"error": "invalid_request", "error_description": "code_verifier without a challenge"}
        grant = _Grant(id=len(self._grants) + 1, client_id=code.client_id,
                       scope=self.scope if self.scope is not None else code.scope,
                       refresh_token=secrets.token_urlsafe(32))
        self._grants[grant.id] = grant
        code.grant_id = grant.id
        return 200, self._issue(grant, include_refresh=True)

    def _refresh(self, form: dict[str, str]) -> tuple[int, dict]:
        presented = form.get("refresh_token", "")
        grant = self._find_grant(presented)
        if grant is None or grant.revoked:
            return 400, {"error": "invalid_grant", "error_description": "refresh token is not valid"}
        if presented in grant.old_refresh_tokens:
            # Reuse of a rotated refresh token: somebody copied it. Kill the grant.
            grant.revoked = True
            return 400, {"error": "invalid_grant", "error_description": "refresh token reused; grant revoked"}
        if self.rotate_refresh_tokens:
            grant.old_refresh_tokens.add(grant.refresh_token)
            grant.refresh_token = secrets.token_urlsafe(32)
        return 200, self._issue(grant, include_refresh=self.rotate_refresh_tokens)

    def _issue(self, grant: _Grant, include_refresh: bool) -> dict:
        access_token = secrets.token_urlsafe(32)
        grant.access_tokens[access_token] = time.time() + self.access_token_lifetime
        body = {"access_token": access_token, "token_type": "Bearer",
                "expires_in": self.access_token_lifetime, "scope": grant.scope}
        if include_refresh:
            body["refresh_token"] = grant.refresh_token
        return body

    def _find_grant(self, token: str) -> _Grant | None:
        for grant in self._grants.values():
            if token == grant.refresh_token or token in grant.old_refresh_tokens or token in grant.access_tokens:
                return grant
        return None

    def _revoke(self, headers, form: dict[str, str]) -> tuple[int, dict]:
        method = self._authenticate_client(headers, form)
        with self._lock:
            self.counts["revoke"] += 1
            self.requests.append({"endpoint": "revoke", "client_auth": method})
            if method is None:
                return 401, {"error": "invalid_client"}
            grant = self._find_grant(form.get("token", ""))
            if grant is not None:
                grant.revoked = True
        return 200, {}  # RFC 7009: unknown tokens are not an error

    def _me(self, headers) -> tuple[int, dict]:
        header = headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self._lock:
            grant = self._find_grant(token)
            valid = grant is not None and not grant.revoked and grant.access_tokens.get(token, 0) > time.time()
        if not valid:
            return 401, {"error": "invalid_token"}
        return 200, dict(self.account)

    # -- HTTP plumbing -------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _form(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                return {k: v[-1] for k, v in parse_qs(raw).items()}

            def _send(self, status: int, body: dict | str, headers: dict | None = None) -> None:
                if status == -1:  # an injected hang: answer long after any sane client timeout
                    time.sleep(fake.hang_seconds)
                    status, body = 504, {"error": "gateway_timeout"}
                payload = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                content_type = "application/json" if isinstance(body, dict) else "text/plain; charset=utf-8"
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/authorize":
                    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                    status, headers, text = fake._authorize(query)
                    self._send(status, text, headers)
                elif url.path == "/api/me":
                    self._send(*fake._me(self.headers))
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                if path == "/token":
                    self._send(*fake._token(self.headers, self._form()))
                elif path == "/revoke":
                    self._send(*fake._revoke(self.headers, self._form()))
                else:
                    self._send(404, {"error": "not_found"})

        return Handler
