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

Providers that bend the standard are spoken as a `dialect` (see DIALECTS):
Slack's `ok`/`team` token answers and errors with status 200, GitHub's
form-encoded answer unless JSON is asked for and its never-expiring tokens,
Google's `id_token`, Asana's `data` user. Identity and revocation calls
outside RFC 7009 are answered too, under `/api`: Graph's `/me`, GitHub's and
GitLab's `/user` (also `/api/v4/user`), GitHub's
`DELETE /applications/{client_id}/grant` (HTTP Basic, JSON body) and Slack's
`auth.revoke` (`env()` points those two providers' revocation there), and
Asana's `GET /workspaces` (one workspace);
`api_requests` records them for contract checks. GitLab's own
layout (`/oauth/authorize`, `/oauth/token`, `/oauth/revoke`) is served too, so
the fake's root can stand in for a self-hosted GitLab's base URL.

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
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit

from tests.fakes.server import RecordedRequest

# How token answers are shaped: "standard" is RFC 6749 JSON.
DIALECTS = ("standard", "slack", "github", "google", "asana")
# Dialects whose OAuth errors come back with status 200 (Slack's `ok: false`, GitHub's `error` field).
ERRORS_WITH_STATUS_200 = ("slack", "github")
# Dialects whose access tokens never expire and come without a refresh token
# (Slack without token rotation, GitHub OAuth apps).
NEVER_EXPIRING = ("slack", "github")
# Providers that revoke through their API rather than at an RFC 7009 endpoint.
API_REVOCATION_PATHS = {"github": "/api/applications/{client_id}/grant", "slack": "/api/auth.revoke"}
# Slack's auth.revoke errors for a token that is already gone.
SLACK_DEAD_TOKEN_ERROR = "invalid_auth"


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
    account_email: str | None = None  # whose account the grant reached (`account` when it was made)


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
        dialect: str = "standard",
    ):
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; one of {DIALECTS}")
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
        self.scope = scope  # when set, the scope granted whatever was asked (Google's granular consent)
        self.dialect = dialect
        self.deny = False
        self.token_latency = 0.0
        self.hang_seconds = 2.0
        self.account = {"id": "fake-user-1", "name": "Fran Fake", "email": "fran@fake.example"}
        self.username = "fran-fake"                              # GitHub login, GitLab username
        self.team = {"id": "T0FAKE001", "name": "Fake Workspace"}  # Slack workspace
        self.enterprise: dict | None = None  # Slack Enterprise Grid: set it and team to None for an org-wide install

        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._grants: dict[int, _Grant] = {}
        self._injected_failures: list[tuple[int, dict] | str] = []
        self.counts = {"authorize": 0, "authorization_code": 0, "refresh_token": 0, "revoke": 0}
        self.requests: list[dict] = []  # every /token and /revoke request: grant type, client auth method
        self.revoke_hints: list[str | None] = []  # the token_type_hint of each /revoke request
        self.revoked_token_kinds: list[str] = []  # what each successful /revoke presented: refresh or access token
        self.token_accept_headers: list[str] = []  # the Accept header of every /token request
        self.api_requests: list[RecordedRequest] = []  # every /api request (identity, GitHub and Slack revocation)

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
        revoke_path = API_REVOCATION_PATHS.get(slug, "/revoke").format(client_id=self.client_id)
        return {
            f"{prefix}_AUTHORIZE_URL": f"{self.base_url}/authorize",
            f"{prefix}_TOKEN_URL": f"{self.base_url}/token",
            f"{prefix}_REVOKE_URL": f"{self.base_url}{revoke_path}",
            f"{prefix}_API_BASE": f"{self.base_url}/api",
        }

    def stand_in_for(self, monkeypatch, *slugs: str) -> None:
        """Point each provider at this server, with its app credentials, as an
        operator would: through the environment."""
        for slug in slugs:
            for name, value in self.env(slug).items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv(f"{slug.upper()}_CLIENT_ID", self.client_id)
            monkeypatch.setenv(f"{slug.upper()}_CLIENT_SECRET", self.client_secret)

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

    def revoke_grants_of(self, email: str) -> None:
        """The grants one account consented to revoked (that person removed the app)."""
        with self._lock:
            for grant in self._grants.values():
                if grant.account_email == email:
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
            self.token_accept_headers.append(headers.get("Accept", ""))
            if grant_type in self.counts:
                self.counts[grant_type] += 1
            if self._injected_failures:
                failure = self._injected_failures.pop(0)
                if failure == "hang":
                    return -1, {}
                return self._dialect_error(*failure)
            if method is None:
                return self._dialect_error(401, {"error": "invalid_client"})
            if grant_type == "authorization_code":
                return self._dialect_error(*self._exchange_code(form))
            if grant_type == "refresh_token":
                return self._dialect_error(*self._refresh(form))
            return self._dialect_error(400, {"error": "unsupported_grant_type"})

    def _dialect_error(self, status: int, body: dict) -> tuple[int, dict]:
        """Errors as the dialect sends them; successful answers pass unchanged."""
        if "error" not in body or self.dialect not in ERRORS_WITH_STATUS_200:
            return status, body
        if self.dialect == "slack":
            return 200, {"ok": False, "error": body["error"]}
        return 200, body

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
                       refresh_token=secrets.token_urlsafe(32), account_email=self.account["email"])
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
        if self.dialect in NEVER_EXPIRING:
            grant.access_tokens[access_token] = float("inf")
            return self._never_expiring_answer(access_token, grant)
        grant.access_tokens[access_token] = time.time() + self.access_token_lifetime
        body = {"access_token": access_token, "token_type": "Bearer",
                "expires_in": self.access_token_lifetime, "scope": grant.scope}
        if include_refresh:
            body["refresh_token"] = grant.refresh_token
        if self.dialect == "google" and "openid" in grant.scope.split():
            body["id_token"] = self._google_id_token()
        if self.dialect == "asana":
            # Asana names the user who authorized, in the token answer itself.
            body["data"] = {"id": 1201, "gid": "1201", "name": self.account["name"], "email": self.account["email"]}
        return body

    def _never_expiring_answer(self, access_token: str, grant: _Grant) -> dict:
        scopes = ",".join(grant.scope.replace(",", " ").split())  # both report granted scopes comma-separated
        if self.dialect == "github":
            return {"access_token": access_token, "token_type": "bearer", "scope": scopes}
        return {"ok": True, "app_id": "A0FAKEAPP", "authed_user": {"id": "U0FAKEUSER"}, "scope": scopes,
                "token_type": "bot", "access_token": access_token, "bot_user_id": "U0FAKEBOT",
                "team": self.team and dict(self.team), "enterprise": self.enterprise,
                "is_enterprise_install": self.team is None}

    def _google_id_token(self) -> str:
        """An OpenID Connect ID token as Google's token endpoint returns it; the
        signature is random bytes (a client reading it straight from the token
        endpoint over TLS does not need to check it)."""
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "azp": self.client_id, "aud": self.client_id,
                  "sub": "1080000000000000001", "email": self.account["email"], "email_verified": True,
                  "iat": now, "exp": now + 3600}

        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

        header = {"alg": "RS256", "kid": "fake", "typ": "JWT"}
        return ".".join((part(json.dumps(header).encode()), part(json.dumps(claims).encode()),
                         part(secrets.token_bytes(64))))

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
            self.revoke_hints.append(form.get("token_type_hint"))
            if method is None:
                return 401, {"error": "invalid_client"}
            token = form.get("token", "")
            grant = self._find_grant(token)
            if grant is not None:
                grant.revoked = True
                self.revoked_token_kinds.append("access_token" if token in grant.access_tokens else "refresh_token")
        return 200, {}  # RFC 7009: unknown tokens are not an error

    def _bearer_grant(self, headers) -> _Grant | None:
        """The live grant of the request's bearer access token, if any."""
        header = headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self._lock:
            grant = self._find_grant(token)
            if grant is None or grant.revoked or grant.access_tokens.get(token, 0) <= time.time():
                return None
            return grant

    def _me(self, headers) -> tuple[int, dict]:
        if self._bearer_grant(headers) is None:
            return 401, {"error": "invalid_token"}
        # Microsoft Graph's user fields next to the plain ones.
        return 200, {**self.account, "displayName": self.account["name"], "mail": self.account["email"],
                     "userPrincipalName": self.account["email"]}

    def _user(self, headers) -> tuple[int, dict]:
        """GitHub's and GitLab's `GET /user`: the login is `login` on one, `username` on the other."""
        if self._bearer_grant(headers) is None:
            return 401, {"message": "401 Unauthorized"}
        user = {"id": 4201, "name": self.account["name"], "email": self.account["email"]}
        if self.dialect == "github":
            return 200, {**self._github_public_user(), **user}
        return 200, {**user, "username": self.username, "login": self.username, "state": "active"}

    def _github_public_user(self) -> dict:
        """The fields github.json requires of a `public-user`."""
        login, api, web = self.username, "https://api.github.com/users/" + self.username, "https://github.com/"
        return {
            "login": login, "node_id": "MDQ6VXNlcjQyMDE=", "user_view_type": "public", "type": "User",
            "avatar_url": "https://avatars.githubusercontent.com/u/4201", "gravatar_id": "", "url": api,
            "html_url": web + login, "followers_url": api + "/followers",
            "following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
            "starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions",
            "organizations_url": api + "/orgs", "repos_url": api + "/repos", "events_url": api + "/events{/privacy}",
            "received_events_url": api + "/received_events", "site_admin": False, "bio": None, "blog": "",
            "company": None, "location": None, "hireable": None, "followers": 0, "following": 0,
            "public_gists": 0, "public_repos": 0, "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }

    def _github_delete_grant(self, client_id: str, headers, body: bytes) -> tuple[int, dict | str]:
        """GitHub's `DELETE /applications/{client_id}/grant`: the app authenticates with
        HTTP Basic, the user's access token comes in a JSON body."""
        method = self._authenticate_client(headers, {})
        with self._lock:
            self.counts["revoke"] += 1
            self.requests.append({"endpoint": "revoke", "client_auth": method})
            if method != "client_secret_basic" or client_id != self.client_id:
                return 404, {"message": "Not Found"}
            try:
                access_token = json.loads(body or b"null")["access_token"]
            except (ValueError, TypeError, KeyError):
                return 422, {"message": "Validation Failed"}
            grant = self._find_grant(access_token)
            if grant is None or grant.revoked:
                return 404, {"message": "Not Found"}
            grant.revoked = True
        return 204, ""

    def _asana_workspaces(self, headers) -> tuple[int, dict]:
        """Asana's `GET /workspaces`: the one workspace of the fake's account."""
        if self._bearer_grant(headers) is None:
            return 401, {"errors": [{"message": "Not Authorized"}]}
        return 200, {"data": [{"gid": "1100", "resource_type": "workspace", "name": "Fake Workspace",
                               "is_organization": False}], "next_page": None}

    def _slack_auth_revoke(self, headers) -> tuple[int, dict]:
        """Slack's `auth.revoke`: revokes the very token that authenticates the call."""
        grant = self._bearer_grant(headers)
        with self._lock:
            self.counts["revoke"] += 1
            self.requests.append({"endpoint": "revoke", "client_auth": None})
            if grant is None:
                return 200, {"ok": False, "error": SLACK_DEAD_TOKEN_ERROR}
            grant.revoked = True
        return 200, {"ok": True, "revoked": True}

    def _api(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict | str]:
        if method == "GET" and path == "/api/me":
            return self._me(headers)
        if method == "GET" and path in ("/api/user", "/api/v4/user"):
            return self._user(headers)
        if method in ("GET", "POST") and path == "/api/auth.revoke":
            return self._slack_auth_revoke(headers)
        if method == "GET" and path == "/api/workspaces":
            return self._asana_workspaces(headers)
        parts = path.split("/")
        if method == "DELETE" and len(parts) == 5 and parts[2] == "applications" and parts[4] == "grant":
            return self._github_delete_grant(parts[3], headers, body)
        return 404, {"error": "not_found"}

    def _record_api(self, method: str, target: str, headers, body: bytes) -> RecordedRequest:
        url = urlsplit(target)
        record = RecordedRequest(method=method, path=url.path, query=parse_qsl(url.query, keep_blank_values=True),
                                 headers={k.lower(): v for k, v in headers.items()}, body=body)
        with self._lock:
            self.api_requests.append(record)
        return record

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

            def _send(self, status: int, body: dict | str, headers: dict | None = None,
                      record: RecordedRequest | None = None) -> None:
                if status == -1:  # an injected hang: answer long after any sane client timeout
                    time.sleep(fake.hang_seconds)
                    status, body = 504, {"error": "gateway_timeout"}
                payload = (json.dumps(body) if isinstance(body, dict) else body).encode()
                headers = dict(headers or {})
                content_type = headers.pop("Content-Type", None) or (
                    "application/json" if isinstance(body, dict) else "text/plain; charset=utf-8")
                if record is not None:
                    record.status, record.response_body = status, payload
                    record.response_headers = {"content-type": content_type}
                self.send_response(status)
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
                elif url.path == "/oauth/authorize":  # GitLab's layout
                    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                    status, headers, text = fake._authorize(query)
                    self._send(status, text, headers)
                elif url.path.startswith("/api/"):
                    self._answer_api("GET")
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                if path in ("/token", "/oauth/token"):
                    self._send_token(*fake._token(self.headers, self._form()))
                elif path in ("/revoke", "/oauth/revoke"):
                    self._send(*fake._revoke(self.headers, self._form()))
                elif path.startswith("/api/"):
                    self._answer_api("POST")
                else:
                    self._send(404, {"error": "not_found"})

            def do_DELETE(self) -> None:
                if urlsplit(self.path).path.startswith("/api/"):
                    self._answer_api("DELETE")
                else:
                    self._send(404, {"error": "not_found"})

            def _answer_api(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = fake._record_api(method, self.path, self.headers, body)
                status, answer = fake._api(method, record.path, self.headers, body)
                self._send(status, answer, record=record)

            def _send_token(self, status: int, body: dict) -> None:
                # GitHub answers form-encoded unless the client asks for JSON.
                wants_json = "application/json" in self.headers.get("Accept", "")
                if fake.dialect == "github" and status != -1 and not wants_json:
                    self._send(status, urlencode(body), {"Content-Type": "application/x-www-form-urlencoded"})
                else:
                    self._send(status, body)

        return Handler


class FakeProviderWithApi:
    """A provider made of an authorization server (`self.oauth`) and an API of its
    own on another loopback port (`self.api`, serving `self._app`); subclasses set
    both in __init__ and add their endpoints."""

    oauth: FakeOAuthProvider
    slug: str

    def __enter__(self):
        self.oauth.__enter__()
        self.api.start()
        return self

    def __exit__(self, *exc) -> None:
        self.api.stop()
        self.oauth.__exit__(*exc)
        if exc[0] is None:
            self.api.raise_violations()

    def env(self, slug: str | None = None) -> dict[str, str]:
        slug = slug or self.slug
        return {**self.oauth.env(slug), f"{slug.upper()}_API_BASE": self.api.base_url}
