"""Asana (OAuth 2.0): projects and tasks -> projects and tasks; time entries -> time tracking
entries; webhooks with the X-Hook-Secret handshake and X-Hook-Signature.

Connecting picks one workspace (the grant reaches all the user's workspaces). Import:
the workspace's projects (a whole listing each sync) and, per allowed project, its
tasks with `opt_fields` naming only what is mapped, 100 a page (Asana's most), paged
by offset tokens. Incremental: the events API per project, from a sync token taken
*before* the project's listing; a token Asana no longer accepts (412) answers with a
new one, and the project is listed again (and the next sync lists everything, so
that what left the project is archived). When events name changed tasks, the tasks
modified since the earliest of them are listed (`GET /tasks?modified_since`), never
one request per task; deletions and removals come from the events themselves.

Push: completed time entries on linked tasks become Asana time tracking entries
(`duration_minutes`, `entered_on` in the user's zone, `attributable_to` the task's
project). A workspace whose plan has no time tracking answers 402: the entry is
"Not sent" (PushSkipped, no retry) and the integration page says so once.

Webhooks: one per allowed project. Asana confirms a registration by calling the
address with `X-Hook-Secret` (echoed by the intake, ConfirmsWebhookHandshake) and
returns the same secret in the registration's answer; it is kept encrypted in the
connector state and checks each delivery's `X-Hook-Signature` (hex HMAC-SHA256 of
the body). Asana sends no delivery id: a delivery is named by its body's digest,
so a replay is recognised.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from app import encryption
from app.integrations import oauth
from app.integrations.base import Connector
from app.integrations.capabilities import (
    STATUS_MAP_SETTING,
    USER_MAP_SETTING,
    AllowList,
    ConfirmsWebhookHandshake,
    ManagesRemoteSetup,
    MappingTables,
    Pulls,
    Pushes,
    ReceivesWebhooks,
)
from app.integrations.exchange import (
    AllowListOption,
    MappingRow,
    MappingTable,
    PushRequest,
    PushSkipped,
    RemoteRecord,
    RunContext,
    SettingToggle,
    SyncPage,
    WebhookEvent,
    WebhookRejected,
)
from app.integrations.http import NotFoundError, PermanentError, ProviderError
from app.integrations.oauth import ConnectedAccount, OAuthProvider, TokenSet
from app.integrations.pagination import cursor_pages, sync_token_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, ProviderSpec
from app.models.task import TASK_STATUS_LABELS

log = logging.getLogger(__name__)

PAGE_SIZE = 100                 # Asana's most per page
# Only what is mapped (Asana answers faster the fewer fields are asked for).
TASK_FIELDS = "name,completed,modified_at,permalink_url,assignee,memberships.project,memberships.section.name"
USER_FIELDS = "name,email"
PROJECT_FIELDS = "name,archived"
ENTRY_FIELDS = "duration_minutes,entered_on,created_by"
# Events name a change up to this long before they are served: list from a little earlier.
MODIFIED_OVERLAP = timedelta(minutes=1)
WHOLE_LISTING_EVERY_HOURS = 24
TIME_TRACKING_CHECK_EVERY_HOURS = 24
PUSH_SETTING = "push_time_entries"
WEBHOOK_STATE, TIME_TRACKING_STATE, SECTIONS_STATE = "webhooks", "time_tracking", "sections"
EXISTING_PROJECTS, A_TASK, EMAILS, SECTIONS = "existing_projects", "a_task", "emails", "sections"  # RunContext.carry
NO_TIME_TRACKING = ("The plan of this Asana workspace has no time tracking, so time entries are not sent to "
                    "Asana; they stay in TimeHub.")
PAYMENT_REQUIRED = 402          # Asana: a premium feature the workspace's plan lacks

SPEC = ProviderSpec(
    slug="asana",
    name="Asana",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://app.asana.com/-/oauth_authorize",
    token_url="https://app.asana.com/-/oauth_token",
    revoke_url="https://app.asana.com/-/oauth_revoke",
    api_base="https://app.asana.com/api/1.0",
    scopes=("default",),
    console_url="https://app.asana.com/0/my-apps",
    register_steps=(
        "Create an app in the Asana developer console.",
        "Under OAuth, add the redirect URL below and give the app full permissions (the 'default' scope): "
        "TimeHub reads workspaces, projects, tasks, users and events, writes time tracking entries and "
        "registers webhooks.",
        "Copy the client ID and client secret into this form, then connect and pick the workspace.",
        "Webhooks need TimeHub to be reachable from the internet: set TIMEHUB_EXTERNAL_URL to its public "
        "address. Without it, changes arrive with the periodic sync.",
    ),
    setup_fields=OAUTH_APP_FIELDS,
    rate_limit=RateLimit(140, 60.0, 10),  # 150 per minute (free), 50 concurrent GETs
    features={
        "import": "Asana projects you choose and their tasks become TimeHub projects and tasks, with their status "
                  "and assignee.",
        "push": "Time logged on them becomes Asana time tracking entries (where the plan has time tracking).",
        "webhooks": "Changes arrive at once through Asana webhooks.",
    },
    defaults={"sync_interval_minutes": 15},
)

DONE_SECTIONS = ("done", "complete", "completed", "finished", "shipped")
IN_PROGRESS_SECTIONS = ("doing", "in progress", "progress", "review", "testing")


def section_status(section_name: str | None) -> str:
    """An open task's status unless the admin maps it: by its section's name."""
    name = (section_name or "").strip().lower()
    if any(name == word or name.startswith(word) for word in DONE_SECTIONS):
        return "done"
    if any(word in name for word in IN_PROGRESS_SECTIONS):
        return "in_progress"
    return "todo"


def parse_asana_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def version_moment(version: str) -> datetime:
    """A task's version is its modified_at plus what TimeHub derives (status, project,
    assignee); only the time orders."""
    return parse_asana_time(version.split("|", 1)[0])


def _offset_pages(client, path: str, params: dict, start: str | None = None):
    return cursor_pages(client, path, params={**params, "limit": PAGE_SIZE}, records="data",
                        next_cursor=("next_page", "offset"), cursor_param="offset", start=start)


def _workspace_option(workspace: dict, user: dict) -> oauth.AccountOption:
    name, email = user.get("name"), user.get("email")
    who = f"{name} ({email})" if name and email else (name or email)
    label = f"{who} in {workspace['name']}" if who else workspace["name"]
    settings = {"workspace_gid": workspace["gid"], "workspace_name": workspace["name"]}
    if user.get("gid") or user.get("id"):
        settings["asana_user_gid"] = str(user.get("gid") or user.get("id"))
    return oauth.AccountOption(key=workspace["gid"], account=ConnectedAccount(label=label, settings=settings),
                               detail="organization" if workspace.get("is_organization") else "workspace")


class AsanaConnector(Connector, Pulls, Pushes, ReceivesWebhooks, ConfirmsWebhookHandshake, AllowList, MappingTables,
                     ManagesRemoteSetup):
    spec = SPEC
    streams = ("projects", "tasks")
    push_kinds = frozenset({"time_entry"})
    allow_list_label = "Projects"
    allow_all_until_chosen = False
    setting_toggles = (SettingToggle(PUSH_SETTING, "Send time entries to Asana time tracking", default=True,
                                     help="Completed entries on tasks linked to Asana tasks become time tracking "
                                          "entries, where the workspace's plan has time tracking."),)

    # OAuth notes. Revocation is the engine's default: Asana's `/-/oauth_revoke`
    # takes the refresh token (it refuses access tokens) with the app's credentials.

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """Asana's token answer names the user in `data`; the grant reaches each of the
        user's workspaces: one is connected at once, several make the admin pick."""
        user = token.raw.get("data") or {}
        with provider.api_client(token) as client:
            listed = client.get_json("workspaces", params={"limit": PAGE_SIZE, "opt_fields": "name,is_organization"})
        workspaces = [w for w in (listed.get("data") or []) if isinstance(w, dict) and w.get("gid")]
        if not workspaces:
            raise oauth.OAuthFlowError("The Asana account you signed in with belongs to no workspace.")
        options = [_workspace_option(workspace, user) for workspace in workspaces]
        if len(options) == 1:
            return options[0].account
        raise oauth.AccountChoiceRequired(cls.spec.slug, token, options, "workspace")

    @classmethod
    def status_facts(cls, state: dict) -> list[tuple[str, str]]:
        hooks = state.get(WEBHOOK_STATE) or {}
        facts = [cls.webhook_fact(len(hooks.get("hooks") or {}), hooks.get("error"), "project", "projects")]
        tracking = state.get(TIME_TRACKING_STATE) or {}
        if tracking.get("available") is False:
            facts.append(("Time tracking", NO_TIME_TRACKING))
        elif tracking.get("available"):
            facts.append(("Time tracking", "available: completed entries are sent to Asana"))
        return facts

    @property
    def _workspace(self) -> str:
        workspace = self.connection.get("workspace_gid")
        if not workspace:
            raise PermanentError("No Asana workspace is chosen for this connection yet; finish connecting first.")
        return workspace

    # -- settings page ----------------------------------------------------------------

    def _projects(self, start: str | None = None):
        return _offset_pages(self.client, f"workspaces/{self._workspace}/projects", {"opt_fields": PROJECT_FIELDS},
                             start)

    def allow_list_options(self) -> list[AllowListOption]:
        return [AllowListOption(project["gid"], project["name"], "archived" if project.get("archived") else "")
                for page in self._projects() for project in page]

    def mapping_tables(self) -> list[MappingTable]:
        status_rows = (MappingRow("completed", "Completed tasks", TASK_STATUS_LABELS["done"]),
                       MappingRow("open", "Open tasks (no mapped section)",
                                  "by section: Done... -> Done, Doing / In progress -> In progress, else To do"),
                       *self._section_rows())
        people = self._people()
        user_rows = tuple(MappingRow(
            user["gid"], user.get("name") or user["gid"],
            f"by e-mail ({user['email']})" if user.get("email") else "unassigned (no e-mail visible)")
            for user in sorted(people, key=lambda u: (u.get("name") or "").lower()))
        return [
            MappingTable(STATUS_MAP_SETTING, "Status mapping",
                         "Completed tasks are done; open ones follow their section: by its name unless you "
                         "choose for it here. Sections appear once tasks in them were imported.",
                         "task_status", status_rows),
            MappingTable(USER_MAP_SETTING, "User mapping",
                         "Assignees become the TimeHub user with the same e-mail address. Choose someone by hand "
                         "for the others; unmapped assignees leave the task unassigned. Time entries are sent "
                         "as the connected Asana user.", "user", user_rows),
        ]

    def _section_rows(self) -> list[MappingRow]:
        """One row per section seen on the chosen projects' tasks. Asana's description has no
        listing of a project's sections, so they come from the tasks' memberships.section."""
        sections = {gid: seen for gid, seen in (self.state.get(SECTIONS_STATE) or {}).items()
                    if isinstance(seen, dict) and self.is_allowed(seen.get("project") or "")}
        if not sections:
            return []
        names = {project["gid"]: project["name"] for page in self._projects() for project in page}
        return [MappingRow(f"section:{gid}", f"{names.get(seen['project'], 'Project')} / {seen.get('name') or gid}",
                           TASK_STATUS_LABELS[section_status(seen.get("name"))])
                for gid, seen in sorted(sections.items(), key=lambda item: (
                    names.get(item[1]["project"], "").lower(), (item[1].get("name") or "").lower()))]

    def _people(self) -> list[dict]:
        # The task listing's opt_fields cannot reach an assignee's e-mail (Asana's description
        # allows `assignee.name` only): the workspace's users are read once a run instead.
        return [user for page in cursor_pages(self.client, f"workspaces/{self._workspace}/users",
                                              params={"opt_fields": USER_FIELDS}, records="data",
                                              next_cursor=("next_page", "offset"), cursor_param="offset")
                for user in page]

    def _emails(self, run: RunContext) -> dict[str, str]:
        if EMAILS not in run.carry:
            run.carry[EMAILS] = {user["gid"]: user["email"] for user in self._people() if user.get("email")}
        return run.carry[EMAILS]

    # -- import ---------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        if stream == "projects":
            return self._pull_projects(cursor, run)
        return self._pull_tasks(cursor, run)

    def _pull_projects(self, cursor: str | None, run: RunContext):
        start = json.loads(cursor)["offset"] if cursor else None
        existing = run.carry[EXISTING_PROJECTS] = set() if start is None else None
        for page in self._projects(start):
            if existing is not None:
                existing.update(p["gid"] for p in page if not p.get("archived"))
            records = [RemoteRecord("project", p["gid"], p["name"], {"name": p["name"]}, deleted=bool(p.get("archived")))
                       for p in page if self.is_allowed(p["gid"])]
            yield SyncPage(records, json.dumps({"offset": page.resume}) if page.resume else None,
                           listing_starts=start is None, listing_complete=None if page.resume else "project")

    def _projects_to_sync(self, run: RunContext) -> list[str]:
        allowed = set(self.allowed_ids or ())
        existing = run.carry.get(EXISTING_PROJECTS)
        return sorted(allowed & existing if existing is not None else allowed)

    def _pull_tasks(self, cursor: str | None, run: RunContext):
        """Project by project. The cursor keeps each project's sync token and, while a run
        is under way, its plan (projects left, the next page of the current listing)."""
        state = json.loads(cursor) if cursor else {}
        projects = self._projects_to_sync(run)
        tokens = dict(state.get("tokens") or {})
        if state.get("plan"):
            plan, whole, first = state["plan"], state["whole"], False
        else:
            whole = state.get("scope") != projects or self.due_since(state.get("listed_at"), WHOLE_LISTING_EVERY_HOURS)
            plan, first = list(projects), True
        listed_at = datetime.now(timezone.utc).isoformat() if whole and first else state.get("listed_at")
        tokens = {gid: token for gid, token in tokens.items() if gid in projects}

        def cursor_after(later: list[str], **resume) -> str:
            following = {"scope": projects, "tokens": tokens, "listed_at": listed_at}
            if later or resume:
                following.update(plan=later, whole=whole, **resume)
            return json.dumps(following)

        if not plan:
            yield SyncPage([], cursor_after([]), listing_starts=True, listing_complete="task")
            return
        resume = state.get("offset")
        for index, project in enumerate(plan):
            later = plan[index + 1:]
            if whole or resume is not None or project not in tokens:
                pages, gone = self._listing(project, tokens, resume), []
            else:
                pages, gone = self._changes(project, tokens)
                if pages is None and not gone and later and not whole:
                    continue                                # nothing to save: a quiet re-sync writes nothing
                if pages == "listing":                      # the token had expired (412)
                    listed_at = None                        # ... so the next sync lists everything
                    pages = self._listing(project, tokens, None)
            resume = None
            if pages is None:
                yield SyncPage(gone, cursor_after(later), listing_starts=whole and first,
                               listing_complete="task" if whole and not later else None)
                first = False
                continue
            for tasks in pages:
                emails = self._emails(run) if tasks else {}
                records = [self._task_record(task, project, emails, run.carry.setdefault(SECTIONS, {}))
                           for task in tasks] + gone
                gone = []
                if records:
                    run.carry[A_TASK] = records[0].external_id
                more = tasks.resume and getattr(tasks, "listing", False)
                following = cursor_after([project, *later], offset=tasks.resume) if more else cursor_after(later)
                yield SyncPage(records, following, listing_starts=whole and first,
                               listing_complete="task" if whole and not more and not later else None)
                first = False

    def _listing(self, project: str, tokens: dict, start: str | None):
        """Every task of the project, from a sync token taken first (changes made while
        the listing runs are in the next sync's events)."""
        if start is None:
            tokens[project] = self._fresh_token(project)
        for page in _offset_pages(self.client, f"projects/{project}/tasks", {"opt_fields": TASK_FIELDS}, start):
            page.listing = True
            yield page

    def _fresh_token(self, project: str) -> str:
        """Asana hands out a first sync token as a 412 answer to a request without one."""
        try:
            answer = self.client.get_json("events", params={"resource": project})
        except PermanentError as exc:
            if exc.status == 412 and isinstance(exc.body, dict) and exc.body.get("sync"):
                return exc.body["sync"]
            raise
        if not answer.get("sync"):
            raise PermanentError("Asana gave no sync token for the project's events")
        return answer["sync"]

    def _changes(self, project: str, tokens: dict):
        """(pages of changed tasks or None, records of tasks that left) from the project's
        events since its token; ("listing", []) when the token has expired."""
        events = []
        try:
            for page in sync_token_pages(self.client, "events", params={"resource": project}, token=tokens[project]):
                events.extend(event for event in page if isinstance(event, dict))
                tokens[project] = page.resume
        except PermanentError as exc:
            if exc.status == 412 and isinstance(exc.body, dict) and exc.body.get("sync"):
                return "listing", []
            raise
        gone, changed_at, relist = {}, [], False
        for event in events:
            resource = event.get("resource") or {}
            kind, action = resource.get("resource_type"), event.get("action")
            if kind == "section":
                relist = True                               # a renamed section moves statuses
            elif kind == "task" and resource.get("gid"):
                parent = (event.get("parent") or {}).get("gid")
                if action == "deleted" or (action == "removed" and parent == project):
                    gone[resource["gid"]] = RemoteRecord("task", resource["gid"], None, deleted=True)
                elif event.get("created_at"):
                    gone.pop(resource["gid"], None)         # added back, or changed after a removal
                    changed_at.append(parse_asana_time(event["created_at"]))
        if relist:
            return "listing", []
        if not changed_at:
            return None, list(gone.values())
        since = (min(changed_at) - MODIFIED_OVERLAP).isoformat().replace("+00:00", "Z")
        pages = _offset_pages(self.client, "tasks", {"project": project, "modified_since": since,
                                                     "opt_fields": TASK_FIELDS})
        return pages, list(gone.values())

    def _task_record(self, task: dict, listed_in: str | None, emails: dict[str, str],
                     sections: dict | None = None) -> RemoteRecord:
        """`sections` collects the sections seen (gid -> project, name) for the mapping table."""
        memberships = [m for m in task.get("memberships") or [] if isinstance(m, dict)]
        in_projects = sorted((m.get("project") or {}).get("gid") for m in memberships if (m.get("project") or {}))
        allowed = [gid for gid in in_projects if gid and self.is_allowed(gid)]
        if not allowed and not (listed_in and not in_projects and self.is_allowed(listed_in)):
            return RemoteRecord("task", task["gid"], None, deleted=True)
        project = allowed[0] if allowed else listed_in      # one parent, the same from every listing
        section = next((m.get("section") or {} for m in memberships
                        if (m.get("project") or {}).get("gid") == project), {})
        if sections is not None and isinstance(section.get("gid"), str):
            sections[section["gid"]] = {"project": project, "name": str(section.get("name") or "")}
        status = self._status(bool(task.get("completed")), section)
        assignee = self._assignee(task.get("assignee"), emails)
        version = "|".join(str(part) for part in (
            task.get("modified_at") or "", status, project, (assignee or {}).get("email") or "",
            (assignee or {}).get("user_id") or ""))
        return RemoteRecord("task", task["gid"], version, {
            "title": task.get("name") or "(untitled task)",
            "status": status,
            "external_key": None,
            "external_url": task.get("permalink_url"),
            "assignee": assignee,
        }, parent_id=project, version_order=version_moment)

    def _status(self, completed: bool, section: dict) -> str:
        """Completed: as mapped, else done. Open: as its section is mapped, else as open tasks
        are mapped, else by the section's name."""
        chosen = self.preferences.get(STATUS_MAP_SETTING) or {}
        if completed:
            return chosen.get("completed") or "done"
        return chosen.get(f"section:{section.get('gid')}") or chosen.get("open") or section_status(section.get("name"))

    def _assignee(self, assignee: dict | None, emails: dict[str, str]) -> dict | None:
        if not isinstance(assignee, dict) or not assignee.get("gid"):
            return None
        return self.mapped_assignee(assignee["gid"], emails.get(assignee["gid"]))

    # -- push: time entries -> time tracking entries ---------------------------------------

    @classmethod
    def _tracking_unavailable(cls, integration) -> bool:
        return ((integration.connector_state or {}).get(TIME_TRACKING_STATE) or {}).get("available") is False

    @classmethod
    def wants_push(cls, integration, kind: str, entry, links) -> bool:
        return (kind == "time_entry" and entry.ended_at is not None and cls.toggle_of(integration, PUSH_SETTING)
                and links.external_id("task", entry.task_id) is not None)

    @classmethod
    def push_notice(cls, integration, kind: str, entry, links) -> str | None:
        if cls.wants_push(integration, kind, entry, links):
            if cls._tracking_unavailable(integration):
                return NO_TIME_TRACKING
            if _minutes(entry) < 1:
                return "Asana counts time in whole minutes; this entry is under a minute and stays in TimeHub only."
        return None

    def push(self, request: PushRequest, run: RunContext) -> str:
        entry, external_id = request.record, request.external_id
        task_gid = run.links.external_id("task", entry.task_id)
        reason = self._not_pushed_because(entry, task_gid)
        if reason:
            if external_id and reason != NO_TIME_TRACKING:
                self.delete_remote(request.kind, external_id, run)
            raise PushSkipped(reason)
        body = {"data": self._entry_body(entry, run)}
        if external_id:
            old_task, entry_gid = external_id.split("/", 1)
            if old_task == task_gid:
                try:
                    self.client.request("PUT", f"time_tracking_entries/{entry_gid}", json=body)
                    return external_id
                except NotFoundError:
                    pass  # deleted in Asana; the entry still stands here, so it is sent again
            else:
                self.delete_remote(request.kind, external_id, run)  # moved: an Asana entry stays on its task
        if request.earlier_attempts:
            found = self._sent_before(task_gid, body["data"])
            if found and found != external_id:  # an earlier POST got through though its answer was lost
                return self.push(replace(request, external_id=found, earlier_attempts=0), run)
        try:
            created = self.client.request("POST", f"tasks/{task_gid}/time_tracking_entries", json=body).json()
        except NotFoundError:
            raise PushSkipped("The Asana task this entry is on no longer exists, or TimeHub may no longer "
                              "see it.") from None
        except PermanentError as exc:
            if exc.status == PAYMENT_REQUIRED:
                raise PushSkipped(NO_TIME_TRACKING) from None
            raise
        return f"{task_gid}/{created['data']['gid']}"

    def _not_pushed_because(self, entry, task_gid: str | None) -> str | None:
        if not self.toggle(PUSH_SETTING):
            return "Sending time entries to Asana is turned off."
        if task_gid is None:
            return "The entry is no longer on an Asana task."
        if entry.ended_at is None:
            return "Running timers are not sent."
        if self._tracking_unavailable(self.integration):
            return NO_TIME_TRACKING
        if _minutes(entry) < 1:
            return "Asana counts time in whole minutes; this entry is under a minute and stays in TimeHub only."
        return None

    def _entry_body(self, entry, run: RunContext) -> dict:
        started = entry.started_at.replace(tzinfo=timezone.utc).astimezone(entry.user.tz)
        body = {"duration_minutes": _minutes(entry), "entered_on": started.date().isoformat()}
        project = run.links.external_id("project", entry.task.project_id) if entry.task is not None else None
        if project:
            body["attributable_to"] = project               # whose budget the time counts toward
        return body

    def _sent_before(self, task_gid: str, body: dict) -> str | None:
        """The entry an earlier, unanswered attempt created: by the connected user, with this
        duration and day, the newest such (Asana entries carry no reference of ours, so two
        identical entries on one task and day, one sent between the other's attempts, could
        be taken for each other)."""
        me = self.connection.get("asana_user_gid")
        found = []
        try:
            for page in _offset_pages(self.client, f"tasks/{task_gid}/time_tracking_entries",
                                      {"opt_fields": ENTRY_FIELDS}):
                found.extend(e for e in page if e.get("duration_minutes") == body["duration_minutes"]
                             and e.get("entered_on") == body["entered_on"]
                             and (not me or (e.get("created_by") or {}).get("gid") == me))
        except NotFoundError:
            return None  # the task is gone: the POST that follows says so
        if not found:
            return None
        # No created_at in this listing's fields; gids grow with creation.
        newest = max(found, key=lambda e: (len(e["gid"]), e["gid"]))
        return f"{task_gid}/{newest['gid']}"

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        entry_gid = external_id.split("/", 1)[1]
        try:
            self.client.request("DELETE", f"time_tracking_entries/{entry_gid}")
        except NotFoundError:
            pass  # deleted in Asana already

    # -- webhooks and the time tracking check ------------------------------------------------

    def housekeeping(self, run: RunContext) -> dict | None:
        state = dict(self.state)
        state[WEBHOOK_STATE] = self._webhooks(run)
        if run.carry.get(SECTIONS):
            state[SECTIONS_STATE] = {**(state.get(SECTIONS_STATE) or {}), **run.carry[SECTIONS]}
        tracking = state.get(TIME_TRACKING_STATE) or {}
        if run.carry.get(A_TASK) and self.due_since(tracking.get("checked_at"), TIME_TRACKING_CHECK_EVERY_HOURS):
            state[TIME_TRACKING_STATE] = self._check_time_tracking(run.carry[A_TASK]) or tracking
        return state if state != dict(self.state) else None

    def _check_time_tracking(self, task_gid: str) -> dict | None:
        """Whether the workspace's plan has time tracking: one cheap read, once a day."""
        checked_at = datetime.now(timezone.utc).isoformat()
        try:
            self.client.get_json(f"tasks/{task_gid}/time_tracking_entries", params={"limit": 1})
        except PermanentError as exc:
            if exc.status == PAYMENT_REQUIRED:
                return {"available": False, "checked_at": checked_at}
            return None
        except ProviderError:
            return None
        return {"available": True, "checked_at": checked_at}

    def _webhooks(self, run: RunContext) -> dict:
        """One webhook per allowed project at this connection's address."""
        before = self.state.get(WEBHOOK_STATE) or {}
        hooks = dict(before.get("hooks") or {})
        wanted = set(self._projects_to_sync(run)) if run.webhook_url else set()
        error = None
        try:
            for project, hook in sorted(hooks.items()):
                if project not in wanted or before.get("url") != run.webhook_url:
                    self._delete_webhook(hook["id"])
                    del hooks[project]
            for project in sorted(wanted - set(hooks)):
                answer = self.client.request("POST", "webhooks", json={"data": {
                    "resource": project, "target": run.webhook_url,
                    "filters": [{"resource_type": "task"}, {"resource_type": "section"}]}}).json()
                secret = answer.get("X-Hook-Secret")
                if not secret:
                    raise PermanentError("Asana registered the webhook without its secret")
                hooks[project] = {"id": answer["data"]["gid"], "secret": encryption.encrypt(secret)}
        except ProviderError as exc:  # the periodic sync still works without webhooks
            log.warning("Asana webhooks of integration %s: %s", self.integration.id, exc.message)
            error = exc.message
        if not run.webhook_url:
            error = "Set TIMEHUB_EXTERNAL_URL to a public address to receive Asana webhooks."
        state = {"hooks": hooks, "url": run.webhook_url if hooks else None}
        if error:
            state["error"] = error
        return state if state != before else before

    def _delete_webhook(self, hook_id: str) -> None:
        try:
            self.client.request("DELETE", f"webhooks/{hook_id}")
        except NotFoundError:
            pass  # gone at Asana already

    def before_disconnect(self, run: RunContext) -> dict:
        for hook in ((self.state.get(WEBHOOK_STATE) or {}).get("hooks") or {}).values():
            self._delete_webhook(hook["id"])
        return {key: value for key, value in self.state.items() if key != WEBHOOK_STATE}

    @classmethod
    def webhook_handshake(cls, headers, body: bytes) -> dict[str, str] | None:
        secret = headers.get("X-Hook-Secret")
        return {"X-Hook-Secret": secret} if secret else None

    @classmethod
    def verify_webhook(cls, integration, secrets: dict, headers, body: bytes, url: str) -> WebhookEvent:
        """`X-Hook-Signature`: hex HMAC-SHA256 of the body with the secret of one of our webhooks."""
        sent = headers.get("X-Hook-Signature", "")
        hooks = (((getattr(integration, "state", None) or {}).get(WEBHOOK_STATE) or {}).get("hooks") or {}).values()
        if not sent or not hooks:
            raise WebhookRejected(401, "no Asana signature")
        signed = False
        for hook in hooks:  # Asana names no webhook in a delivery: each of ours is tried, in constant time
            expected = hmac.new(encryption.decrypt(hook["secret"]).encode(), body, hashlib.sha256).hexdigest()
            signed = hmac.compare_digest(sent.encode(), expected.encode()) or signed
        if not signed:
            raise WebhookRejected(401, "Asana signature does not match")
        try:
            events = json.loads(body).get("events")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: nesting too deep
            raise WebhookRejected(400, "body is not a JSON object") from None
        if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
            raise WebhookRejected(400, "events is not a list of objects")
        return WebhookEvent("sha256:" + hashlib.sha256(body).hexdigest(), "events" if events else "heartbeat")

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        """The tasks a delivery names, as they are now (one request each; deliveries are small)."""
        deleted, named = set(), []
        for item in payload.get("events") or []:
            resource = item.get("resource") or {} if isinstance(item, dict) else {}
            gid = resource.get("gid") if isinstance(resource, dict) else None
            if resource.get("resource_type") != "task" or not isinstance(gid, str):
                continue
            if item.get("action") == "deleted":
                deleted.add(gid)
            elif gid not in named:
                named.append(gid)
        records = [RemoteRecord("task", gid, None, deleted=True) for gid in sorted(deleted)]
        emails = self._emails(RunContext()) if named else {}
        for gid in (gid for gid in named if gid not in deleted):
            try:
                task = self.client.get_json(f"tasks/{gid}", params={"opt_fields": TASK_FIELDS})["data"]
            except NotFoundError:
                records.append(RemoteRecord("task", gid, None, deleted=True))
                continue
            records.append(self._task_record(task, None, emails))
        return records


def _minutes(entry) -> int:
    return int(round(entry.duration.total_seconds() / 60))
