"""A fake Jira Cloud REST API v3 behind the fake Atlassian gateway, over loopback.

Jira lives where Atlassian's gateway serves it to OAuth 2.0 apps:
`{api.base_url}/ex/jira/{cloudId}/rest/api/3/...`, for the cloud id of any
site in `self.sites` (all sites share one data set). Every call needs a live
access token of `self.oauth` (401 otherwise); an unknown cloud id is a 404.

    with FakeJira(redirect_uris=(...,)) as jira:
        jira.add_project("ACME", "Acme")
        issue = jira.add_issue("ACME", "Fix the boiler", status="In Progress")
        token = jira.issue_token()
        httpx2.post(jira.site_api_base() + "/rest/api/3/search/jql", json={"jql": "project = ACME"},
                    headers={"Authorization": f"Bearer {token}"})

Served: search/jql (GET and POST, the JQL of tests.fakes.jira_jql, opaque
nextPageToken), project/search, project, myself, issue/{idOrKey},
issue worklogs (list, add, update, delete), user/search, users/search,
dynamic webhooks (register, list, delete, refresh) and status. Deliveries
(`send_webhook`) are signed as described in tests.fakes.jira_webhooks.

Worklog properties (entity properties, `[{key, value}]`) sent with a POST or PUT
are kept, as Jira keeps them: a PUT sets the keys it names and leaves the others.
They are served only under `expand=properties` (list, add, update), and held in
`self.worklog_properties` (worklog id -> properties) until the worklog goes.
`self.created_worklogs` lists the id of every worklog ever created, in order.

Test hooks: `lose_worklog_answers = n` — the next n worklogs created over REST
are created, then the connection drops before the 201 leaves (the answer is
still recorded in `api.requests`, as the fake wrote it). `while_listing = fn` —
fn runs once, right after the next search page is served and before the client
gets it (someone changing Jira while a listing is under way).

`rate_limit=(n, seconds)`: beyond n REST calls in a sliding window, 429 with
Retry-After. `faults` (tests.fakes.paged_provider.Faults) are drawn per REST
call and strike BEFORE the call is handled, so a failed POST never created
anything: `error`/`rate_limit` answer 5xx/429, `timeout` answers 504 after
`Faults.hang` seconds, `reset` drops the connection unanswered, `latency` waits.
"""
from __future__ import annotations

import itertools
import json
import random
import re
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from tests.fakes import jira_jql
from tests.fakes.atlassian import (
    JIRA_SCOPES,
    SCOPE_MISMATCH,
    FakeAtlassian,
    bearer_is_valid,
    granted_scopes,
    scopes_needed,
)
from tests.fakes.jira_jql import jira_time
from tests.fakes.jira_webhooks import (
    EVENT_TYPE_NAMES,
    WEBHOOK_EVENTS,
    WEBHOOK_LIFETIME_MS,
    post_json,
    started_ms,
    wants_properties,
    webhook_jwt,
    with_properties,
    worklog_errors,
    worklog_fields,
)
from tests.fakes.injected_faults import draw_fault, fault_answer, window_wait
from tests.fakes.oauth_provider import _Grant
from tests.fakes.paged_provider import Faults

STATUS_CATEGORIES = {  # Jira's built-in status categories
    "new": {"id": 2, "key": "new", "name": "To Do", "colorName": "blue-gray"},
    "indeterminate": {"id": 4, "key": "indeterminate", "name": "In Progress", "colorName": "yellow"},
    "done": {"id": 3, "key": "done", "name": "Done", "colorName": "green"},
    "undefined": {"id": 1, "key": "undefined", "name": "No Category", "colorName": "medium-gray"},
}
DEFAULT_PAGE, MAX_PAGE = 50, 100            # project/search, users/search, webhook paging
SEARCH_DEFAULT_PAGE = 50
ALL_ISSUE_FIELDS = ("summary", "status", "assignee", "project", "issuetype", "created", "updated")
REST = re.compile(r"^/ex/jira/(?P<cloud>[^/]+)(?P<rest>/.*)$")


def _error(status: int, *messages: str, errors: dict | None = None) -> tuple[int, dict]:
    return status, {"errorMessages": list(messages), "errors": errors or {}}


class FakeJira(FakeAtlassian):
    slug = "jira"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "jira-client",
                 client_secret: str = "jira-secret", max_results: int = 100, time_zone: str = "UTC",
                 rate_limit: tuple[int, float] | None = None, faults: Faults | None = None):
        super().__init__(redirect_uris=redirect_uris, client_id=client_id, client_secret=client_secret)
        self.max_results = max_results
        self.time_zone = time_zone
        self.rate_limit = rate_limit
        self.faults = faults
        self.auto_webhooks = False
        self._lock = threading.RLock()
        self._ids = itertools.count(10000)          # issue, project, worklog and status ids
        self._webhook_ids = itertools.count(1000)
        self._token_key = secrets.token_bytes(16)    # signs nextPageTokens: a forged one is a 400
        self._fault_rng = random.Random(0)
        self._accepted: deque[float] = deque()
        self.users: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}          # key -> {id, key, name}
        self.issues: dict[str, dict] = {}            # issue id -> record
        # Bumped by every change a search could see; the last search's matches, sorted, are kept
        # under (its JQL, the zone, the revision), so the pages of one listing are not each a
        # filter and sort of every issue (100,000 issues made that the benchmark's whole time).
        self._revision = 0
        self._last_found: tuple[tuple, list[dict]] | None = None
        self._former_keys: dict[str, str] = {}       # key before a move -> issue id (Jira still resolves them)
        self._deleted: dict[str, dict] = {}          # key -> last record, for jira:issue_deleted deliveries
        self.worklogs: dict[str, list[dict]] = {}    # issue id -> worklogs as served
        self.worklog_properties: dict[str, list[dict]] = {}   # worklog id -> its entity properties
        self.created_worklogs: list[str] = []        # every worklog id ever created, deleted ones too
        self.lose_worklog_answers = 0
        self.while_listing = None
        self.while_listing_projects = None
        self.webhooks: list[dict] = []
        self.refuse_webhooks: list[str] = []         # errors Jira answers a registration with (e.g. its limit)
        self.deliveries: list[dict] = []             # {url, status, body, headers} of every delivery sent
        self.statuses: dict[str, dict] = {}
        for name, category in (("To Do", "new"), ("In Progress", "indeterminate"), ("Done", "done")):
            self.add_status(name, category)
        account = self.oauth.account
        self.me = self.add_user(account["id"], account["name"], account["email"])

    # -- addresses and tokens ------------------------------------------------

    def site_api_base(self, site_index: int = 0) -> str:
        return f"{self.api.base_url}/ex/jira/{self.sites[site_index]['id']}"

    @property
    def api_requests(self):
        return self.api.requests

    def issue_token(self, scopes: list[str] | None = None) -> str:
        """A live access token for a fresh grant, as if a user had just connected
        (granting every Jira scope unless `scopes` says which)."""
        oauth = self.oauth
        granted = JIRA_SCOPES if scopes is None else scopes
        with oauth._lock:
            grant = _Grant(id=len(oauth._grants) + 1, client_id=oauth.client_id,
                           scope=" ".join([*granted, "offline_access"]), refresh_token=secrets.token_urlsafe(32))
            oauth._grants[grant.id] = grant
            return oauth._issue(grant, include_refresh=True)["access_token"]

    # -- data, as a Jira user would change it --------------------------------

    def add_user(self, account_id: str, display_name: str, email: str | None = None) -> dict:
        """`email` None: the user's privacy settings hide it (no emailAddress in answers)."""
        user = {"accountId": account_id, "displayName": display_name, "active": True, "accountType": "atlassian",
                "timeZone": self.time_zone}
        if email is not None:
            user["emailAddress"] = email
        with self._lock:
            self.users[account_id] = user
        return dict(user)

    def add_status(self, name: str, category_key: str) -> dict:
        with self._lock:
            status = {"id": str(next(self._ids)), "name": name, "statusCategory": dict(STATUS_CATEGORIES[category_key])}
            self.statuses[name] = status
        return dict(status)

    def add_project(self, key: str, name: str) -> dict:
        with self._lock:
            project = {"id": str(next(self._ids)), "key": key, "name": name, "counter": 0}
            self.projects[key] = project
            self._revision += 1
            return self._project_json(project, self.site_api_base())

    def rename_project(self, key: str, name: str) -> None:
        with self._lock:
            self.projects[key]["name"] = name

    def delete_project(self, key: str) -> None:
        with self._lock:
            project = self.projects.pop(key)
            for issue in [i for i in self.issues.values() if i["project_id"] == project["id"]]:
                self._remove_issue(issue)

    def add_issue(self, project_key: str, summary: str, *, status: str = "To Do", assignee: str | None = None,
                  updated: datetime | None = None) -> dict:
        with self._lock:
            project = self.projects[project_key]
            project["counter"] += 1
            moment = updated or datetime.now(timezone.utc)
            issue = {"id": str(next(self._ids)), "key": f"{project_key}-{project['counter']}",
                     "project_id": project["id"], "summary": summary, "status": status, "assignee": assignee,
                     "issuetype": "Task", "created": moment, "updated": moment}
            self._check_refs(issue)
            self.issues[issue["id"]] = issue
            self._revision += 1
            answer = self._issue_json(issue, self.site_api_base(), ALL_ISSUE_FIELDS)
        self._auto_send("jira:issue_created", issue["key"])
        return answer

    def update_issue(self, key: str, *, summary: str | None = None, status: str | None = None,
                     assignee: str | None = ..., updated: datetime | None = None) -> dict:
        """Change an issue; `updated` moves to now (or the time given). `assignee=None` unassigns."""
        with self._lock:
            issue = self._find_issue(key)
            if summary is not None:
                issue["summary"] = summary
            if status is not None:
                issue["status"] = status
            if assignee is not ...:
                issue["assignee"] = assignee
            self._check_refs(issue)
            issue["updated"] = updated or datetime.now(timezone.utc)
            self._revision += 1
            answer = self._issue_json(issue, self.site_api_base(), ALL_ISSUE_FIELDS)
        self._auto_send("jira:issue_updated", issue["key"])
        return answer

    def move_issue(self, key: str, project_key: str) -> dict:
        """Move to another project: a new key there, the same id; the old key still resolves."""
        with self._lock:
            issue, target = self._find_issue(key), self.projects[project_key]
            target["counter"] += 1
            self._former_keys[issue["key"]] = issue["id"]
            issue.update(key=f"{project_key}-{target['counter']}", project_id=target["id"],
                         updated=datetime.now(timezone.utc))
            self._revision += 1
            answer = self._issue_json(issue, self.site_api_base(), ALL_ISSUE_FIELDS)
        self._auto_send("jira:issue_updated", issue["key"])
        return answer

    def delete_issue(self, key: str) -> None:
        with self._lock:
            issue = self._find_issue(key)
            self._remove_issue(issue)
        self._auto_send("jira:issue_deleted", issue["key"])

    def worklogs_of(self, issue_key: str) -> list[dict]:
        with self._lock:
            issue = self._find_issue(issue_key)
            return [dict(w) for w in self.worklogs.get(issue["id"], [])]

    def _check_refs(self, issue: dict) -> None:
        if issue["status"] not in self.statuses:
            raise KeyError(f"no status {issue['status']!r}; add_status() it first")
        if issue["assignee"] is not None and issue["assignee"] not in self.users:
            raise KeyError(f"no user {issue['assignee']!r}; add_user() it first")

    def _find_issue(self, id_or_key: str) -> dict:
        """The live issue with this id, key or former key; KeyError when there is none."""
        if id_or_key in self.issues:
            return self.issues[id_or_key]
        for issue in self.issues.values():
            if issue["key"].upper() == id_or_key.upper():
                return issue
        former = self._former_keys.get(id_or_key.upper())
        if former in self.issues:
            return self.issues[former]
        raise KeyError(id_or_key)

    def _remove_issue(self, issue: dict) -> None:
        del self.issues[issue["id"]]
        self._revision += 1
        for worklog in self.worklogs.pop(issue["id"], []):   # Jira deletes an issue's worklogs with it
            self.worklog_properties.pop(worklog["id"], None)
        project = next((p for p in self.projects.values() if p["id"] == issue["project_id"]), None)
        self._deleted[issue["key"]] = {**issue, "_project": project}

    # -- webhooks, from Jira's side ------------------------------------------

    def expire_webhooks(self) -> None:
        with self._lock:
            for webhook in self.webhooks:
                webhook["expirationDate"] = int(time.time() * 1000) - 1000

    def send_webhook(self, event: str, issue_key: str, *, secret: str | None = None,
                     identifier: str | None = None) -> int | None:
        """POST `event` about the issue to every URL with a live webhook that wants it and whose
        jqlFilter matches. One delivery per URL, naming every matched webhook (as Jira does).
        Returns the last receiver's status (0: unreachable), None when no webhook matched.
        `secret`: sign with it instead of the client secret (a forgery); `identifier`: reuse an
        X-Atlassian-Webhook-Identifier (a replay). Every delivery is appended to `self.deliveries`."""
        if event not in WEBHOOK_EVENTS:
            raise ValueError(f"unsupported event {event!r}")
        now_ms = int(time.time() * 1000)
        with self._lock:
            try:
                issue = self._find_issue(issue_key)
                project = self._project_of(issue)
            except KeyError:
                issue = self._deleted[issue_key]
                project = issue["_project"] or {"id": issue["project_id"], "key": "", "name": ""}
            by_url: dict[str, list[int]] = {}
            for webhook in self.webhooks:
                if event in webhook["events"] and webhook["expirationDate"] > now_ms \
                        and jira_jql.matches(webhook["_query"], issue, project):
                    by_url.setdefault(webhook["url"], []).append(webhook["id"])
            site_url = self.sites[0]["url"]
            issue_json = self._issue_json(issue, site_url, ALL_ISSUE_FIELDS, project=project)
        status = None
        for url, ids in by_url.items():
            body = {"timestamp": now_ms, "webhookEvent": event, "issue_event_type_name": EVENT_TYPE_NAMES[event],
                    "user": self._user_json(self.me), "issue": issue_json, "matchedWebhookIds": ids}
            headers = {"Authorization": f"Bearer {webhook_jwt(self.oauth.client_id, secret or self.oauth.client_secret)}",
                       "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
                       "X-Atlassian-Webhook-Retry": "0"}
            status = post_json(url, body, headers)
            with self._lock:
                self.deliveries.append({"url": url, "status": status, "body": body, "headers": headers})
        return status

    def _auto_send(self, event: str, key: str) -> None:
        if self.auto_webhooks:
            self.send_webhook(event, key)

    # -- JSON as Jira writes it ----------------------------------------------

    def _time(self, moment: datetime) -> str:
        return jira_time(moment, self.time_zone)

    def _project_of(self, issue: dict) -> dict:
        return next(p for p in self.projects.values() if p["id"] == issue["project_id"])

    def _project_json(self, project: dict, base: str) -> dict:
        return {"id": project["id"], "key": project["key"], "name": project["name"],
                "self": f"{base}/rest/api/3/project/{project['id']}", "projectTypeKey": "software",
                "simplified": False, "style": "classic", "isPrivate": False}

    def _user_json(self, user: dict | None) -> dict | None:
        return None if user is None else {k: v for k, v in user.items() if k != "timeZone"}

    def _issue_json(self, issue: dict, base: str, fields, *, project: dict | None = None) -> dict:
        project = project or self._project_of(issue)
        values = {
            "summary": issue["summary"],
            "status": dict(self.statuses[issue["status"]]),
            "assignee": self._user_json(self.users.get(issue["assignee"])) if issue["assignee"] else None,
            "project": {"id": project["id"], "key": project["key"], "name": project["name"]},
            "issuetype": {"id": "10001", "name": issue["issuetype"], "subtask": False},
            "created": self._time(issue["created"]), "updated": self._time(issue["updated"]),
        }
        return {"id": issue["id"], "key": issue["key"], "self": f"{base}/rest/api/3/issue/{issue['id']}",
                "fields": {name: values[name] for name in fields if name in values}}

    # -- HTTP ----------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        match = REST.match(request.path)
        if match is None:
            return super()._app(environ, start_response)
        headers: dict[str, str] = {}
        gate = self._gate(environ)
        if gate is not None:
            status, body, headers = gate
        elif match["cloud"] not in {s["id"] for s in self.sites}:
            status, body = 404, {"errorMessages": ["Site not found"], "errors": {}}
        elif not bearer_is_valid(self.oauth, request.headers.get("Authorization")):
            status, body = 401, {"code": 401, "message": "Unauthorized"}
        elif not scopes_needed(request.method, match["rest"]) <= granted_scopes(
                self.oauth, request.headers.get("Authorization")):
            status, body = SCOPE_MISMATCH
        else:
            base = f"{request.host_url.rstrip('/')}/ex/jira/{match['cloud']}"
            try:
                status, body = self._route(request, match["rest"], base)
            except _BadJson:
                status, body = _error(400, "Invalid request payload. Refer to the REST API documentation and try again.")
            self._test_hooks(environ, request, match["rest"], status)
        if body is None:
            response = Response(b"", status)
        else:
            response = Response(json.dumps(body), status, content_type="application/json;charset=UTF-8")
        for name, value in headers.items():
            response.headers[name] = value
        return response(environ, start_response)

    def _test_hooks(self, environ, request: Request, path: str, status: int) -> None:
        """`lose_worklog_answers`, `while_listing` and `while_listing_projects`, once the call is handled but not yet answered."""
        if status == 201 and request.method == "POST" and path.rstrip("/").endswith("/worklog"):
            with self._lock:
                lose = self.lose_worklog_answers > 0
                if lose:
                    self.lose_worklog_answers -= 1
            if lose:  # the worklog exists; its answer goes to a dropped connection
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        elif status == 200 and path.rstrip("/") == "/rest/api/3/search/jql":
            with self._lock:
                change, self.while_listing = self.while_listing, None
            if change is not None:
                change()  # outside the lock: it may change issues and send webhooks
        elif status == 200 and path.rstrip("/") == "/rest/api/3/project/search":
            with self._lock:
                change, self.while_listing_projects = self.while_listing_projects, None
            if change is not None:
                change()

    def _gate(self, environ) -> tuple[int, dict | None, dict] | None:
        """An injected fault or the rate limit, decided before any work; None lets the call through."""
        with self._lock:
            wait = window_wait(self._accepted, self.rate_limit)
            if wait is not None:
                return 429, None, {"Retry-After": str(wait)}
            fault, error_status = draw_fault(self.faults, self._fault_rng)
        return fault_answer(fault, error_status, self.faults, environ,
                            error_body={"errorMessages": ["Internal server error"], "errors": {}},
                            rate_limited=(429, None))

    def _route(self, request: Request, path: str, base: str) -> tuple[int, dict | list | None]:
        method, args = request.method, request.args
        prefix = "/rest/api/3/"
        if not path.startswith(prefix):
            return _error(404, "Not Found")
        parts = path[len(prefix):].rstrip("/").split("/")
        route = (method, parts[0], len(parts))
        with self._lock:
            if route == ("POST", "search", 2) and parts[1] == "jql":
                body = _json_body(request)
                return self._search(base, body.get("jql"), body.get("nextPageToken"), body.get("maxResults"),
                                    body.get("fields"))
            if route == ("GET", "search", 2) and parts[1] == "jql":
                fields = ",".join(args.getlist("fields")).split(",") if "fields" in args else None
                return self._search(base, args.get("jql"), args.get("nextPageToken"),
                                    _int(args.get("maxResults")), fields)
            if route == ("GET", "project", 2) and parts[1] == "search":
                return self._project_search(base, args)
            if route == ("GET", "project", 1):
                return 200, [self._project_json(p, base) for p in sorted(self.projects.values(), key=_by_key)]
            if route == ("GET", "myself", 1):
                me = self.caller(request)
                return 200, dict(me, self=f"{base}/rest/api/3/user?accountId={me['accountId']}")
            if route == ("GET", "status", 1):
                return 200, [dict(s, self=f"{base}/rest/api/3/status/{s['id']}") for s in self.statuses.values()]
            if route[:2] in (("GET", "users"), ("GET", "user")) and parts[1:] == ["search"]:
                return self._user_search(args, by_query=parts[0] == "user")
            if parts[0] == "issue" and len(parts) in (2, 3, 4):
                return self._issue_call(request, parts, base)
            if parts[0] == "webhook":
                return self._webhook_call(request, parts, base)
        return _error(404, "Not Found")

    # -- search --------------------------------------------------------------

    def _search(self, base: str, jql, page_token, max_results, fields) -> tuple[int, dict]:
        try:
            query = jira_jql.parse(jql or "", self.time_zone)
        except jira_jql.JqlError as error:
            return _error(400, str(error))
        if not query.bounded:
            return _error(400, "Unbounded JQL queries are not allowed here. Please add a search restriction "
                               "to your query.")
        for allowed in query.projects:
            for value in allowed:
                if not any(value.upper() in (p["key"].upper(), p["id"]) for p in self.projects.values()):
                    return _error(400, f"The value '{value}' does not exist for the field 'project'.")
        offset = 0
        if page_token is not None:
            offset = jira_jql.read_page_token(self._token_key, page_token, jql or "")
            if offset is None:
                return _error(400, "The provided next page token is invalid or expired.")
        size = min(max_results if isinstance(max_results, int) and max_results > 0 else SEARCH_DEFAULT_PAGE,
                   self.max_results)
        found = self._matching(query, jql or "")
        page = found[offset:offset + size]
        chosen = _selected_fields(fields)
        answer = {"issues": [self._issue_json(i, base, chosen) for i in page], "isLast": offset + size >= len(found)}
        if not answer["isLast"]:
            answer["nextPageToken"] = jira_jql.page_token(self._token_key, offset + size, jql or "")
        return 200, answer

    def _matching(self, query, jql: str) -> list[dict]:
        """The issues `query` finds, in its order: the last search's, when nothing changed since."""
        key = (jql, self.time_zone, self._revision)
        if self._last_found is None or self._last_found[0] != key:
            found = [i for i in self.issues.values() if jira_jql.matches(query, i, self._project_of(i))]
            order_field, descending = query.order_by or ("id", True)
            found.sort(key=_sort_key(order_field), reverse=descending)
            self._last_found = (key, found)
        return self._last_found[1]

    # -- projects and users --------------------------------------------------

    def _project_search(self, base: str, args) -> tuple[int, dict]:
        start, size = _paging(args)
        projects = sorted(self.projects.values(), key=_by_key)
        page = projects[start:start + size]
        answer = {"self": f"{base}/rest/api/3/project/search?{urlencode({'startAt': start, 'maxResults': size})}",
                  "maxResults": size, "startAt": start, "total": len(projects),
                  "isLast": start + size >= len(projects), "values": [self._project_json(p, base) for p in page]}
        if not answer["isLast"]:
            answer["nextPage"] = f"{base}/rest/api/3/project/search?" + urlencode(
                {"startAt": start + size, "maxResults": size})
        return 200, answer

    def _user_search(self, args, *, by_query: bool) -> tuple[int, list]:
        start, size = _paging(args)
        users = list(self.users.values())
        if by_query:
            if not args.get("query") and not args.get("accountId"):
                return _error(400, "One of 'query' or 'accountId' must be provided.")
            text = (args.get("query") or "").lower()
            users = [u for u in users if (args.get("accountId") in (None, u["accountId"]))
                     and (not text or u["displayName"].lower().startswith(text)
                          or u.get("emailAddress", "").lower().startswith(text))]
        return 200, [self._user_json(u) for u in users[start:start + size]]

    # -- issues and worklogs -------------------------------------------------

    def _issue_call(self, request: Request, parts: list[str], base: str) -> tuple[int, dict | None]:
        try:
            issue = self._find_issue(parts[1])
        except KeyError:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        method = request.method
        if len(parts) == 2 and method == "GET":
            fields = ",".join(request.args.getlist("fields")).split(",") if "fields" in request.args else ["*all"]
            return 200, self._issue_json(issue, base, _selected_fields(fields))
        if len(parts) < 3 or parts[2] != "worklog":
            return _error(404, "Not Found")
        return self._worklog_call(request, issue, parts, base)

    def _worklog_call(self, request: Request, issue: dict, parts: list[str], base: str) -> tuple[int, dict | None]:
        method, expand = request.method, wants_properties(request.args)
        worklogs = self.worklogs.setdefault(issue["id"], [])
        if len(parts) == 3 and method == "GET":
            start, size = _int(request.args.get("startAt")) or 0, _int(request.args.get("maxResults")) or 5000
            after, before = _int(request.args.get("startedAfter")), _int(request.args.get("startedBefore"))
            chosen = [w for w in worklogs if (after is None or started_ms(w["started"]) >= after)
                      and (before is None or started_ms(w["started"]) < before)]
            return 200, {"startAt": start, "maxResults": size, "total": len(chosen),
                         "worklogs": [self._worklog_json(w, expand) for w in chosen[start:start + size]]}
        if len(parts) == 3 and method == "POST":
            body = _json_body(request)
            errors = worklog_errors(body, creating=True)
            if errors:
                return _error(400, errors=errors)
            worklog_id = str(next(self._ids))
            now = self._time(datetime.now(timezone.utc))
            worklog = {"self": f"{base}/rest/api/3/issue/{issue['id']}/worklog/{worklog_id}", "id": worklog_id,
                       "issueId": issue["id"], "author": self._user_json(self.caller(request)),
                       "updateAuthor": self._user_json(self.caller(request)), "created": now, "updated": now}
            worklog.update(worklog_fields(body))
            worklogs.append(worklog)
            self.created_worklogs.append(worklog_id)
            self.worklog_properties[worklog_id] = with_properties([], body.get("properties"))
            return 201, self._worklog_json(worklog, expand)
        worklog = next((w for w in worklogs if len(parts) == 4 and w["id"] == parts[3]), None)
        if worklog is None:
            return _error(404, "Cannot find worklog with id: " + (parts[3] if len(parts) == 4 else ""))
        if method == "PUT":
            body = _json_body(request)
            errors = worklog_errors(body, creating=False)
            if errors:
                return _error(400, errors=errors)
            worklog.update(worklog_fields(body), updated=self._time(datetime.now(timezone.utc)),
                           updateAuthor=self._user_json(self.caller(request)))
            self.worklog_properties[worklog["id"]] = with_properties(self.worklog_properties.get(worklog["id"], []),
                                                                     body.get("properties"))
            return 200, self._worklog_json(worklog, expand)
        if method == "DELETE":
            worklogs.remove(worklog)
            self.worklog_properties.pop(worklog["id"], None)
            return 204, None
        return _error(405, "Method Not Allowed")

    def caller(self, request: Request) -> dict:
        """The Jira user the request's token acts as: whoever consented to its grant (the
        authorization server's `account` at the time), else the connecting admin."""
        header = request.headers.get("Authorization", "")
        grant = self.oauth.grant_for(header[7:]) if header.startswith("Bearer ") else None
        email = grant.account_email if grant else None
        return next((user for user in self.users.values() if email and user.get("emailAddress") == email), self.me)

    def _worklog_json(self, worklog: dict, expand_properties: bool) -> dict:
        if not expand_properties:
            return dict(worklog)
        return dict(worklog, properties=[dict(p) for p in self.worklog_properties.get(worklog["id"], [])])

    # -- dynamic webhooks ----------------------------------------------------

    def _webhook_call(self, request: Request, parts: list[str], base: str) -> tuple[int, dict | None]:
        method, now_ms = request.method, int(time.time() * 1000)
        if parts == ["webhook"] and method == "GET":
            start, size = _paging(request.args)
            page = self.webhooks[start:start + size]
            answer = {"self": f"{base}/rest/api/3/webhook?{urlencode({'startAt': start, 'maxResults': size})}",
                      "startAt": start, "maxResults": size, "total": len(self.webhooks),
                      "isLast": start + size >= len(self.webhooks),
                      "values": [{k: v for k, v in w.items() if not k.startswith("_")} for w in page]}
            if not answer["isLast"]:
                answer["nextPage"] = f"{base}/rest/api/3/webhook?" + urlencode(
                    {"startAt": start + size, "maxResults": size})
            return 200, answer
        body = _json_body(request)
        if parts == ["webhook"] and method == "POST":
            if not isinstance(body.get("url"), str) or not isinstance(body.get("webhooks"), list):
                return _error(400, "Both 'url' and 'webhooks' are required.")
            return 200, {"webhookRegistrationResult": [self._register(body["url"], w, now_ms)
                                                       for w in body["webhooks"]]}
        ids = body.get("webhookIds")
        if not isinstance(ids, list):
            return _error(400, errors={"webhookIds": "webhookIds must not be empty"})
        if parts == ["webhook"] and method == "DELETE":
            self.webhooks = [w for w in self.webhooks if w["id"] not in ids]
            return 202, None
        if parts == ["webhook", "refresh"] and method == "PUT":
            expiry = now_ms + WEBHOOK_LIFETIME_MS
            for webhook in self.webhooks:
                if webhook["id"] in ids:
                    webhook["expirationDate"] = expiry
            return 200, {"expirationDate": expiry}
        return _error(404, "Not Found")

    def _register(self, url: str, details, now_ms: int) -> dict:
        if self.refuse_webhooks:
            return {"errors": list(self.refuse_webhooks)}
        if not isinstance(details, dict) or not isinstance(details.get("jqlFilter"), str):
            return {"errors": ["The webhook jqlFilter is required."]}
        events = details.get("events")
        if not events or not isinstance(events, list) or any(e not in WEBHOOK_EVENTS for e in events):
            return {"errors": ["The webhook events are not supported: " + ", ".join(map(str, events or []))]}
        try:
            query = jira_jql.parse(details["jqlFilter"], self.time_zone, fields=("project", "issuetype"),
                                   allow_order=False)
        except jira_jql.JqlError as error:
            return {"errors": [str(error)]}
        webhook = {"id": next(self._webhook_ids), "url": url, "events": list(events),
                   "jqlFilter": details["jqlFilter"], "expirationDate": now_ms + WEBHOOK_LIFETIME_MS, "_query": query}
        if "fieldIdsFilter" in details:
            webhook["fieldIdsFilter"] = list(details["fieldIdsFilter"])
        self.webhooks.append(webhook)
        return {"createdWebhookId": webhook["id"]}


class _BadJson(Exception):
    pass


def _json_body(request: Request) -> dict:
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError:
        raise _BadJson() from None
    if not isinstance(body, dict):
        raise _BadJson()
    return body


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _paging(args) -> tuple[int, int]:
    start = max(0, _int(args.get("startAt")) or 0)
    size = _int(args.get("maxResults"))
    return start, min(MAX_PAGE, size if size and size > 0 else DEFAULT_PAGE)


def _by_key(project: dict) -> str:
    return project["key"]


def _sort_key(order_field: str):
    if order_field == "key":
        return lambda issue: (issue["key"].split("-")[0], int(issue["key"].split("-")[1]))
    if order_field == "id":
        return lambda issue: int(issue["id"])
    return lambda issue: (issue[order_field], int(issue["id"]))


def _selected_fields(fields) -> tuple[str, ...]:
    """Which issue fields to include: none unless asked (enhanced search), `*all`/`*navigable` for all."""
    names = [f.strip() for f in (fields or []) if isinstance(f, str) and f.strip()]
    if "*all" in names or "*navigable" in names:
        return ALL_ISSUE_FIELDS
    return tuple(n for n in names if n in ALL_ISSUE_FIELDS)
