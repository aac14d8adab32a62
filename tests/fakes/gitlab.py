"""A fake GitLab (gitlab.com or a self-managed host) over loopback: REST v4, GraphQL, OAuth.

The OAuth side is the strict FakeOAuthProvider (standard dialect, rotating refresh
tokens, as GitLab). The API server answers, under `/api/v4`:

- `GET /user`; `GET /users/:id` (`public_email`; `email` only with `admin_token`); `GET /projects` (membership, keyset pagination ordered by id);
  `GET /projects/:id/issues` (`updated_after` inclusive, keyset pagination ordered by
  `updated_at` or `created_at`, `scope`, `state`); `GET /projects/:id/labels` (offset
  pages); `POST /projects/:id/hooks`, `DELETE /projects/:id/hooks/:hook_id`.
- Paging as GitLab pages: `per_page` default 20, at most 100; keyset pages link the next
  page by an opaque `cursor` in the `Link` header; keyset asked with an order it does not
  support is a 405, as GitLab answers.

and `POST /api/graphql`, executed with graphql-core on the schema subset in
tests/fixtures/gitlab/schema.graphql: `issue { timelogs }`, `timelogCreate`,
`timelogDelete` (errors as GitLab gives them: a top-level `errors` entry and a null
payload for an issue or timelog that does not exist).

Every request is validated against tests/fixtures/gitlab/openapi.json (GitLab publishes no
OpenAPI description of these endpoints; the fixture names the documentation pages) and,
for GraphQL, against the schema. Authentication: a live bearer token of the OAuth fake's
grants, 401 otherwise. `rate_limit=(n, seconds)`: 429 with Retry-After and RateLimit-*
headers beyond n calls in the window. `faults` strike before a call is handled.
`lose_timelog_answers = n`: the next n timelogCreate calls create, then the connection
drops before the answer leaves.

Webhooks: `send_issue_hook(action, project_path, issue)` POSTs an "Issue Hook" delivery to
every hook of the project, with its secret token in X-Gitlab-Token, `Idempotency-Key` and
X-Gitlab-Event-UUID naming the event.
"""
from __future__ import annotations

import base64
import itertools
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from urllib.parse import urlencode

import graphql
from werkzeug.wrappers import Request, Response

from tests.contract import Description, graphql_schema
from tests.fakes.injected_faults import draw_fault, fault_answer, window_wait
from tests.fakes.issue_tracker import NumberedIssues, offset_page, post_delivery
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi
from tests.fakes.paged_provider import Faults
from tests.fakes.server import FakeServer

DEFAULT_PAGE, MAX_PAGE = 20, 100
GITLAB_DESCRIPTION = Description("gitlab")
NOT_THERE = ("The resource that you are attempting to access does not exist or you don't have permission to "
             "perform this action")
DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*$")


def gitlab_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def hook_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class FakeGitLab(NumberedIssues, FakeProviderWithApi):
    slug = "gitlab"
    number_key = "iid"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "gl-app", client_secret: str = "gl-secret",
                 rate_limit: tuple[int, float] | None = None, faults: Faults | None = None, fault_seed: int = 0):
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris)
        self.api = FakeServer(self._app, description=GITLAB_DESCRIPTION)
        self.rate_limit, self.faults = rate_limit, faults
        self._fault_rng = random.Random(fault_seed)
        self._lock = threading.RLock()
        self._ids = itertools.count(7001)
        self._accepted: deque[float] = deque()
        self.projects: dict[str, dict] = {}     # path -> project
        self.issues: dict[str, list[dict]] = {}
        self.labels: dict[str, list[str]] = {}
        self.users: dict[str, dict] = {}
        self.user_emails: dict[str, tuple[str | None, str | None]] = {}   # username -> (public, primary)
        self.admin_token = False     # the connected account is an instance administrator
        self.hooks: dict[str, list[dict]] = {}
        self.timelogs: dict[int, list[dict]] = {}   # issue id -> timelogs
        self.created_timelogs: list[str] = []
        self.lose_timelog_answers = 0
        self.deliveries: list[dict] = []
        self._schema = graphql_schema("gitlab")

    def env(self, slug: str | None = None) -> dict[str, str]:
        return {**self.oauth.env("gitlab"), "GITLAB_API_BASE": f"{self.api.base_url}/api/v4"}

    # -- data --------------------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None, *, public_email: str | None = None,
                 email: str | None = None) -> dict:
        """`public_email`: what the users API shows everyone; `email`: the primary address,
        shown only to administrators (`admin_token = True`)."""
        with self._lock:
            user = {"id": next(self._ids), "username": username, "name": name or username, "state": "active",
                    "web_url": f"https://gitlab.example.com/{username}", "avatar_url": None}
            self.users[username] = user
            self.user_emails[username] = (public_email, email)
            return user

    def add_project(self, path: str, labels: tuple[str, ...] = ()) -> dict:
        with self._lock:
            project = {"id": next(self._ids), "path_with_namespace": path, "counter": 0}
            self.projects[path] = project
            self.issues[path], self.labels[path], self.hooks[path] = [], list(labels), []
            return project

    def rename_project(self, path: str, new_path: str) -> None:
        with self._lock:
            project = self.projects.pop(path)
            project["path_with_namespace"] = new_path
            self.projects[new_path] = project
            for table in (self.issues, self.labels, self.hooks):
                table[new_path] = table.pop(path)

    def add_issue(self, path: str, title: str, *, state: str = "opened", labels: tuple[str, ...] = (),
                  assignee: str | None = None, updated: datetime | None = None) -> dict:
        return self._new_issue(path, title, state=state, labels=labels, assignee=assignee, updated=updated)

    def _container(self, path: str) -> dict:
        return self.projects[path]

    def delete_issue(self, path: str, iid: int) -> dict:
        with self._lock:
            issue = super().delete_issue(path, iid)
            self.timelogs.pop(issue["id"], None)
            return issue

    def move_issue(self, path: str, iid: int, to: str) -> dict:
        """GitLab's move closes the issue here and opens a new one (new id) there."""
        with self._lock:
            issue = self._issue(path, iid)
            issue.update(state="closed", updated=datetime.now(timezone.utc))
            self.issues[path].remove(issue)
            return self.add_issue(to, issue["title"], labels=tuple(issue["labels"]), assignee=issue["assignee"])

    def timelogs_of(self, path: str, iid: int) -> list[dict]:
        with self._lock:
            return [dict(t) for t in self.timelogs.get(self._issue(path, iid)["id"], [])]

    # -- JSON as GitLab writes it -----------------------------------------------------------

    def _user_json(self, username: str | None) -> dict | None:
        return None if username is None else dict(self.users[username])

    def _project_json(self, project: dict) -> dict:
        path = project["path_with_namespace"]
        return {"id": project["id"], "name": path.rsplit("/", 1)[-1], "name_with_namespace": path.replace("/", " / "),
                "path": path.rsplit("/", 1)[-1], "path_with_namespace": path,
                "web_url": f"https://gitlab.example.com/{path}", "default_branch": "main",
                "created_at": "2026-01-01T00:00:00.000Z", "last_activity_at": "2026-11-01T00:00:00.000Z"}

    def _issue_json(self, path: str, issue: dict) -> dict:
        project = self.projects[path]
        assignee = self._user_json(issue["assignee"])
        return {"id": issue["id"], "iid": issue["iid"], "project_id": project["id"], "title": issue["title"],
                "description": None, "state": issue["state"], "created_at": gitlab_time(issue["created"]),
                "updated_at": gitlab_time(issue["updated"]),
                "closed_at": gitlab_time(issue["updated"]) if issue["state"] == "closed" else None,
                "labels": list(issue["labels"]), "assignee": assignee, "assignees": [assignee] if assignee else [],
                "web_url": f"https://gitlab.example.com/{path}/-/issues/{issue['iid']}",
                "references": {"short": f"#{issue['iid']}", "relative": f"#{issue['iid']}",
                               "full": f"{path}#{issue['iid']}"},
                "time_stats": {"time_estimate": 0, "total_time_spent": sum(
                    t["timeSpent"] for t in self.timelogs.get(issue["id"], []))}}

    # -- webhooks ------------------------------------------------------------------------------

    def send_issue_hook(self, action: str, path: str, issue: dict, *, token: str | None = None,
                        event_id: str | None = None, body: bytes | None = None) -> list[int]:
        with self._lock:
            project = self.projects[path]
            payload = {"object_kind": "issue", "event_type": "issue",
                       "user": self._user_json(next(iter(self.users))) if self.users else None,
                       "project": {"id": project["id"], "name": path.rsplit("/", 1)[-1],
                                   "path_with_namespace": path, "web_url": f"https://gitlab.example.com/{path}"},
                       "object_attributes": {"id": issue["id"], "iid": issue["iid"], "title": issue["title"],
                                             "state": issue["state"], "action": action,
                                             "project_id": project["id"],
                                             "created_at": hook_time(issue["created"]),
                                             "updated_at": hook_time(issue["updated"]),
                                             "url": f"https://gitlab.example.com/{path}/-/issues/{issue['iid']}"},
                       "labels": [{"id": n, "title": name} for n, name in enumerate(issue["labels"])],
                       "assignees": [self._user_json(issue["assignee"])] if issue["assignee"] else []}
            hooks = list(self.hooks.get(path, []))
        statuses = []
        for hook in hooks:
            key = event_id or str(uuid.uuid4())
            headers = {"Content-Type": "application/json", "User-Agent": "GitLab/17.6.0",
                       "X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": token or hook["token"],
                       "X-Gitlab-Event-UUID": key, "Idempotency-Key": key,
                       "X-Gitlab-Webhook-UUID": hook["uuid"], "X-Gitlab-Instance": "https://gitlab.example.com"}
            data = body if body is not None else json.dumps(payload).encode()
            status = post_delivery(hook["url"], data, headers)
            statuses.append(status)
            with self._lock:
                self.deliveries.append({"status": status, "headers": headers, "body": data})
        return statuses

    # -- HTTP ------------------------------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        gate = self._gate(environ)
        headers: dict[str, str] = {}
        if gate is not None:
            status, body, headers = gate
        elif not self._authorised(request.headers.get("Authorization")):
            status, body = 401, {"message": "401 Unauthorized"}
        else:
            with self._lock:
                status, body = self._route(request, environ)
            if environ.get("fake.link"):
                headers["Link"] = environ["fake.link"]
            if environ.pop("fake.lose", False):
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        response = Response(b"" if body is None else json.dumps(body), status,
                            content_type="application/json")
        for name, value in headers.items():
            response.headers[name] = value
        return response(environ, start_response)

    def caller(self, header: str | None) -> str:
        """The username the token acts as: the user whose primary e-mail consented to its grant
        (the authorization server's `account` then), else the connecting admin."""
        token = header[7:] if header and header.startswith("Bearer ") else ""
        grant = self.oauth.grant_for(token) if token else None
        email = grant.account_email if grant else None
        return next((username for username, (_public, primary) in self.user_emails.items()
                     if email and primary == email), self.oauth.username)

    def _authorised(self, header: str | None) -> bool:
        token = header[7:] if header and header.startswith("Bearer ") else ""
        grant = self.oauth.grant_for(token) if token else None
        return grant is not None and not grant.revoked and grant.access_tokens.get(token, 0) > time.time()

    def _gate(self, environ):
        with self._lock:
            wait = window_wait(self._accepted, self.rate_limit)
            if wait is not None:
                return 429, {"message": "Retry later"}, {
                    "Retry-After": str(wait), "RateLimit-Limit": str(self.rate_limit[0]), "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(int(time.time()) + wait)}
            fault, error_status = draw_fault(self.faults, self._fault_rng)
        return fault_answer(fault, error_status, self.faults, environ,
                            error_body={"message": "500 Internal Server Error"},
                            rate_limited=(429, {"message": "Retry later"}))

    def _route(self, request: Request, environ) -> tuple[int, object]:
        path, method = request.path.rstrip("/"), request.method
        if path == "/api/graphql" and method == "POST":
            return self._graphql(request, environ)
        if not path.startswith("/api/v4/"):
            return 404, {"message": "404 Not Found"}
        parts = path[len("/api/v4/"):].split("/")
        if parts == ["user"] and method == "GET":
            username = self.caller(request.headers.get("Authorization"))
            if username != self.oauth.username:
                user = self.users[username]
                return 200, dict(user, email=self.user_emails[username][1])
            return 200, {"id": 4201, "username": self.oauth.username, "name": self.oauth.account["name"],
                         "state": "active", "web_url": "https://gitlab.example.com/" + self.oauth.username,
                         "email": self.oauth.account["email"]}
        if len(parts) == 2 and parts[0] == "users" and method == "GET":
            return self._single_user(parts[1])
        if parts == ["projects"] and method == "GET":
            if request.args.get("pagination") == "keyset" and request.args.get("order_by") != "id":
                return 405, {"error": "Keyset pagination is not yet available for this type of request"}
            projects = sorted(self.projects.values(), key=lambda p: p["id"])
            return self._keyset(request, environ, [((p["id"],), self._project_json(p)) for p in projects])
        if len(parts) >= 3 and parts[0] == "projects":
            project = next((p for p in self.projects.values() if str(p["id"]) == parts[1]), None)
            if project is None:
                return 404, {"message": "404 Project Not Found"}
            path_name = project["path_with_namespace"]
            if parts[2:] == ["issues"] and method == "GET":
                return self._list_issues(request, environ, path_name)
            if parts[2:] == ["labels"] and method == "GET":
                return self._offset(request, environ, [
                    {"id": n + 1, "name": name, "color": "#428BCA", "description": None, "text_color": "#FFFFFF"}
                    for n, name in enumerate(self.labels[path_name])])
            if parts[2] == "hooks":
                return self._hooks(request, project, parts[3:])
        return 404, {"message": "404 Not Found"}

    def _single_user(self, user_id: str) -> tuple[int, dict]:
        """`GET /users/:id`: `public_email` for every caller ("" when none is public), `email`
        for administrators only."""
        user = next((u for u in self.users.values() if str(u["id"]) == user_id), None)
        if user is None:
            return 404, {"message": "404 User Not Found"}
        public, primary = self.user_emails.get(user["username"], (None, None))
        found = {**user, "public_email": public or ""}
        if self.admin_token and primary:
            found["email"] = primary
        return 200, found

    def _list_issues(self, request: Request, environ, path: str):
        args = request.args
        order = args.get("order_by", "created_at")
        if args.get("pagination") == "keyset" and order not in ("created_at", "updated_at", "title"):
            return 405, {"error": "Keyset pagination is not yet available for this type of request"}
        state = args.get("state", "all")
        chosen = [i for i in self.issues[path] if state in ("all", i["state"])]
        if args.get("updated_after"):
            try:
                since = datetime.fromisoformat(args["updated_after"].replace("Z", "+00:00"))
            except ValueError:
                return 400, {"error": "updated_after is invalid"}
            chosen = [i for i in chosen if i["updated"] >= since]
        key = {"updated_at": "updated", "created_at": "created", "title": "title"}[order] \
            if order in ("updated_at", "created_at", "title") else "created"
        chosen.sort(key=lambda i: (i[key], i["id"]), reverse=args.get("sort", "desc") == "desc")
        keyed = [((i[key], i["id"]), i) for i in chosen]
        as_json = lambda issue: self._issue_json(path, issue)  # noqa: E731 (built per page served only)
        if args.get("pagination") == "keyset":
            return self._keyset(request, environ, keyed, as_json)
        return self._offset(request, environ, [as_json(item) for _, item in keyed])

    def _size(self, request: Request) -> int:
        try:
            return min(max(int(request.args.get("per_page", DEFAULT_PAGE)), 1), MAX_PAGE)
        except ValueError:
            return DEFAULT_PAGE

    def _keyset(self, request: Request, environ, keyed: list, as_json=lambda item: item) -> tuple[int, list]:
        """Items after the cursor's key; the next page's URL carries the last key served."""
        size, start = self._size(request), 0
        if request.args.get("cursor"):
            try:
                after = tuple(_unplain(value) for value in json.loads(base64.urlsafe_b64decode(request.args["cursor"])))
            except (ValueError, TypeError):
                return 400, {"error": "Invalid cursor"}
            start = next((n for n, (key, _) in enumerate(keyed) if key == after), None)
            if start is None:
                return 400, {"error": "Invalid cursor"}
            start += 1
        page = keyed[start:start + size]
        if start + size < len(keyed):
            cursor = base64.urlsafe_b64encode(json.dumps([_plain(v) for v in page[-1][0]]).encode()).decode()
            others = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
            environ["fake.link"] = f'<{request.base_url}?{urlencode([*others, ("cursor", cursor)])}>; rel="next"'
        return 200, [as_json(item) for _, item in page]

    def _offset(self, request: Request, environ, items: list) -> tuple[int, list]:
        try:
            number = max(int(request.args.get("page", 1)), 1)
        except ValueError:
            number = 1
        return 200, offset_page(request, items, lambda item: item, size=self._size(request), page=number)

    def _hooks(self, request: Request, project: dict, rest: list[str]):
        hooks = self.hooks[project["path_with_namespace"]]
        if request.method == "POST" and not rest:
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                return 400, {"error": "body is invalid"}
            if not isinstance(body.get("url"), str) or not body["url"].startswith("http"):
                return 422, {"error": "url is invalid"}
            hook = {"id": next(self._ids), "url": body["url"], "token": body.get("token") or "",
                    "project_id": project["id"], "issues_events": bool(body.get("issues_events")),
                    "push_events": body.get("push_events", True), "uuid": str(uuid.uuid4()),
                    "enable_ssl_verification": body.get("enable_ssl_verification", True),
                    "created_at": gitlab_time(datetime.now(timezone.utc))}
            hooks.append(hook)
            return 201, {k: v for k, v in hook.items() if k not in ("token", "uuid")}
        if request.method == "DELETE" and len(rest) == 1:
            found = next((h for h in hooks if str(h["id"]) == rest[0]), None)
            if found is None:
                return 404, {"message": "404 Not found"}
            hooks.remove(found)
            return 204, None
        return 404, {"message": "404 Not Found"}

    # -- GraphQL -----------------------------------------------------------------------------

    def _graphql(self, request: Request, environ) -> tuple[int, dict]:
        try:
            sent = json.loads(request.get_data() or b"{}")
            document = graphql.parse(sent["query"])
        except (ValueError, KeyError, TypeError, graphql.GraphQLError) as error:
            return 200, {"errors": [{"message": f"Invalid request: {error}"}]}
        problems = graphql.validate(self._schema, document)
        if problems:
            return 200, {"errors": [{"message": p.message} for p in problems]}
        root = {"issue": self._gql_issue, "timelogCreate": lambda info, input: self._timelog_create(input, environ),
                "timelogDelete": lambda info, input: self._timelog_delete(input)}
        result = graphql.execute_sync(self._schema, document, root_value=root,
                                      variable_values=sent.get("variables") or {})
        answer = {"data": result.data}
        if result.errors:
            answer["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        return 200, answer

    def _find_issue_by_id(self, issue_id: int) -> tuple[str, dict] | None:
        for path, issues in self.issues.items():
            for issue in issues:
                if issue["id"] == issue_id:
                    return path, issue
        return None

    @staticmethod
    def _gid(value, kind: str) -> int | None:
        match = re.fullmatch(rf"gid://gitlab/{kind}/(\d+)", str(value))
        return int(match[1]) if match else None

    def _gql_issue(self, info, id):
        issue_id = self._gid(id, "Issue")
        found = self._find_issue_by_id(issue_id) if issue_id else None
        if found is None:
            return None
        _, issue = found
        logs = self.timelogs.get(issue["id"], [])

        def timelogs(info, first=100, after=None, **_):
            start = int(after) if after else 0
            page = logs[start:start + min(first or 100, 100)]
            more = start + len(page) < len(logs)
            return {"count": len(logs), "nodes": [dict(t) for t in page],
                    "pageInfo": {"hasNextPage": more, "hasPreviousPage": start > 0, "startCursor": str(start),
                                 "endCursor": str(start + len(page)) if more else None}}

        return {"id": f"gid://gitlab/Issue/{issue['id']}", "iid": str(issue["iid"]), "title": issue["title"],
                "timelogs": timelogs}

    def _timelog_create(self, values: dict, environ) -> dict:
        issue_id = self._gid(values["issuableId"], "Issue")
        if issue_id is None or self._find_issue_by_id(issue_id) is None:
            raise graphql.GraphQLError(NOT_THERE)
        match = DURATION.match(values["timeSpent"])
        if not match or not any(match.groups()):
            return {"errors": ["Time spent can't be blank"], "timelog": None, "clientMutationId": None}
        try:
            datetime.fromisoformat(str(values["spentAt"]).replace("Z", "+00:00"))
        except ValueError:
            return {"errors": ["Spent at is invalid"], "timelog": None, "clientMutationId": None}
        seconds = int(match[1] or 0) * 3600 + int(match[2] or 0) * 60
        timelog = {"id": f"gid://gitlab/Timelog/{next(self._ids)}", "timeSpent": seconds,
                   "spentAt": values["spentAt"], "summary": values["summary"],
                   "author": self.caller(environ.get("HTTP_AUTHORIZATION"))}  # GitLab's `user`: the token's
        self.timelogs.setdefault(issue_id, []).append(timelog)
        self.created_timelogs.append(timelog["id"])
        if self.lose_timelog_answers > 0:
            self.lose_timelog_answers -= 1
            environ["fake.lose"] = True
        return {"errors": [], "timelog": dict(timelog), "clientMutationId": None}

    def _timelog_delete(self, values: dict) -> dict:
        for logs in self.timelogs.values():
            for timelog in logs:
                if timelog["id"] == values["id"]:
                    logs.remove(timelog)
                    return {"errors": [], "timelog": dict(timelog), "clientMutationId": None}
        raise graphql.GraphQLError(NOT_THERE)


def _plain(value):
    """A keyset key's part as the cursor carries it (JSON)."""
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _unplain(value):
    return datetime.fromisoformat(value["t"]) if isinstance(value, dict) else value
