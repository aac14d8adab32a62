"""A fake Jira Data Center: REST API v2 and admin webhooks on one loopback host, with its
OAuth 2.0 provider (the strict FakeOAuthProvider) beside it.

Every request is checked against tests/fixtures/jira-datacenter/openapi.json (written
from Atlassian's Jira Server/DC REST reference, sources in its info.description).

Authentication, as Data Center does it: `Authorization: Bearer <token>` where the token is
a live OAuth 2.0 access token of `self.oauth` (its grant's scope READ < WRITE < ADMIN
decides what it may call; it acts for the user who consented, found by the e-mail address
`self.oauth.account` signed in with) or a personal access token made by
`personal_token(user_key)` (it acts with that user's permissions: ADMIN for a Jira
administrator, else WRITE). Anything else is a 401 with Data Center's error collection.
A worklog's author is whoever the token acts for, as Data Center records it, so several
users' tokens author their own worklogs.

Paging as Data Center pages: `/search` takes startAt/maxResults and lowers maxResults
above 50 (jira.search.views.default.max), answering the lowered value; `/user/search`
too. `/project` answers every project at once, as does an issue's worklog list.

Webhooks: `POST /rest/webhooks/1.0/webhook` (ADMIN) keeps name, url, events, the JQL of
filters.issue-related-events-section and the secret; `send_webhook` POSTs a delivery to
every matching one, signed `X-Hub-Signature: sha256=<HMAC-SHA256 of the body, hex>`.

Test hooks: `lose_worklog_answers = n` (the next n worklogs are created, then the
connection drops before the 201 leaves); `ignore_start_at = True` (a broken server that
answers the first search page whatever startAt asks).
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import threading
import time
from datetime import datetime, timezone

from werkzeug.wrappers import Request, Response

from tests.contract import Description
from tests.fakes import jira_jql
from tests.fakes.jira_jql import jira_time
from tests.fakes.jira_webhooks import EVENT_TYPE_NAMES, MINIMUM_WORKLOG_SECONDS, STARTED, post_json, time_spent
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi, _Grant
from tests.fakes.server import FakeServer

DESCRIPTION = Description("jira_datacenter", "https://jira.example.com")
SEARCH_CAP = 50           # Data Center's default jira.search.views.default.max
USER_SEARCH_CAP = 50
SCOPE_RANK = {"READ": 1, "WRITE": 2, "ADMIN": 3}
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "name": "Done"},
}
WORKLOG = re.compile(r"^/rest/api/2/issue/(?P<issue>[^/]+)/worklog(?:/(?P<id>[^/]+))?$")
WEBHOOK = re.compile(r"^/rest/webhooks/1.0/webhook(?:/(?P<id>[^/]+))?$")


def _error(status: int, *messages: str, errors: dict | None = None) -> tuple[int, dict]:
    return status, {"errorMessages": list(messages), "errors": errors or {}}


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeJiraDataCenter(FakeProviderWithApi):
    slug = "jira_datacenter"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "jdc-client",
                 client_secret: str = "jdc-secret", time_zone: str = "UTC"):
        # Data Center's token endpoint takes the client credentials in the body; PKCE S256.
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris,
                                       client_auth_methods=("client_secret_post",))
        self.api = FakeServer(self._app, description=DESCRIPTION)
        self.time_zone = time_zone
        self._lock = threading.RLock()
        self._ids = itertools.count(10000)
        self.users: dict[str, dict] = {}
        self.admins: set[str] = set()
        self.personal_tokens: dict[str, str] = {}   # token -> user key
        self.projects: dict[str, dict] = {}         # key -> {id, key, name, counter}
        self.issues: dict[str, dict] = {}           # id -> record
        self.statuses: dict[str, dict] = {}
        self.worklogs: dict[str, list[dict]] = {}   # issue id -> worklogs
        self.created_worklogs: list[str] = []
        self.webhooks: dict[str, dict] = {}         # id -> registration
        self.deliveries: list[dict] = []
        self.lose_worklog_answers = 0
        self.ignore_start_at = False
        for name, category in (("To Do", "new"), ("In Progress", "indeterminate"), ("Done", "done")):
            self.add_status(name, category)
        account = self.oauth.account  # whoever signs in at the fake's consent screen
        self.me = self.add_user("fran", account["name"], account["email"], admin=True)

    # -- set-up, as a Jira admin would do it ----------------------------------------------

    @property
    def base_url(self) -> str:
        return self.api.base_url

    def personal_token(self, user_key: str) -> str:
        token = secrets.token_urlsafe(33)[:44]
        with self._lock:
            self.personal_tokens[token] = user_key
        return token

    def add_user(self, key: str, display_name: str, email: str | None, *, admin: bool = False) -> dict:
        user = {"key": key, "name": key, "displayName": display_name, "active": True, "timeZone": self.time_zone}
        if email is not None:
            user["emailAddress"] = email
        with self._lock:
            self.users[key] = user
            if admin:
                self.admins.add(key)
        return dict(user)

    def add_status(self, name: str, category: str) -> dict:
        with self._lock:
            status = {"id": str(next(self._ids)), "name": name, "statusCategory": dict(STATUS_CATEGORIES[category])}
            self.statuses[name] = status
            return dict(status)

    def add_project(self, key: str, name: str) -> dict:
        with self._lock:
            self.projects[key] = {"id": str(next(self._ids)), "key": key, "name": name, "counter": 0}
            return dict(self.projects[key])

    def add_issue(self, project_key: str, summary: str, *, status: str = "To Do", assignee: str | None = None,
                  updated: datetime | None = None) -> dict:
        with self._lock:
            project = self.projects[project_key]
            project["counter"] += 1
            moment = updated or datetime.now(timezone.utc)
            issue = {"id": str(next(self._ids)), "key": f"{project_key}-{project['counter']}",
                     "project_id": project["id"], "summary": summary, "status": status, "assignee": assignee,
                     "issuetype": "Task", "created": moment, "updated": moment}
            self.issues[issue["id"]] = issue
            return dict(issue)

    def update_issue(self, key: str, *, summary: str | None = None, status: str | None = None) -> dict:
        with self._lock:
            issue = self._find_issue(key)
            issue.update({k: v for k, v in (("summary", summary), ("status", status)) if v is not None})
            issue["updated"] = datetime.now(timezone.utc)
            return dict(issue)

    def worklogs_of(self, key: str) -> list[dict]:
        with self._lock:
            return [dict(w) for w in self.worklogs.get(self._find_issue(key)["id"], [])]

    def issue_token(self, scope: str = "ADMIN") -> str:
        """A live OAuth access token of a fresh grant with `scope`."""
        oauth = self.oauth
        with oauth._lock:
            grant = _Grant(id=len(oauth._grants) + 1, client_id=oauth.client_id, scope=scope,
                           refresh_token=secrets.token_urlsafe(32))
            oauth._grants[grant.id] = grant
            return oauth._issue(grant, include_refresh=True)["access_token"]

    # -- deliveries -------------------------------------------------------------------------

    def send_webhook(self, event: str, issue_key: str, *, secret: str | None = None,
                     unsigned: bool = False) -> int | None:
        """POST `event` about the issue to every webhook that wants it and whose JQL matches,
        signed with its secret (or `secret`: a forgery; `unsigned`: no signature). The last
        receiver's status, None when no webhook matched."""
        with self._lock:
            issue = self._find_issue(issue_key)
            project = self._project_of(issue)
            targets = [hook for hook in self.webhooks.values() if event in hook["events"]
                       and (hook["query"] is None or jira_jql.matches(hook["query"], issue, project))]
            body = {"timestamp": int(time.time() * 1000), "webhookEvent": event,
                    "issue_event_type_name": EVENT_TYPE_NAMES[event], "user": self._user_json(self.me),
                    "issue": self._issue_json(issue, self.base_url, ("summary", "status", "assignee", "project",
                                                                     "updated"))}
        status = None
        raw = json.dumps(body).encode()  # what post_json sends, byte for byte
        for hook in targets:
            signing_secret = None if unsigned else secret or hook.get("secret")
            headers = {"X-Hub-Signature": hub_signature(signing_secret, raw)} if signing_secret else {}
            status = post_json(hook["url"], body, headers)
            with self._lock:
                self.deliveries.append({"url": hook["url"], "status": status, "body": body, "headers": headers})
        return status

    # -- JSON as Data Center writes it ----------------------------------------------------------

    def _find_issue(self, id_or_key: str) -> dict:
        if id_or_key in self.issues:
            return self.issues[id_or_key]
        for issue in self.issues.values():
            if issue["key"].upper() == id_or_key.upper():
                return issue
        raise KeyError(id_or_key)

    def _project_of(self, issue: dict) -> dict:
        return next(p for p in self.projects.values() if p["id"] == issue["project_id"])

    def _user_json(self, user: dict | None) -> dict | None:
        return None if user is None else {k: v for k, v in user.items() if k != "timeZone"}

    def _issue_json(self, issue: dict, base: str, fields) -> dict:
        project = self._project_of(issue)
        values = {
            "summary": issue["summary"], "status": dict(self.statuses[issue["status"]]),
            "assignee": self._user_json(self.users.get(issue["assignee"])) if issue["assignee"] else None,
            "project": {"id": project["id"], "key": project["key"], "name": project["name"]},
            "issuetype": {"id": "10001", "name": issue["issuetype"], "subtask": False},
            "created": jira_time(issue["created"], self.time_zone), "updated": jira_time(issue["updated"], self.time_zone),
        }
        return {"id": issue["id"], "key": issue["key"], "self": f"{base}/rest/api/2/issue/{issue['id']}",
                "fields": {name: values[name] for name in fields if name in values}}

    # -- HTTP -------------------------------------------------------------------------------

    def token_user(self, header: str) -> str | None:
        """The key of the user an `Authorization` header acts for (None: not valid), for tests
        asserting whose token a request carried."""
        with self._lock:
            caller = self._caller(header)
        return caller[0]["key"] if caller else None

    def _caller(self, header: str | None) -> tuple[dict, str] | None:
        """(the user, the scope) a bearer token acts with, or None when it is not valid."""
        token = header[7:] if header and header.startswith("Bearer ") else ""
        if not token:
            return None
        if token in self.personal_tokens:
            key = self.personal_tokens[token]
            return self.users[key], "ADMIN" if key in self.admins else "WRITE"
        grant = self.oauth.grant_for(token)
        if grant is None or grant.revoked or grant.access_tokens.get(token, 0) <= time.time():
            return None
        user = self._consenting_user(grant)
        if user is None:
            return None
        scope = max(grant.scope.split() or ["READ"], key=lambda s: SCOPE_RANK.get(s, 0))
        return user, scope

    def _consenting_user(self, grant: _Grant) -> dict | None:
        """The Jira user who gave the OAuth consent (matched by the e-mail address the consent
        screen signed in with), as a Data Center token acts for whoever authorized it; a grant
        made without the consent screen (`issue_token`) acts for `me`."""
        if grant.account_email is None:
            return self.me
        return next((user for user in self.users.values()
                     if (user.get("emailAddress") or "").lower() == grant.account_email.lower()), None)

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            caller = self._caller(request.headers.get("Authorization"))
            if caller is None:
                status, body = _error(401, NOT_AUTHENTICATED)
            else:
                try:
                    status, body = self._route(request, *caller)
                except ValueError:
                    status, body = _error(400, "Unexpected character in the request body.")
        if status == 201 and WORKLOG.match(request.path) and request.method == "POST":
            with self._lock:
                lose = self.lose_worklog_answers > 0
                self.lose_worklog_answers -= int(lose)
            if lose:  # created; the answer goes to a dropped connection
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        response = Response(b"" if body is None else json.dumps(body), status,
                            content_type="application/json;charset=UTF-8")
        return response(environ, start_response)

    def _route(self, request: Request, user: dict, scope: str) -> tuple[int, dict | list | None]:
        path, method, args, base = request.path.rstrip("/"), request.method, request.args, self.base_url
        needed = "READ" if method == "GET" else "WRITE"
        if WEBHOOK.match(path):
            needed = "ADMIN"
        if SCOPE_RANK[scope] < SCOPE_RANK[needed] or (needed == "ADMIN" and user["key"] not in self.admins):
            return _error(403, "You do not have the permission to perform this operation.")
        if (method, path) == ("GET", "/rest/api/2/myself"):
            return 200, dict(self._user_json(user), self=f"{base}/rest/api/2/user?username={user['name']}",
                             timeZone=user["timeZone"])
        if (method, path) == ("GET", "/rest/api/2/project"):
            return 200, [{"id": p["id"], "key": p["key"], "name": p["name"],
                          "self": f"{base}/rest/api/2/project/{p['id']}"}
                         for p in sorted(self.projects.values(), key=lambda p: p["key"])]
        if (method, path) == ("GET", "/rest/api/2/status"):
            return 200, [dict(s, self=f"{base}/rest/api/2/status/{s['id']}") for s in self.statuses.values()]
        if (method, path) == ("GET", "/rest/api/2/user/search"):
            return self._user_search(args)
        if (method, path) == ("GET", "/rest/api/2/search"):
            return self._search(args, base)
        match = WORKLOG.match(path)
        if match:
            return self._worklog_call(request, match["issue"], match["id"], user, base)
        match = WEBHOOK.match(path)
        if match and method == "POST" and match["id"] is None:
            return self._register(json.loads(request.get_data() or b"null"), base)
        if match and method == "DELETE" and match["id"] is not None:
            if self.webhooks.pop(match["id"], None) is None:
                return _error(404, "Webhook not found.")
            return 204, None
        return _error(404, "null for uri: " + path)

    def _paging(self, args, cap: int) -> tuple[int, int]:
        start, size = _int(args.get("startAt")) or 0, _int(args.get("maxResults"))
        return max(start, 0), min(size if size is not None and size > 0 else cap, cap)

    def _user_search(self, args) -> tuple[int, list | dict]:
        text = (args.get("username") or "").lower()
        if not text:
            return _error(400, "The username query parameter was not provided")
        start, size = self._paging(args, USER_SEARCH_CAP)
        found = [u for u in sorted(self.users.values(), key=lambda u: u["key"])
                 if text == "." or any((u.get(f) or "").lower().startswith(text)
                                       for f in ("name", "displayName", "emailAddress"))]
        return 200, [self._user_json(u) for u in found[start:start + size]]

    def _search(self, args, base: str) -> tuple[int, dict]:
        try:
            query = jira_jql.parse(args.get("jql") or "", self.time_zone)
        except jira_jql.JqlError as error:
            return _error(400, str(error))
        for allowed in query.projects:
            for value in allowed:
                if not any(value.upper() in (p["key"].upper(), p["id"]) for p in self.projects.values()):
                    return _error(400, f"The value '{value}' does not exist for the field 'project'.")
        start, size = self._paging(args, SEARCH_CAP)
        if self.ignore_start_at:
            start = 0
        found = [i for i in self.issues.values() if jira_jql.matches(query, i, self._project_of(i))]
        order, descending = query.order_by or ("created", True)
        found.sort(key=lambda i: (i[order], int(i["id"])) if order in ("created", "updated") else int(i["id"]),
                   reverse=descending)
        fields = [f.strip() for f in (args.get("fields") or "*navigable").split(",")]
        if "*all" in fields or "*navigable" in fields:
            fields = ["summary", "status", "assignee", "project", "issuetype", "created", "updated"]
        return 200, {"startAt": start, "maxResults": size, "total": len(found),
                     "issues": [self._issue_json(i, base, fields) for i in found[start:start + size]]}

    def _worklog_call(self, request: Request, issue_ref: str, worklog_id: str | None, user: dict,
                      base: str) -> tuple[int, dict | None]:
        try:
            issue = self._find_issue(issue_ref)
        except KeyError:
            return _error(404, "Issue Does Not Exist")
        worklogs = self.worklogs.setdefault(issue["id"], [])
        method = request.method
        if worklog_id is None and method == "GET":
            return 200, {"startAt": 0, "maxResults": len(worklogs), "total": len(worklogs),
                         "worklogs": [dict(w) for w in worklogs]}
        if worklog_id is None and method == "POST":
            body = json.loads(request.get_data() or b"null")
            problems = _worklog_errors(body, creating=True)
            if problems:
                return _error(400, errors=problems)
            worklog = {"id": str(next(self._ids)), "issueId": issue["id"], "author": self._user_json(user),
                       **_stored(body)}
            worklog["self"] = f"{base}/rest/api/2/issue/{issue['id']}/worklog/{worklog['id']}"
            worklogs.append(worklog)
            self.created_worklogs.append(worklog["id"])
            return 201, dict(worklog)
        worklog = next((w for w in worklogs if w["id"] == worklog_id), None)
        if worklog is None:
            return _error(404, "Cannot find worklog with id: " + str(worklog_id))
        if method == "PUT":
            body = json.loads(request.get_data() or b"null")
            problems = _worklog_errors(body, creating=False)
            if problems:
                return _error(400, errors=problems)
            worklog.update(_stored(body))
            return 200, dict(worklog)
        if method == "DELETE":
            worklogs.remove(worklog)
            return 204, None
        return _error(405, "Method not allowed")

    def _register(self, body, base: str) -> tuple[int, dict]:
        if not isinstance(body, dict) or not body.get("url") or not body.get("events"):
            return _error(400, "name, url and events are required")
        jql = ((body.get("filters") or {}).get("issue-related-events-section") or "").strip()
        try:
            query = jira_jql.parse(jql, self.time_zone) if jql else None
        except jira_jql.JqlError as error:
            return _error(400, str(error))
        webhook_id = str(next(self._ids))
        self.webhooks[webhook_id] = {"name": body.get("name"), "url": body["url"], "events": list(body["events"]),
                                     "jql": jql, "query": query, "secret": body.get("secret")}
        return 201, {"self": f"{base}/rest/webhooks/1.0/webhook/{webhook_id}", "name": body.get("name"),
                     "url": body["url"], "events": list(body["events"]), "filters": body.get("filters") or {},
                     "excludeBody": bool(body.get("excludeBody")), "enabled": True}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _worklog_errors(body, *, creating: bool) -> dict[str, str]:
    """Data Center's per-field errors for a worklog body (empty when acceptable)."""
    if not isinstance(body, dict):
        return {"worklog": "Worklog must not be null."}
    errors = {}
    seconds = body.get("timeSpentSeconds")
    if seconds is not None or creating:
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < MINIMUM_WORKLOG_SECONDS:
            errors["timeLogged"] = "You must indicate the time spent working."
    started = body.get("started")
    if started is not None or creating:
        if not isinstance(started, str) or not STARTED.fullmatch(started):
            errors["started"] = "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
    if "comment" in body and not isinstance(body["comment"], str):
        errors["comment"] = "The comment must be text."
    return errors


def _stored(body: dict) -> dict:
    fields = {name: body[name] for name in ("started", "comment") if name in body}
    if "timeSpentSeconds" in body:
        fields.update(timeSpentSeconds=body["timeSpentSeconds"], timeSpent=time_spent(body["timeSpentSeconds"]))
    return fields
