"""A fake GitHub REST API (and its OAuth app server) over loopback.

Two servers, as at GitHub: the OAuth side (github.com/login/oauth, the strict
FakeOAuthProvider in its "github" dialect, which also deletes grants) and the
REST API (api.github.com) served here:

- `GET /user`; `GET /user/repos` (the account's, its collaborations' and its
  organisations' repositories by `affiliation`); `GET /repos/{owner}/{repo}/issues`
  (issues and pull requests, as GitHub mixes them, with `state`, `since`, `sort`,
  `direction`); `POST /repos/{owner}/{repo}/hooks`, `DELETE .../hooks/{id}`.
- Paging as GitHub pages: `per_page` (default 30, at most 100) and `page`, with a
  `Link` header naming next/last pages by absolute URL.
- Every answer has an ETag (a hash of its body); a GET with a matching
  `If-None-Match` is answered 304 with no body and is not counted against the
  rate limit (as GitHub does for authorised conditional requests).
- Authentication: a live bearer token (or `token <t>`) of the OAuth fake's grants,
  401 `Bad credentials` otherwise; hooks need the `admin:repo_hook` or `repo` scope.
- Rate limits: `rate_limit=n` answers every call with X-RateLimit-Limit / -Remaining /
  -Reset / -Used / -Resource, and a 403 "API rate limit exceeded" with Remaining 0
  once n calls were made in the window; `secondary_limits=k` answers the next k calls
  with a secondary-limit 403 and `Retry-After` (429 every other time, as GitHub uses both).
- `faults` (tests.fakes.paged_provider.Faults) strike before a call is handled.

Every request is validated against GitHub's published description
(../shared/specs/github.json); the answers are shaped so that they validate too
(`complete` fills what the description requires and the fake does not model).

Webhooks: `send_issue_event(action, repo, number)` POSTs an `issues` delivery to
every hook of the repository, signed with the hook's secret (X-Hub-Signature-256),
named by X-GitHub-Delivery; `deliveries` records each one.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from functools import lru_cache

from werkzeug.wrappers import Request, Response

from tests.contract import Description, spec_path
from tests.fakes.injected_faults import draw_fault, fault_answer
from tests.fakes.issue_tracker import NumberedIssues, offset_page, post_delivery
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi, _Grant
from tests.fakes.paged_provider import Faults
from tests.fakes.server import FakeServer

DEFAULT_PAGE, MAX_PAGE = 30, 100
GITHUB_DESCRIPTION = Description("github")
GITHUB_SCOPES = ["repo", "read:user", "user:email", "admin:repo_hook"]
BAD_CREDENTIALS = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
             "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
PRIMARY = {"message": "API rate limit exceeded for user.",
           "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}


def github_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=None)
def _template(schema_name: str) -> str:
    """A JSON object with every property github.json requires of `schema_name`, as placeholders.
    In a clone without ../shared/specs (validation is skipped there too): no placeholders."""
    path = spec_path("github")
    if not path.is_file():
        return "{}"
    spec = json.loads(path.read_text())
    schemas = spec["components"]["schemas"]

    def value_for(schema: dict, depth: int):
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        for combined in ("allOf", "anyOf", "oneOf"):
            if combined in schema:
                return value_for(schema[combined][0], depth)
        if schema.get("nullable"):
            return None
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return {name: value_for(schema["properties"].get(name, {}), depth + 1)
                    for name in schema.get("required", []) if depth < 4} if depth < 4 else {}
        if kind == "array":
            return []
        if kind == "integer" or kind == "number":
            return 0
        if kind == "boolean":
            return False
        if "enum" in schema:
            return schema["enum"][0]
        if schema.get("format") == "date-time":
            return "2020-01-01T00:00:00Z"
        if schema.get("format") == "uri":
            return "https://api.github.com/placeholder"
        return ""

    return json.dumps(value_for({"$ref": f"#/components/schemas/{schema_name}"}, 0))


def complete(schema_name: str, values: dict) -> dict:
    """`values` over placeholders for everything else the description requires."""
    filled = json.loads(_template(schema_name))
    filled.update(values)
    return filled


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeGitHub(NumberedIssues, FakeProviderWithApi):
    slug = "github"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "gh-client",
                 client_secret: str = "gh-secret", rate_limit: int | None = None, rate_window: float = 3600.0,
                 faults: Faults | None = None, fault_seed: int = 0):
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris,
                                       dialect="github")
        self.api = FakeServer(self._app, description=GITHUB_DESCRIPTION)
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.faults = faults
        self.secondary_limits = 0
        self._fault_rng = random.Random(fault_seed)
        self._lock = threading.RLock()
        self._ids = itertools.count(500001)
        self._accepted: deque[float] = deque()
        self._rate_reset = int(time.time() + rate_window)
        self.repos: dict[str, dict] = {}       # "owner/name" -> repository
        self.issues: dict[str, list[dict]] = {}  # "owner/name" -> its issues and pull requests
        self.users: dict[str, dict] = {}
        self.hooks: dict[str, list[dict]] = {}   # "owner/name" -> hooks
        self.deliveries: list[dict] = []
        self.not_modified = 0                  # 304s answered

    # -- tokens ------------------------------------------------------------------

    def issue_token(self, scopes: list[str] | None = None) -> str:
        oauth = self.oauth
        with oauth._lock:
            grant = _Grant(id=len(oauth._grants) + 1, client_id=oauth.client_id,
                           scope=" ".join(GITHUB_SCOPES if scopes is None else scopes), refresh_token="")
            oauth._grants[grant.id] = grant
            return oauth._issue(grant, include_refresh=False)["access_token"]

    def _grant(self, header: str | None):
        header = header or ""
        token = header.split(" ", 1)[1] if header.startswith(("Bearer ", "token ")) else ""
        grant = self.oauth.grant_for(token) if token else None
        if grant is None or grant.revoked or grant.access_tokens.get(token, 0) <= time.time():
            return None
        return grant

    # -- data, as someone on GitHub would change it ------------------------------

    def add_user(self, login: str, email: str | None = None) -> dict:
        with self._lock:
            user = {"login": login, "id": next(self._ids), "email": email}
            self.users[login] = user
            return user

    def add_repo(self, full_name: str, *, private: bool = False) -> dict:
        owner, name = full_name.split("/")
        with self._lock:
            repo = {"id": next(self._ids), "name": name, "full_name": full_name, "owner": owner,
                    "private": private, "counter": 0}
            self.repos[full_name] = repo
            self.issues[full_name] = []
            return repo

    def rename_repo(self, full_name: str, new_name: str) -> None:
        with self._lock:
            repo = self.repos.pop(full_name)
            repo["full_name"], repo["name"] = new_name, new_name.split("/")[1]
            self.repos[new_name] = repo
            self.issues[new_name] = self.issues.pop(full_name)
            self.hooks[new_name] = self.hooks.pop(full_name, [])

    def delete_repo(self, full_name: str) -> None:
        with self._lock:
            del self.repos[full_name]
            del self.issues[full_name]
            self.hooks.pop(full_name, None)

    def add_issue(self, full_name: str, title: str, *, state: str = "open", labels: tuple[str, ...] = (),
                  assignee: str | None = None, pull_request: bool = False,
                  updated: datetime | None = None) -> dict:
        return self._new_issue(full_name, title, state=state, labels=labels, assignee=assignee, updated=updated,
                               pull_request=pull_request)

    def _container(self, path: str) -> dict:
        return self.repos[path]

    def transfer_issue(self, full_name: str, number: int, to: str) -> dict:
        """Moved to another repository: a new id and number there (as GitHub does)."""
        with self._lock:
            issue = self.delete_issue(full_name, number)
            moved = self.add_issue(to, issue["title"], state=issue["state"], labels=tuple(issue["labels"]),
                                   assignee=issue["assignee"])
            return {**issue, "_moved": moved}

    # -- JSON as GitHub writes it --------------------------------------------------

    def _user_json(self, login: str | None) -> dict | None:
        if login is None:
            return None
        user = self.users[login]
        api = f"https://api.github.com/users/{login}"
        values = {"login": login, "id": user["id"], "node_id": f"U_{user['id']}", "type": "User", "url": api,
                  "html_url": f"https://github.com/{login}", "site_admin": False, "gravatar_id": "",
                  "avatar_url": f"https://avatars.githubusercontent.com/u/{user['id']}"}
        if user["email"] is not None:
            values["email"] = user["email"]
        return complete("simple-user", values)

    def _repo_json(self, repo: dict) -> dict:
        api = f"https://api.github.com/repos/{repo['full_name']}"
        owner = self._user_json(repo["owner"]) if repo["owner"] in self.users else complete(
            "simple-user", {"login": repo["owner"], "id": 1, "type": "Organization"})
        return complete("repository", {
            "id": repo["id"], "node_id": f"R_{repo['id']}", "name": repo["name"], "full_name": repo["full_name"],
            "owner": owner, "private": repo["private"], "html_url": f"https://github.com/{repo['full_name']}",
            "url": api, "issues_url": api + "/issues{/number}", "hooks_url": api + "/hooks", "has_issues": True,
            "default_branch": "main", "visibility": "private" if repo["private"] else "public"})

    def _issue_json(self, full_name: str, issue: dict) -> dict:
        api = f"https://api.github.com/repos/{full_name}"
        values = {
            "id": issue["id"], "node_id": f"I_{issue['id']}", "number": issue["number"], "title": issue["title"],
            "state": issue["state"], "url": f"{api}/issues/{issue['number']}", "repository_url": api,
            "html_url": f"https://github.com/{full_name}/{'pull' if issue['pull_request'] else 'issues'}/"
                        f"{issue['number']}",
            "labels_url": f"{api}/issues/{issue['number']}/labels{{/name}}",
            "comments_url": f"{api}/issues/{issue['number']}/comments",
            "events_url": f"{api}/issues/{issue['number']}/events",
            "labels": [{"id": abs(hash(name)) % 10**8, "node_id": f"L_{name}", "name": name, "color": "ededed",
                        "default": False, "url": f"{api}/labels/{name}", "description": None}
                       for name in issue["labels"]],
            "assignee": self._user_json(issue["assignee"]),
            "assignees": [self._user_json(issue["assignee"])] if issue["assignee"] else [],
            "user": self._user_json(next(iter(self.users))) if self.users else complete("simple-user", {}),
            "milestone": None, "locked": False, "comments": 0, "author_association": "OWNER",
            "created_at": github_time(issue["created"]), "updated_at": github_time(issue["updated"]),
            "closed_at": github_time(issue["updated"]) if issue["state"] == "closed" else None,
        }
        if issue["pull_request"]:
            values["pull_request"] = {"url": f"{api}/pulls/{issue['number']}", "html_url": values["html_url"],
                                      "diff_url": None, "patch_url": None}
        return complete("issue", values)

    # -- webhooks, from GitHub's side -------------------------------------------------

    def send_issue_event(self, action: str, full_name: str, issue: dict, *, secret: str | None = None,
                         delivery: str | None = None, body: bytes | None = None) -> list[int]:
        """POST an `issues` delivery to every hook of the repository; the receivers' statuses.
        `secret`: sign with it instead (a forgery); `delivery`: reuse an X-GitHub-Delivery (a
        replay); `body`: send these bytes (signed with the hook's secret) instead."""
        with self._lock:
            repo = self.repos.get(full_name) or {"id": 0, "name": full_name, "full_name": full_name,
                                                 "owner": full_name.split("/")[0], "private": False}
            payload = {"action": action, "issue": self._issue_json(full_name, issue),
                       "repository": self._repo_json(repo), "sender": self._user_json(next(iter(self.users)))
                       if self.users else None}
            hooks = list(self.hooks.get(full_name, []))
        statuses = []
        for hook in hooks:
            data = body if body is not None else json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake",
                       "X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                       "X-GitHub-Hook-ID": str(hook["id"]),
                       "X-Hub-Signature-256": signature(secret or hook["config"]["secret"], data)}
            status = post_delivery(hook["config"]["url"], data, headers)
            statuses.append(status)
            with self._lock:
                self.deliveries.append({"hook": hook["id"], "status": status, "headers": headers, "body": data})
        return statuses

    # -- HTTP --------------------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        gate = self._gate(environ)
        extra: dict[str, str] = {}
        if gate is not None:
            status, body, extra = gate
        else:
            grant = self._grant(request.headers.get("Authorization"))
            if grant is None:
                status, body = 401, BAD_CREDENTIALS
            else:
                status, body, extra = self._limited(request, grant)
        payload = b"" if body is None else json.dumps(body).encode()
        headers = dict(extra)
        if environ.get("fake.link"):
            headers["Link"] = environ["fake.link"]
        if status == 200 and request.method == "GET":
            etag = 'W/"' + hashlib.sha256(payload).hexdigest()[:40] + '"'
            headers["ETag"] = etag
            if etag in [tag.strip() for tag in (request.headers.get("If-None-Match") or "").split(",")]:
                with self._lock:
                    self.not_modified += 1
                    self._uncount()
                return Response(b"", 304, headers=headers)(environ, start_response)
        response = Response(payload, status, content_type="application/json; charset=utf-8") if body is not None \
            else Response(b"", status)
        for name, value in headers.items():
            response.headers[name] = value
        return response(environ, start_response)

    def _limited(self, request: Request, grant) -> tuple[int, dict | list | None, dict]:
        """The primary rate limit's headers on every answer; a 403 once it is used up."""
        with self._lock:
            now = time.time()
            if now >= self._rate_reset:
                self._accepted.clear()
                self._rate_reset = int(now + self.rate_window)
            limit = 5000 if self.rate_limit is None else self.rate_limit
            headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Reset": str(self._rate_reset),
                       "X-RateLimit-Resource": "core"}
            if self.rate_limit is not None and len(self._accepted) >= limit:
                headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Used": str(limit)})
                return 403, PRIMARY, headers
            self._accepted.append(now)
            headers.update({"X-RateLimit-Remaining": str(max(limit - len(self._accepted), 0)),
                            "X-RateLimit-Used": str(len(self._accepted))})
            status, body = self._route(request, set(grant.scope.split()))
        return status, body, headers

    def _uncount(self) -> None:
        """A 304 to an authorised conditional request does not count against the limit."""
        if self._accepted:
            self._accepted.pop()

    def _gate(self, environ) -> tuple[int, dict | None, dict] | None:
        with self._lock:
            if self.secondary_limits > 0:
                self.secondary_limits -= 1
                status = 403 if self.secondary_limits % 2 == 0 else 429
                return status, SECONDARY, {"Retry-After": "1"}
            fault, error_status = draw_fault(self.faults, self._fault_rng)
        return fault_answer(fault, error_status, self.faults, environ, error_body={"message": "Server Error"},
                            rate_limited=(403, SECONDARY))

    def _route(self, request: Request, scopes: set[str]) -> tuple[int, dict | list | None]:
        parts = request.path.strip("/").split("/")
        method = request.method
        if method == "GET" and parts == ["user"]:
            me = self.oauth
            return 200, {**me._github_public_user(), "id": 4201, "name": me.account["name"],
                         "email": me.account["email"]}
        if method == "GET" and parts == ["user", "repos"]:
            repos = sorted(self.repos.values(), key=lambda r: r["full_name"].lower())
            return self._paged(request, repos, self._repo_json)
        if len(parts) >= 4 and parts[0] == "repos":
            full_name = f"{parts[1]}/{parts[2]}"
            repo = self.repos.get(full_name)
            if repo is None or (repo["private"] and "repo" not in scopes):
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            if method == "GET" and parts[3:] == ["issues"]:
                return self._list_issues(request, full_name)
            if parts[3] == "hooks":
                if not scopes & {"admin:repo_hook", "repo"}:
                    return 404, {"message": "Not Found"}
                return self._hooks(request, full_name, parts[4:])
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _list_issues(self, request: Request, full_name: str):
        args = request.args
        state = args.get("state", "open")
        if state not in ("open", "closed", "all"):
            return 422, {"message": "Validation Failed"}
        chosen = [i for i in self.issues[full_name] if state == "all" or i["state"] == state]
        if args.get("since"):
            try:
                since = datetime.fromisoformat(args["since"].replace("Z", "+00:00"))
            except ValueError:
                return 422, {"message": "Validation Failed"}
            chosen = [i for i in chosen if i["updated"] >= since]
        key = {"created": "created", "updated": "updated"}.get(args.get("sort", "created"), "created")
        chosen.sort(key=lambda i: (i[key], i["number"]), reverse=args.get("direction", "desc") == "desc")
        return self._paged(request, chosen, lambda issue: self._issue_json(full_name, issue))

    def _paged(self, request: Request, items: list, as_json=lambda item: item) -> tuple[int, list]:
        """One page of `items`, each turned into JSON only when served."""
        try:
            size = min(max(int(request.args.get("per_page", DEFAULT_PAGE)), 1), MAX_PAGE)
            page = max(int(request.args.get("page", 1)), 1)
        except ValueError:
            return 422, {"message": "Validation Failed"}
        return 200, offset_page(request, items, as_json, size=size, page=page)

    def _hooks(self, request: Request, full_name: str, rest: list[str]):
        hooks = self.hooks.setdefault(full_name, [])
        if request.method == "POST" and not rest:
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                return 400, {"message": "Problems parsing JSON"}
            config = (body or {}).get("config") or {}
            if not isinstance(config.get("url"), str) or not config["url"].startswith("http"):
                return 422, {"message": "Validation Failed", "errors": [{"resource": "Hook", "code": "custom",
                                                                         "message": "url is not a valid URL"}]}
            hook_id = next(self._ids)
            api = f"https://api.github.com/repos/{full_name}/hooks/{hook_id}"
            hook = {"type": "Repository", "id": hook_id, "name": "web", "active": body.get("active", True),
                    "events": body.get("events") or ["push"], "config": dict(config),
                    "updated_at": github_time(datetime.now(timezone.utc)),
                    "created_at": github_time(datetime.now(timezone.utc)), "url": api, "test_url": api + "/test",
                    "ping_url": api + "/pings", "deliveries_url": api + "/deliveries",
                    "last_response": {"code": None, "status": "unused", "message": None}}
            hooks.append(hook)
            shown = copy.deepcopy(hook)
            if shown["config"].get("secret"):
                shown["config"]["secret"] = "********"
            return 201, shown
        if request.method == "DELETE" and len(rest) == 1:
            found = next((h for h in hooks if str(h["id"]) == rest[0]), None)
            if found is None:
                return 404, {"message": "Not Found"}
            hooks.remove(found)
            return 204, None
        return 404, {"message": "Not Found"}
