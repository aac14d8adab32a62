"""What Jira Cloud (app.integrations.jira) and Jira Data Center (app.integrations.jira_datacenter)
share: `JiraSite`, the connector logic both run (projects and issues imported by JQL, time
entries pushed as worklogs, issue webhooks applied), and Jira's formats. Each of the two
modules says only where its REST API is, how it pages, how it names users and how it keeps
webhooks; neither imports the other (like Microsoft's two connectors and app.integrations.microsoft).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.integrations.base import Connector
from app.integrations.capabilities import (
    AllowList,
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
)
from app.integrations.http import ErrorShape, NotFoundError
from app.integrations.pagination import body_cursor_pages, offset_pages
from app.models.task import TASK_STATUS_LABELS

log = logging.getLogger(__name__)

PROJECT_PAGE_SIZE = 100        # the most /project/search returns per page
ISSUE_PAGE_SIZE = 100          # the most /search/jql returns per page with the fields we ask for
USER_PAGE_SIZE = 100
# JQL compares `updated` at minute precision in the account's time zone: look back this far.
JQL_OVERLAP_MINUTES = 2
# An incremental import cannot see deletions; a whole listing this often archives what vanished.
WHOLE_LISTING_EVERY_HOURS = 24
MIN_WORKLOG_SECONDS = 60       # Jira refuses shorter worklogs


# Jira's REST errors: {"errorMessages": [...], "errors": {field: message}}.
JIRA_ERRORS = ErrorShape(message_keys=("errorMessages", *ErrorShape().message_keys))


# Jira's status categories -> TimeHub task statuses (the default status mapping).
CATEGORY_STATUS = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
ISSUE_FIELDS = ["summary", "status", "assignee", "project", "updated"]
WEBHOOK_EVENTS = ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]
STATUS_MAP_SETTING, USER_MAP_SETTING, PUSH_WORKLOGS_SETTING = "status_map", "user_map", "push_worklogs"
SHORT_WORKLOG = "Jira does not accept worklogs under a minute; this entry stays in TimeHub only."
# Where the connector keeps its dynamic webhooks (its connector state).
WEBHOOK_STATE = "webhooks"
# What the projects stream tells the issues stream and housekeeping (RunContext.carry).
EXISTING_PROJECTS = "existing_projects"


def jira_timestamp(moment: datetime) -> str:
    """Jira's format: 2026-11-29T09:00:00.000+0100 (milliseconds, offset without colon)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


def parse_jira_timestamp(value: str) -> datetime:
    # fromisoformat reads Jira's offset without a colon since Python 3.11, at a tenth of
    # strptime's cost (twice per imported issue: a record's version order and the cursor).
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # strptime's %z insisted on the offset: so does this
        raise ValueError(f"no UTC offset in {value!r}")
    return moment


def jql_moment(moment: datetime, zone: ZoneInfo) -> str:
    """A JQL date literal: minute precision, in the account's time zone (as Jira reads it)."""
    return moment.astimezone(zone).strftime("%Y/%m/%d %H:%M")


def adf_paragraph(text: str) -> dict:
    """A one-paragraph Atlassian Document Format document."""
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


class JiraSite(Connector, Pulls, Pushes, ReceivesWebhooks, AllowList, MappingTables, ManagesRemoteSetup):
    """What Jira Cloud and Jira Data Center share: projects and issues imported by JQL, time
    entries pushed as worklogs, issue webhooks applied. A subclass says where the REST API
    is (`rest`), how it pages, how users are named and how webhooks are kept."""

    rest: ClassVar[str] = "rest/api/3"
    streams = ("projects", "issues")
    push_kinds = frozenset({"time_entry"})
    allow_list_label = "Projects"
    allow_all_until_chosen = False  # a big site is not imported whole by surprise
    supports_backfill = True
    setting_toggles = (SettingToggle(PUSH_WORKLOGS_SETTING, "Push time entries as Jira worklogs", default=True,
                                     help="Completed entries on tasks linked to Jira issues become worklogs."),)

    # -- settings page ----------------------------------------------------------------

    def _projects(self, start: int = 0):
        """Pages of projects from `start` (Cloud: project/search, 100 a page)."""
        return offset_pages(self.client, "rest/api/3/project/search", page_size=PROJECT_PAGE_SIZE,
                            params={"orderBy": "key"}, records="values", offset_param="startAt",
                            limit_param="maxResults", total="total", start=start)

    def allow_list_options(self) -> list[AllowListOption]:
        return [AllowListOption(str(project["id"]), project["name"], project["key"])
                for page in self._projects() for project in page]

    def mapping_tables(self) -> list[MappingTable]:
        statuses = self.client.get_json(f"{self.rest}/status")
        status_rows = tuple(MappingRow(
            str(status["id"]), status["name"],
            TASK_STATUS_LABELS[CATEGORY_STATUS.get(status.get("statusCategory", {}).get("key"), "todo")])
            for status in sorted(statuses, key=lambda s: s["name"].lower()))
        user_rows = tuple(MappingRow(
            self.user_key(user), user.get("displayName") or self.user_key(user),
            f"by e-mail ({user['emailAddress']})" if user.get("emailAddress") else "unassigned (no e-mail visible)")
            for user in self._people())
        return [
            MappingTable(STATUS_MAP_SETTING, "Status mapping",
                         "Each Jira status follows its status category unless you choose otherwise.",
                         "task_status", status_rows),
            MappingTable(USER_MAP_SETTING, "User mapping",
                         "Assignees become the TimeHub user with the same e-mail address, where Jira shows it. "
                         "Choose someone by hand for the others; unmapped assignees leave the task unassigned.",
                         "user", user_rows),
        ]

    @staticmethod
    def user_key(user: dict) -> str | None:
        """How the site names a user for good (Cloud: the account id)."""
        return user.get("accountId")

    def _people(self) -> list[dict]:
        people = []
        for page in offset_pages(self.client, "rest/api/3/users/search", page_size=USER_PAGE_SIZE,
                                 offset_param="startAt", limit_param="maxResults"):
            people.extend(user for user in page if user.get("accountType", "atlassian") == "atlassian")
        return sorted(people, key=lambda user: (user.get("displayName") or "").lower())

    # -- import -------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        if stream == "projects":
            return self._pull_projects(cursor, run)
        return self._pull_issues(cursor, run)

    def _pull_projects(self, cursor: str | None, run: RunContext):
        """Every sync lists every project (a page or two): renames and removals show up."""
        start = json.loads(cursor)["start"] if cursor else 0
        # The projects that exist, when this run lists them all: the issues' JQL must not name
        # a deleted one (Jira refuses the whole query then).
        existing = run.carry[EXISTING_PROJECTS] = set() if start == 0 else None
        for page in self._projects(start):
            if existing is not None:
                existing.update(str(project["id"]) for project in page)
            records = [RemoteRecord("project", str(project["id"]), project["name"], {"name": project["name"]})
                       for project in page if self.is_allowed(str(project["id"]))]
            yield SyncPage(records, json.dumps({"start": page.resume}) if page.resume else None,
                           listing_starts=start == 0, listing_complete=None if page.resume else "project")
            start = page.resume

    def _pull_issues(self, cursor: str | None, run: RunContext):
        """Issues in creation order (an edit during the listing moves nothing, so no page
        shifts under the next one), from where the last listing left off.

        The cursor keeps `since`: the earlier of the newest `updated` seen and the moment
        the last listing began, so a change made to an issue the listing had already read
        is asked for again next time, however long the listing took."""
        state = json.loads(cursor) if cursor else {}
        zone = self._zone(state)
        scope = {"projects": self._projects_to_search(run), "since": self.preferences.get("updated_since")}
        if "token" in state:  # a listing interrupted mid-way: carry on where it stopped
            jql, whole, began = state["jql"], state["whole"], state["began"]
        else:
            began = datetime.now(timezone.utc).isoformat()
            whole = state.get("scope") != scope or not state.get("since") or self._whole_listing_due(state)
            jql = self._issues_jql(scope["projects"], None if whole else state["since"], zone)
        if jql is None:  # no project chosen: nothing to import, and nothing kept
            yield SyncPage([], json.dumps({"tz": zone.key, "scope": scope}), listing_starts=True,
                           listing_complete="task")
            return
        high = state.get("high") if "token" in state else state.get("since")
        listed_at = began if whole else state.get("listed_at")
        first = "token" not in state
        for issues in self._issue_pages(jql, state.get("token")):
            for issue in issues:
                updated = issue["fields"].get("updated")
                if updated and (high is None or parse_jira_timestamp(updated) > datetime.fromisoformat(high)):
                    high = parse_jira_timestamp(updated).isoformat()
            following = {"tz": zone.key, "scope": scope, "listed_at": listed_at}
            if issues.resume:
                following.update(token=issues.resume, jql=jql, whole=whole, began=began, high=high)
            else:
                following["since"] = min(filter(None, (high, began)), key=datetime.fromisoformat)
            yield SyncPage([self._issue_record(issue) for issue in issues], json.dumps(following),
                           listing_starts=whole and first,
                           listing_complete="task" if whole and not issues.resume else None)
            first = False

    def _issue_pages(self, jql: str, start):
        """Pages of the issues `jql` finds, from `start` (a page's `resume`; Cloud: the
        enhanced search's nextPageToken)."""
        return body_cursor_pages(
            self.client, f"{self.rest}/search/jql", body={"jql": jql, "fields": ISSUE_FIELDS,
                                                           "maxResults": ISSUE_PAGE_SIZE},
            cursor_field="nextPageToken", records="issues", start=start,
            next_cursor=lambda answer: None if answer.get("isLast") else answer.get("nextPageToken"))

    def _projects_to_search(self, run: RunContext) -> list[str]:
        """The allowed projects, less those this run's listing found deleted: JQL (and a
        webhook's filter) naming a project that no longer exists is refused whole."""
        allowed = set(self.allowed_ids or ())
        existing = run.carry.get(EXISTING_PROJECTS)
        return sorted(allowed & existing if existing is not None else allowed)

    def _zone(self, state: dict) -> ZoneInfo:
        """The account's time zone, which JQL dates are read in; asked once, kept in the cursor."""
        name = state.get("tz") or self.client.get_json(f"{self.rest}/myself").get("timeZone") or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    @staticmethod
    def _whole_listing_due(state: dict) -> bool:
        listed_at = state.get("listed_at")
        return listed_at is None or datetime.fromisoformat(listed_at) + timedelta(
            hours=WHOLE_LISTING_EVERY_HOURS) <= datetime.now(timezone.utc)

    def _issues_jql(self, projects: list[str], changed_since: str | None, zone: ZoneInfo) -> str | None:
        if not projects:
            return None
        clauses = [f"project in ({', '.join(projects)})"]
        since = self.backfill_since
        if changed_since is not None:
            since = max(filter(None, (since, datetime.fromisoformat(changed_since)
                                      - timedelta(minutes=JQL_OVERLAP_MINUTES))))
        if since is not None:
            clauses.append(f'updated >= "{jql_moment(since, zone)}"')
        return " AND ".join(clauses) + " ORDER BY created ASC"

    def _issue_record(self, issue: dict) -> RemoteRecord:
        fields = issue.get("fields") or {}
        project_id = str((fields.get("project") or {}).get("id", ""))
        if not self.is_allowed(project_id):  # moved out of the allow-list (seen through a webhook)
            return RemoteRecord("task", str(issue["id"]), None, deleted=True)
        site_url = self.site_url()
        return RemoteRecord("task", str(issue["id"]), fields.get("updated"), {
            "title": fields.get("summary") or issue["key"],
            "status": self._status(fields.get("status") or {}),
            "external_key": issue["key"],
            "external_url": f"{site_url}/browse/{issue['key']}" if site_url else None,
            "assignee": self._assignee(fields.get("assignee")),
        }, parent_id=project_id, version_order=parse_jira_timestamp)

    def site_url(self) -> str:
        """Where people open the site in a browser (issue links point there)."""
        return (self.connection.get("site_url") or "").rstrip("/")

    def _status(self, status: dict) -> str:
        chosen = (self.preferences.get(STATUS_MAP_SETTING) or {}).get(str(status.get("id")))
        return chosen or CATEGORY_STATUS.get((status.get("statusCategory") or {}).get("key"), "todo")

    def _assignee(self, assignee: dict | None) -> dict | None:
        if not assignee:
            return None
        chosen = (self.preferences.get(USER_MAP_SETTING) or {}).get(self.user_key(assignee))
        return {"email": assignee.get("emailAddress"), "user_id": int(chosen) if chosen else None}

    # -- push: time entries -> worklogs ------------------------------------------------

    @classmethod
    def wants_push(cls, integration, kind: str, entry, links) -> bool:
        return (kind == "time_entry" and entry.ended_at is not None
                and cls.toggle_of(integration, PUSH_WORKLOGS_SETTING)
                and links.external_id("task", entry.task_id) is not None)

    @classmethod
    def push_notice(cls, integration, kind: str, entry, links) -> str | None:
        if cls.wants_push(integration, kind, entry, links) and \
                entry.duration.total_seconds() < MIN_WORKLOG_SECONDS:
            return SHORT_WORKLOG
        return None

    def push(self, request: PushRequest, run: RunContext) -> str:
        entry, external_id = request.record, request.external_id
        issue_id = run.links.external_id("task", entry.task_id)
        reason = self._not_pushed_because(entry, issue_id)
        if reason:
            if external_id:
                self.delete_remote(request.kind, external_id, run)
            raise PushSkipped(reason)
        body = self._worklog(entry, request.as_author)
        if external_id:
            old_issue, worklog_id = external_id.split("/", 1)
            if old_issue == issue_id:
                try:
                    self.client.request("PUT", f"{self.rest}/issue/{issue_id}/worklog/{worklog_id}", json=body)
                    return external_id
                except NotFoundError:
                    pass  # someone deleted it in Jira; the entry still stands here, so it is logged again
            else:
                self.delete_remote(request.kind, external_id, run)  # moved to another issue: Jira cannot move worklogs
        if request.earlier_attempts:
            existing = self._pushed_before(issue_id, entry.id)
            if existing and existing != external_id:  # an earlier POST got through though its answer was lost
                return self.push(replace(request, external_id=existing), run)
        try:
            created = self.client.request("POST", f"{self.rest}/issue/{issue_id}/worklog", json=body).json()
        except NotFoundError:  # retrying cannot help; the next sync archives the task
            raise PushSkipped("The Jira issue this entry is on no longer exists, or TimeHub may no longer "
                              "see it.") from None
        return f"{issue_id}/{created['id']}"

    def _not_pushed_because(self, entry, issue_id: str | None) -> str | None:
        if not self.toggle(PUSH_WORKLOGS_SETTING):
            return "Pushing worklogs to Jira is turned off."
        if issue_id is None:
            return "The entry is no longer on a Jira issue."
        if entry.ended_at is None:
            return "Running timers are not pushed."
        if entry.duration.total_seconds() < MIN_WORKLOG_SECONDS:
            return SHORT_WORKLOG
        return None

    def _worklog(self, entry, as_author: bool) -> dict:
        started = entry.started_at.replace(tzinfo=timezone.utc).astimezone(entry.user.tz)
        # Through the author's own link Jira names them; through the team connection it names
        # whoever connected the team, so the comment says for whom it was logged.
        text = "Logged in TimeHub" if as_author else f"Logged in TimeHub for {entry.user.name or entry.user.email}"
        text += f": {entry.description}" if entry.description else ""
        return {"timeSpentSeconds": int(entry.duration.total_seconds()), "started": jira_timestamp(started),
                **self._worklog_note(entry.id, text)}

    @staticmethod
    def _worklog_note(entry_id: int, text: str) -> dict:
        """The worklog's comment, and what finds it again after a lost answer (Cloud: an ADF
        comment and an entity property naming the entry)."""
        return {"comment": adf_paragraph(text), "properties": [{"key": "timehub", "value": {"entry_id": entry_id}}]}

    def _pushed_before(self, issue_id: str, entry_id: int) -> str | None:
        """The worklog an earlier, unanswered attempt created for this entry."""
        try:
            for worklog in self._worklogs_of(issue_id):
                if self._is_worklog_of(worklog, entry_id):
                    return f"{issue_id}/{worklog['id']}"
        except NotFoundError:
            pass  # the issue is gone: the POST that follows says so
        return None

    def _worklogs_of(self, issue_id: str):
        """Every worklog of the issue, with what `_is_worklog_of` reads (Cloud: properties)."""
        pages = offset_pages(self.client, f"{self.rest}/issue/{issue_id}/worklog", page_size=5000,
                             params={"expand": "properties"}, records="worklogs", offset_param="startAt",
                             limit_param="maxResults", total="total")
        return (worklog for page in pages for worklog in page)

    @staticmethod
    def _is_worklog_of(worklog: dict, entry_id: int) -> bool:
        return any(prop.get("key") == "timehub" and (prop.get("value") or {}).get("entry_id") == entry_id
                   for prop in worklog.get("properties") or [])

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        issue_id, worklog_id = external_id.split("/", 1)
        try:
            self.client.request("DELETE", f"{self.rest}/issue/{issue_id}/worklog/{worklog_id}")
        except NotFoundError:
            pass  # deleted in Jira already, or its issue is gone

    @classmethod
    def delivery_problem(cls, event: str | None, payload: dict) -> str | None:
        """Checked before a delivery is stored, so that one accepted with 2xx can be applied later."""
        issue = payload.get("issue")
        if issue is None:
            return None  # not an issue event: stored, applies nothing
        if not isinstance(issue, dict):
            return "issue is not an object"
        if not isinstance(issue.get("id"), (str, int)) or isinstance(issue.get("id"), bool) or issue.get("id") in ("", None):
            return "issue.id is missing or not an id"
        if event != "jira:issue_deleted" and not (isinstance(issue.get("key"), str) and issue["key"]):
            return "issue.key is missing"
        fields = issue.get("fields")
        if fields is None:
            return None
        if not isinstance(fields, dict):
            return "issue.fields is not an object"
        for name in ("project", "status", "assignee"):
            if fields.get(name) is not None and not isinstance(fields[name], dict):
                return f"issue.fields.{name} is not an object"
        status = fields.get("status") or {}
        if status.get("statusCategory") is not None and not isinstance(status["statusCategory"], dict):
            return "issue.fields.status.statusCategory is not an object"
        assignee = fields.get("assignee") or {}
        if assignee.get("accountId") is not None and not isinstance(assignee["accountId"], str):
            return "issue.fields.assignee.accountId is not text"
        category = status.get("statusCategory") or {}
        if category.get("key") is not None and not isinstance(category["key"], str):
            return "issue.fields.status.statusCategory.key is not text"
        for name in ("summary", "updated"):
            if fields.get(name) is not None and not isinstance(fields[name], str):
                return f"issue.fields.{name} is not text"
        return None

    def webhook_records(self, event: str | None, payload: dict) -> list:
        issue = payload.get("issue") or {}
        if not issue.get("id"):
            return []
        if event == "jira:issue_deleted":
            return [RemoteRecord("task", str(issue["id"]), None, deleted=True)]
        return [self._issue_record(issue)]
