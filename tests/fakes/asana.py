"""A fake Asana REST API (https://app.asana.com/api/1.0) with its OAuth server, over loopback.

It speaks the subset TimeHub uses, as Asana does where a client can tell:

- OAuth through tests.fakes.oauth_provider in its "asana" dialect (the user in
  the token answer's `data`); every API call needs a live bearer token, else 401
  `{"errors": [{"message": "Not Authorized"}]}`;
- gids are numeric strings; records come back compact (gid, resource_type, name)
  unless `opt_fields` names more, dotted paths included (`assignee.email`,
  `memberships.section.name`);
- listings page with `limit` (1..100, else 400) and opaque `offset` tokens,
  `next_page: {offset, path, uri}` or null; a listing asked for without `limit`
  answers everything, or 400 "The result is too large" past 1,000;
- errors in Asana's shape, `{"errors": [{"message", "help"}]}`; 429 with
  `Retry-After` for the rate limit (`rate_limit=(n, seconds)`) or injected
  (`throttle_next`), and `faults` (tests.fakes.paged_provider.Faults) drawn per
  call before it is handled;
- events per project: `GET /events?resource=` without `sync` answers 412 with a
  fresh token in the body; with one, the events since (at most 100, `has_more`)
  and a new token, which is the same token again when nothing happened;
  `expire_sync_tokens()` makes every token answer 412;
- time tracking entries (create, list, read, update, delete), or 402 for each of
  them when `time_tracking=False` (a plan without time tracking);
  `lose_entry_answers = n`: the next n creations happen, then the connection
  drops before the 201 leaves;
- webhooks: `POST /webhooks` runs the handshake (POSTs `X-Hook-Secret` to the
  target, which must echo it with 200/204) before answering with the secret;
  `deliver()` POSTs events signed with `X-Hook-Signature` (hex HMAC-SHA256).

Every request is checked against Asana's own description (../shared/specs/asana.json).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
import secrets
import socket
import threading
import time
from collections import deque
from datetime import datetime, timezone

import httpx2
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.contract import Description
from tests.fakes.atlassian import bearer_is_valid
from tests.fakes.injected_faults import window_wait
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi
from tests.fakes.paged_provider import Faults
from tests.fakes.server import FakeServer

BASE = "/api/1.0"
MAX_LIMIT = 100
UNPAGED_MAX = 1000
MAX_EVENTS = 100
HELP = "For more information on API status codes and how to handle them, read the docs on errors: " \
       "https://developers.asana.com/docs/errors"
SYNC_EXPIRED = ("Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch "
                "the full dataset for this query now and use the new sync token for the next sync.")


class AsanaError(Exception):
    def __init__(self, status: int, message: str, *, headers: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra or {}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compact(value):
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, dict) and "gid" in value:
        return {key: value[key] for key in ("gid", "resource_type", "name") if key in value}
    return value


def select(value, paths: list[str]):
    """Asana's opt_fields: the named fields (dotted paths go deeper), gid always."""
    if isinstance(value, list):
        return [select(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out = {"gid": value["gid"]} if "gid" in value else {}
    groups: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        groups.setdefault(head, []).append(rest)
    for head, rests in groups.items():
        if head in value:
            deeper = [r for r in rests if r]
            out[head] = select(value[head], deeper) if deeper and value[head] is not None else compact(value[head])
    return out


class FakeAsana(FakeProviderWithApi):
    slug = "asana"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "asana-client",
                 client_secret: str = "asana-secret", time_tracking: bool = True, faults: Faults | None = None,
                 rate_limit: tuple[int, float] | None = None, fault_seed: int = 3):
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris,
                                       dialect="asana", client_auth_methods=("client_secret_post",))
        self.api = FakeServer(self._app, description=Description("asana"))
        self.time_tracking = time_tracking
        self.faults = faults
        self.rate_limit = rate_limit
        self._lock = threading.RLock()
        self._gids = itertools.count(1_200_000_000_000_001)
        self._seq = itertools.count(1)
        self._fault_rng = random.Random(fault_seed)
        self._accepted: deque[float] = deque()
        self._throttled = 0
        self._token_epoch = secrets.token_hex(4)   # changing it expires every sync token
        self._offset_key = secrets.token_bytes(16)
        self.workspaces: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.sections: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.events: list[dict] = []            # {"seq", "project", "event"}
        self.entries: dict[str, dict] = {}       # time tracking entries
        self.created_entries: list[str] = []
        self.webhooks: dict[str, dict] = {}
        self.lose_entry_answers = 0
        self.faults_struck: list[str] = []      # the kind of every injected fault, in order
        account = self.oauth.account
        self.me = self.add_user(account["name"], account["email"], gid="1201")
        self.workspace = self.add_workspace("Acme Workspace")
        self._urls = Map([Rule(BASE + path, endpoint=endpoint, methods=[method]) for method, path, endpoint in (
            ("GET", "/workspaces", "workspaces"),
            ("GET", "/workspaces/<gid>/projects", "workspace_projects"),
            ("GET", "/workspaces/<gid>/users", "workspace_users"),
            ("GET", "/projects/<gid>/tasks", "project_tasks"),
            ("GET", "/tasks", "tasks"),
            ("GET", "/tasks/<gid>", "task"),
            ("GET", "/events", "events_since"),
            ("GET", "/tasks/<gid>/time_tracking_entries", "task_entries"),
            ("POST", "/tasks/<gid>/time_tracking_entries", "create_entry"),
            ("GET", "/time_tracking_entries/<gid>", "entry"),
            ("PUT", "/time_tracking_entries/<gid>", "update_entry"),
            ("DELETE", "/time_tracking_entries/<gid>", "delete_entry"),
            ("POST", "/webhooks", "create_webhook"),
            ("DELETE", "/webhooks/<gid>", "delete_webhook"),
        )])

    def env(self, slug: str | None = None) -> dict[str, str]:
        return {**self.oauth.env("asana"), "ASANA_API_BASE": self.api_base}

    @property
    def api_base(self) -> str:
        return self.api.base_url + BASE

    @property
    def requests(self):
        return self.api.requests

    # -- seeding and changes ---------------------------------------------------------

    def gid(self) -> str:
        return str(next(self._gids))

    def add_workspace(self, name: str) -> dict:
        workspace = {"gid": self.gid(), "resource_type": "workspace", "name": name, "is_organization": False}
        self.workspaces[workspace["gid"]] = workspace
        return workspace

    def add_user(self, name: str, email: str | None, *, gid: str | None = None) -> dict:
        user = {"gid": gid or self.gid(), "resource_type": "user", "name": name, "email": email}
        self.users[user["gid"]] = user
        return user

    def add_project(self, name: str, *, sections: tuple[str, ...] = ("To do", "Doing", "Done"),
                    workspace: dict | None = None) -> dict:
        project = {"gid": self.gid(), "resource_type": "project", "name": name, "archived": False,
                   "workspace": (workspace or self.workspace)["gid"], "sections": {}}
        self.projects[project["gid"]] = project
        for section_name in sections:
            section = {"gid": self.gid(), "resource_type": "section", "name": section_name, "project": project["gid"]}
            self.sections[section["gid"]] = section
            project["sections"][section_name] = section["gid"]
        return project

    def add_task(self, project: dict, name: str, *, section: str = "To do", completed: bool = False,
                 assignee: dict | None = None) -> dict:
        with self._lock:
            task = {"gid": self.gid(), "resource_type": "task", "name": name, "completed": completed,
                    "assignee": assignee["gid"] if assignee else None, "modified_at": now_iso(),
                    "memberships": [(project["gid"], project["sections"][section])]}
            self.tasks[task["gid"]] = task
            self._event(task, "added", project["gid"])
        return task

    def update_task(self, task: dict, *, name: str | None = None, completed: bool | None = None,
                    section: str | None = None, assignee: dict | None = None) -> None:
        with self._lock:
            for key, value in (("name", name), ("completed", completed)):
                if value is not None:
                    task[key] = value
            if assignee is not None:
                task["assignee"] = assignee["gid"]
            if section is not None:
                project = self.projects[task["memberships"][0][0]]
                task["memberships"][0] = (project["gid"], project["sections"][section])
            task["modified_at"] = now_iso()
            self._event(task, "changed", None)

    def delete_task(self, task: dict) -> None:
        with self._lock:
            del self.tasks[task["gid"]]
            self._event(task, "deleted", None)

    def remove_from_project(self, task: dict, project: dict) -> None:
        with self._lock:
            task["memberships"] = [m for m in task["memberships"] if m[0] != project["gid"]]
            task["modified_at"] = now_iso()
            self.events.append({"seq": next(self._seq), "project": project["gid"],
                                "event": self._event_json(task, "removed", project["gid"])})

    def rename_section(self, project: dict, old: str, new: str) -> None:
        with self._lock:
            gid = project["sections"].pop(old)
            project["sections"][new] = gid
            self.sections[gid]["name"] = new
            self.events.append({"seq": next(self._seq), "project": project["gid"], "event": {
                "user": compact(self.me), "resource": compact(self.sections[gid]), "type": "section",
                "action": "changed", "parent": None, "created_at": now_iso(),
                "change": {"field": "name", "action": "changed"}}})

    def _event(self, task: dict, action: str, parent: str | None) -> None:
        for project_gid, _section in task["memberships"]:
            self.events.append({"seq": next(self._seq), "project": project_gid,
                                "event": self._event_json(task, action, parent)})

    def _event_json(self, task: dict, action: str, parent: str | None) -> dict:
        return {"user": compact(self.me), "resource": {"gid": task["gid"], "resource_type": "task",
                                                       "name": task["name"]},
                "type": "task", "action": action, "created_at": now_iso(),
                "parent": {"gid": parent, "resource_type": "project"} if parent else None}

    def expire_sync_tokens(self) -> None:
        self._token_epoch = secrets.token_hex(4)

    def throttle_next(self, count: int) -> None:
        with self._lock:
            self._throttled = count

    def entries_of(self, task: dict) -> list[dict]:
        return [e for e in self.entries.values() if e["task"] == task["gid"]]

    # -- webhooks delivered to the app ---------------------------------------------------

    def deliver(self, webhook: dict, events: list[dict] | None = None, *, body: bytes | None = None,
                signature: str | None = None) -> httpx2.Response:
        if body is None:
            body = json.dumps({"events": events or []}).encode()
        sign = signature or hmac.new(webhook["secret"].encode(), body, hashlib.sha256).hexdigest()
        return httpx2.post(webhook["target"], content=body, timeout=10,
                           headers={"Content-Type": "application/json", "X-Hook-Signature": sign})

    def task_event(self, task: dict, action: str = "changed") -> dict:
        return self._event_json(task, action, None)

    # -- JSON as served ---------------------------------------------------------------

    def _task_json(self, task: dict) -> dict:
        project_gid = task["memberships"][0][0] if task["memberships"] else None
        assignee = self.users.get(task["assignee"]) if task["assignee"] else None
        return {"gid": task["gid"], "resource_type": "task", "name": task["name"], "completed": task["completed"],
                "modified_at": task["modified_at"], "assignee": dict(assignee) if assignee else None,
                "permalink_url": f"https://app.asana.com/0/{project_gid or 0}/{task['gid']}",
                "memberships": [{"project": compact(self.projects[p]), "section": compact(self.sections[s])}
                                for p, s in task["memberships"]]}

    def _entry_json(self, entry: dict) -> dict:
        project = self.projects.get(entry.get("attributable_to") or "")
        return {"gid": entry["gid"], "resource_type": "time_tracking_entry",
                "duration_minutes": entry["duration_minutes"], "entered_on": entry["entered_on"],
                "attributable_to": compact(project) if project else None,
                "created_by": compact(self.users[entry["created_by"]]), "created_at": entry["created_at"],
                "task": compact(self.tasks[entry["task"]]) if entry["task"] in self.tasks else None}

    # -- HTTP ----------------------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        headers: dict[str, str] = {}
        lose = False
        try:
            endpoint, values = self._urls.bind_to_environ(environ).match()
            gate = self._gate(environ)
            if gate is not None:
                raise gate
            if not bearer_is_valid(self.oauth, request.headers.get("Authorization")):
                raise AsanaError(401, "Not Authorized")
            status, body = getattr(self, f"_{endpoint}")(request, **values)
            lose = endpoint == "create_entry" and self._lose_answer()
        except AsanaError as exc:
            status, headers = exc.status, exc.headers
            body = {"errors": [{"message": exc.message, "help": HELP}], **exc.extra}
        except (NotFound, MethodNotAllowed):
            status, body = 404, {"errors": [{"message": "No matching route for request", "help": HELP}]}
        if lose:  # the entry exists; its answer goes to a dropped connection
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        response = Response(json.dumps(body), status, content_type="application/json; charset=UTF-8")
        response.headers.update(headers)
        return response(environ, start_response)

    def _lose_answer(self) -> bool:
        with self._lock:
            if self.lose_entry_answers > 0:
                self.lose_entry_answers -= 1
                return True
        return False

    def _gate(self, environ) -> AsanaError | None:
        with self._lock:
            if self._throttled > 0:
                self._throttled -= 1
                return AsanaError(429, "You have made too many requests recently. Please, be chill.",
                                  headers={"Retry-After": "0"})
            wait = window_wait(self._accepted, self.rate_limit)
            if wait is not None:
                return AsanaError(429, "You have made too many requests recently. Please, be chill.",
                                  headers={"Retry-After": str(wait)})
            fault = None
            if self.faults is not None and self.faults.rate and self._fault_rng.random() < self.faults.rate:
                fault = self._fault_rng.choice(self.faults.kinds)
                self.faults_struck.append(fault)
        if fault == "latency":
            time.sleep(self.faults.latency)
        elif fault == "error":
            return AsanaError(500, "Server Error")
        elif fault == "rate_limit":
            return AsanaError(429, "You have made too many requests recently. Please, be chill.",
                              headers={"Retry-After": self.faults.retry_after})
        elif fault == "timeout":
            time.sleep(self.faults.hang)
            return AsanaError(504, "Gateway Timeout")
        elif fault == "reset":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        return None

    @staticmethod
    def _fields(request: Request) -> list[str] | None:
        value = request.args.get("opt_fields")
        return [f.strip() for f in value.split(",") if f.strip()] if value else None

    def _shape(self, request: Request, records: list[dict]) -> list[dict]:
        fields = self._fields(request)
        return [select(r, fields) if fields else compact(r) for r in records]

    def _page(self, request: Request, records: list[dict]) -> tuple[int, dict]:
        """Asana's offset paging: `limit` 1..100, opaque offset tokens bound to the path."""
        if "limit" not in request.args:
            if "offset" in request.args:
                raise AsanaError(400, "offset: Cannot use an offset without a limit.")
            if len(records) > UNPAGED_MAX:
                raise AsanaError(400, "The result is too large. You should use pagination (may require "
                                      "specifying a workspace)!")
            return 200, {"data": self._shape(request, records)}
        try:
            limit = int(request.args["limit"])
        except ValueError:
            raise AsanaError(400, "limit: Not a valid integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise AsanaError(400, f"limit: Must be between 1 and {MAX_LIMIT}")
        start = self._read_offset(request.args["offset"], request.path) if "offset" in request.args else 0
        chunk = records[start:start + limit]
        next_page = None
        if start + limit < len(records):
            token = self._offset(start + limit, request.path)
            query = "&".join(f"{k}={v}" for k, v in request.args.items() if k != "offset")
            path = f"{request.path.removeprefix(BASE)}?{query}&offset={token}"
            next_page = {"offset": token, "path": path, "uri": f"https://app.asana.com{BASE}{path}"}
        return 200, {"data": self._shape(request, chunk), "next_page": next_page}

    def _offset(self, index: int, path: str) -> str:
        raw = f"{index}:{path}".encode()
        mac = hmac.new(self._offset_key, raw, hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(raw + b"|" + mac.encode()).decode().rstrip("=")

    def _read_offset(self, token: str, path: str) -> int:
        try:
            raw, mac = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).rsplit(b"|", 1)
            index, bound = raw.decode().split(":", 1)
        except (ValueError, UnicodeDecodeError):
            raise AsanaError(400, "offset: Your pagination token is invalid.") from None
        expected = hmac.new(self._offset_key, raw, hashlib.sha256).hexdigest()[:16].encode()
        if not hmac.compare_digest(mac, expected) or bound != path:
            raise AsanaError(400, "offset: Your pagination token is invalid.")
        return int(index)

    def _project_of(self, gid: str) -> dict:
        project = self.projects.get(gid)
        if project is None:
            raise AsanaError(404, "project: Unknown object: " + gid)
        return project

    def _task_of(self, gid: str) -> dict:
        task = self.tasks.get(gid)
        if task is None:
            raise AsanaError(404, "task: Unknown object: " + gid)
        return task

    @staticmethod
    def _data(request: Request) -> dict:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise AsanaError(400, "Could not parse request data, invalid JSON")
        return body["data"]

    def _check_time_tracking(self) -> None:
        if not self.time_tracking:
            raise AsanaError(402, "Time tracking is not available on this workspace's plan.")

    # -- endpoints -------------------------------------------------------------------

    def _workspaces(self, request):
        return self._page(request, sorted(self.workspaces.values(), key=lambda w: w["gid"]))

    def _workspace_projects(self, request, gid):
        if gid not in self.workspaces:
            raise AsanaError(404, "workspace: Unknown object: " + gid)
        projects = [{k: v for k, v in p.items() if k != "sections"} for p in self.projects.values()
                    if p["workspace"] == gid]
        return self._page(request, sorted(projects, key=lambda p: p["gid"]))

    def _workspace_users(self, request, gid):
        return 200, {"data": self._shape(request, sorted(self.users.values(), key=lambda u: u["name"])),
                     "next_page": None}

    def _project_tasks(self, request, gid):
        project = self._project_of(gid)
        with self._lock:
            tasks = [self._task_json(t) for t in sorted(self.tasks.values(), key=lambda t: t["gid"])
                     if any(m[0] == project["gid"] for m in t["memberships"])]
        return self._page(request, tasks)

    def _tasks(self, request):
        project = request.args.get("project")
        if not project:
            raise AsanaError(400, "Must specify exactly one of project, tag, section, user task list, or "
                                  "assignee + workspace")
        self._project_of(project)
        since = request.args.get("modified_since")
        with self._lock:
            tasks = [self._task_json(t) for t in sorted(self.tasks.values(), key=lambda t: t["gid"])
                     if any(m[0] == project for m in t["memberships"])
                     and (since is None or t["modified_at"] >= since)]
        return self._page(request, tasks)

    def _task(self, request, gid):
        with self._lock:
            task = self._task_json(self._task_of(gid))
        fields = self._fields(request)
        return 200, {"data": select(task, fields) if fields else compact(task)}

    def _sync_token(self, resource: str, seq: int) -> str:
        raw = f"{self._token_epoch}:{resource}:{seq}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _events_since(self, request):
        resource = request.args.get("resource", "")
        self._project_of(resource)
        with self._lock:
            latest = max((e["seq"] for e in self.events), default=0)
            token = request.args.get("sync")
            position = None
            if token:
                try:
                    epoch, bound, seq = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
                    if epoch == self._token_epoch and bound == resource:
                        position = int(seq)
                except (ValueError, UnicodeDecodeError):
                    position = None
            if position is None:
                raise AsanaError(412, SYNC_EXPIRED, extra={"sync": self._sync_token(resource, latest)})
            pending = [e for e in self.events if e["project"] == resource and e["seq"] > position]
            served = pending[:MAX_EVENTS]
            upto = served[-1]["seq"] if len(pending) > MAX_EVENTS else max(position, latest)
            return 200, {"data": [e["event"] for e in served], "sync": self._sync_token(resource, upto),
                         "has_more": len(pending) > MAX_EVENTS}

    def _task_entries(self, request, gid):
        self._task_of(gid)
        self._check_time_tracking()
        with self._lock:
            entries = [self._entry_json(e) for e in sorted(self.entries.values(), key=lambda e: e["gid"])
                       if e["task"] == gid]
        return self._page(request, entries)

    def _create_entry(self, request, gid):
        self._task_of(gid)
        self._check_time_tracking()
        data = self._data(request)
        self._validate_entry(data, creating=True)
        with self._lock:
            entry = {"gid": self.gid(), "task": gid, "duration_minutes": data["duration_minutes"],
                     "entered_on": data.get("entered_on") or datetime.now(timezone.utc).date().isoformat(),
                     "attributable_to": data.get("attributable_to"), "created_by": self.me["gid"],
                     "created_at": now_iso()}
            self.entries[entry["gid"]] = entry
            self.created_entries.append(entry["gid"])
            return 201, {"data": self._entry_json(entry)}

    def _validate_entry(self, data: dict, *, creating: bool) -> None:
        minutes = data.get("duration_minutes")
        if creating and minutes is None:
            raise AsanaError(400, "duration_minutes: Missing input")
        if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0):
            raise AsanaError(400, "duration_minutes: Must be a positive integer")
        project = data.get("attributable_to")
        if project is not None and project not in self.projects:
            raise AsanaError(400, "attributable_to: Not a recognized ID: " + str(project))

    def _entry_of(self, gid: str) -> dict:
        self._check_time_tracking()
        entry = self.entries.get(gid)
        if entry is None:
            raise AsanaError(404, "time_tracking_entry: Unknown object: " + gid)
        return entry

    def _entry(self, request, gid):
        return 200, {"data": self._entry_json(self._entry_of(gid))}

    def _update_entry(self, request, gid):
        entry = self._entry_of(gid)
        data = self._data(request)
        self._validate_entry(data, creating=False)
        with self._lock:
            entry.update({k: data[k] for k in ("duration_minutes", "entered_on", "attributable_to") if k in data})
            return 200, {"data": self._entry_json(entry)}

    def _delete_entry(self, request, gid):
        self._entry_of(gid)
        with self._lock:
            del self.entries[gid]
        return 200, {"data": {}}

    def _create_webhook(self, request):
        data = self._data(request)
        resource, target = data.get("resource"), data.get("target")
        self._project_of(str(resource))
        if not isinstance(target, str) or not target.startswith(("https://", "http://127.0.0.1")):
            raise AsanaError(400, "target: Invalid URL")
        secret = secrets.token_hex(32)
        try:  # the handshake, while this request waits
            answer = httpx2.post(target, headers={"X-Hook-Secret": secret}, timeout=5)
            confirmed = answer.status_code in (200, 204) and answer.headers.get("X-Hook-Secret") == secret
        except httpx2.HTTPError:
            confirmed = False
        if not confirmed:
            raise AsanaError(400, "The remote server did not respond with the handshake secret.")
        hook = {"gid": self.gid(), "resource_type": "webhook", "resource": resource, "target": target,
                "secret": secret, "filters": data.get("filters") or [], "active": True}
        with self._lock:
            self.webhooks[hook["gid"]] = hook
        served = {"gid": hook["gid"], "resource_type": "webhook", "active": True, "target": target,
                  "resource": compact(self.projects[resource]), "created_at": now_iso(), "filters": hook["filters"]}
        return 201, {"data": served, "X-Hook-Secret": secret}

    def _delete_webhook(self, request, gid):
        with self._lock:
            if self.webhooks.pop(gid, None) is None:
                raise AsanaError(404, "webhook: Unknown object: " + gid)
        return 200, {"data": {}}


def issue_token(fake: FakeAsana) -> str:
    """A live access token for a fresh grant, as if a user had just connected (benchmarks)."""
    from tests.fakes.oauth_provider import _Grant

    oauth = fake.oauth
    with oauth._lock:
        grant = _Grant(id=len(oauth._grants) + 1, client_id=oauth.client_id, scope="default",
                       refresh_token=secrets.token_urlsafe(32))
        oauth._grants[grant.id] = grant
        return oauth._issue(grant, include_refresh=True)["access_token"]
