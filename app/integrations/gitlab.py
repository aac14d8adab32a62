"""GitLab, on gitlab.com or any self-managed host: issues -> tasks, time entries -> spent time.

Import: the projects the account is a member of (`GET /projects?membership=true`,
keyset pagination, every page) are the allow-list and become projects; the issues
of the chosen ones become tasks, incrementally with `updated_after` (inclusive) and
keyset pagination ordered by `updated_at`; once a day (and when the allow-list or
backfill window changes) the issues are listed whole, which archives deleted and
moved-away ones. Status: closed issues are done; an open issue's labels (scoped
labels such as `workflow::doing` included, by their full name) can be mapped.
Assignees: issues name people without an e-mail address, so each new assignee is
read once from the users API (`public_email`, or `email` when the connected
account is an administrator) and kept in the connector state; the daily whole
listing reads them again. The user mapping overrides; nobody found leaves the task
unassigned.

Push: REST's `add_spent_time` cannot date an entry, so completed time entries
become timelogs through GraphQL `timelogCreate` (`spentAt`, `summary`); an edit is
`timelogDelete` + `timelogCreate`, a delete `timelogDelete`. The link keeps
`<issue id>/<timelog id>`. Each summary ends with a marker naming the entry, so a
retry after a lost answer finds the timelog it created instead of adding another.

Webhooks: with TIMEHUB_EXTERNAL_URL set, one project hook (issue events) per chosen
project with the app's generated secret token (X-Gitlab-Token, compared in constant
time), deduplicated by `Idempotency-Key` (X-Gitlab-Event-UUID on older GitLab).
"""
from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime, timezone

from app.integrations.base import Connector
from app.integrations.capabilities import (
    STATUS_MAP_SETTING,
    USER_MAP_SETTING,
    AllowList,
    LinksPersonalAccounts,
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
from app.integrations.oauth import ConnectedAccount, OAuthFlowError, OAuthProvider, TokenSet
from app.integrations.pagination import graphql_pages, link_header_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, ProviderSpec, SetupField

log = logging.getLogger(__name__)

GITLAB_COM = "https://gitlab.com"
PAGE_SIZE = 100                  # the most GitLab returns per page
WHOLE_LISTING_EVERY_HOURS = 24
PUSH_SETTING = "push_timelogs"
WEBHOOK_STATE, SEEN_STATE = "webhooks", "seen"
PROJECTS, SEEN_IN_RUN = "projects", "seen"

SPEC = ProviderSpec(
    slug="gitlab",
    name="GitLab",
    scope="global",
    auth_kind="oauth2",
    authorize_url="{base_url}/oauth/authorize",
    token_url="{base_url}/oauth/token",
    revoke_url="{base_url}/oauth/revoke",
    api_base="{base_url}/api/v4",
    scopes=("api", "read_user"),
    console_url="https://gitlab.com/-/user_settings/applications",
    register_steps=(
        "On your GitLab instance open User settings > Applications (or an admin/group application).",
        "Paste the redirect URI below, tick 'Confidential' and the scopes listed below.",
        "Copy the application ID and secret into this form.",
        "Project webhooks need TimeHub to be reachable from your GitLab: set TIMEHUB_EXTERNAL_URL to its "
        "public address. Without it, changes arrive with the periodic sync.",
    ),
    setup_fields=(
        SetupField("base_url", "GitLab URL", required=False, default=GITLAB_COM,
                   help="Change it for a self-hosted GitLab.", placeholder="https://gitlab.example.com"),
    ) + OAUTH_APP_FIELDS + (
        SetupField("webhook_secret", "Webhook secret token", secret=True, required=False, generated=True,
                   help="Sent by GitLab with every project webhook; generated for you when left empty."),
    ),
    rate_limit=RateLimit(25, 1.0, 4),  # gitlab.com: 2,000 per minute per user
    features={
        "import": "Issues of the projects you choose become TimeHub tasks, with their status and assignee.",
        "push": "Time logged on them is added as spent time, on the day it was worked.",
        "webhooks": "Changes arrive at once through project webhooks.",
        "personal_links": "Each person can link their own GitLab account on their account page, so that "
                          "their spent time is added as them.",
    },
    defaults={"sync_interval_minutes": 15},
)


def parse_gitlab_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def gitlab_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_text(seconds: int) -> str:
    """GitLab's time-tracking notation: 1h 30m (GitLab has no seconds, so minutes are rounded)."""
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return " ".join(part for part in (f"{hours}h" if hours else "", f"{minutes}m" if minutes else "") if part)


def entry_marker(entry_id: int) -> str:
    """Ends every timelog summary TimeHub writes: how a lost create is found again."""
    return f"[TimeHub entry {entry_id}]"


TIMELOG_CREATE = """
mutation($issuableId: IssuableID!, $timeSpent: String!, $spentAt: Time!, $summary: String!) {
  timelogCreate(input: {issuableId: $issuableId, timeSpent: $timeSpent, spentAt: $spentAt, summary: $summary}) {
    timelog { id }
    errors
  }
}"""
TIMELOG_DELETE = """
mutation($id: TimelogID!) {
  timelogDelete(input: {id: $id}) {
    timelog { id }
    errors
  }
}"""
ISSUE_TIMELOGS = """
query($id: IssueID!, $after: String) {
  issue(id: $id) {
    timelogs(first: 100, after: $after) {
      nodes { id summary }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""


class GitLabConnector(Connector, Pulls, Pushes, ReceivesWebhooks, AllowList, MappingTables, ManagesRemoteSetup,
                      LinksPersonalAccounts):
    spec = SPEC
    streams = ("projects", "issues")
    push_kinds = frozenset({"time_entry"})
    allow_list_label = "Projects"
    allow_all_until_chosen = False
    supports_backfill = True
    setting_toggles = (SettingToggle(PUSH_SETTING, "Add time entries as spent time", default=True,
                                     help="Completed entries on tasks linked to GitLab issues become timelogs."),)

    # OAuth notes. Every endpoint hangs off the admin's GitLab URL (`base_url`), so a
    # self-hosted instance needs no environment overrides. Revocation is RFC 7009
    # at `/oauth/revoke` (the engine's default).

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """The account is the username of `GET /api/v4/user`. The instance's URL is kept
        on the integration too, so its API calls go to the host it was connected on."""
        with provider.api_client(token) as client:
            user = client.get_json("user")
        base_url = provider.app_settings.get("base_url") or GITLAB_COM
        settings = {"gitlab_user_id": user.get("id"), "base_url": base_url.rstrip("/")}
        return ConnectedAccount(label=user.get("username"), settings={k: v for k, v in settings.items() if v})

    personal_link_action = "Log my GitLab time as me"

    @classmethod
    def personal_account(cls, provider: OAuthProvider, token: TokenSet, team_facts: dict) -> ConnectedAccount:
        """A person's own GitLab account, on the team's instance (the same OAuth app, so the
        same host): its timelogs are then theirs."""
        account = cls.oauth_connected_account(provider, token, {})
        if account.settings.get("base_url") != team_facts.get("base_url"):
            raise OAuthFlowError("That GitLab account is on another instance than the team's connection.")
        return account

    @classmethod
    def status_facts(cls, state) -> list[tuple[str, str]]:
        hooks = state.get(WEBHOOK_STATE) or {}
        return [cls.webhook_fact(len(hooks.get("projects") or {}), hooks.get("error"), "project", "projects")]

    @property
    def graphql_url(self) -> str:
        """GraphQL sits next to REST: {base_url}/api/graphql beside {base_url}/api/v4."""
        rest = self.client.base_url.rstrip("/")
        return (rest[:-len("/v4")] if rest.endswith("/v4") else rest) + "/graphql"

    # -- settings page ----------------------------------------------------------------

    def _projects(self):
        return link_header_pages(self.client, "projects", params={
            "membership": "true", "simple": "true", "archived": "false", "pagination": "keyset",
            "order_by": "id", "sort": "asc", "per_page": PAGE_SIZE})

    def allow_list_options(self) -> list[AllowListOption]:
        return [AllowListOption(str(project["id"]), project["path_with_namespace"], project.get("name") or "")
                for page in self._projects() for project in page]

    def mapping_tables(self) -> list[MappingTable]:
        """Labels of the chosen projects (every page); people from the issues imported so far,
        with the e-mail address GitLab's users API showed for them."""
        labels: set[str] = set()
        for project_id in sorted(self.allowed_ids or ()):
            for page in link_header_pages(self.client, f"projects/{project_id}/labels",
                                          params={"per_page": PAGE_SIZE}):
                labels.update(label["name"] for label in page if label.get("name"))
        status_rows = self.label_status_rows("opened", labels)
        people = (self.state.get(SEEN_STATE) or {}).get("people") or {}
        user_rows = tuple(_person_row(username, _person(known))
                          for username, known in sorted(people.items(), key=lambda item: item[0].lower()))
        return [
            MappingTable(STATUS_MAP_SETTING, "Status mapping",
                         "Open issues are to do and closed ones done, unless a label of an open issue (a scoped "
                         "label such as workflow::doing too) is mapped here.", "task_status", status_rows),
            MappingTable(USER_MAP_SETTING, "User mapping",
                         "Assignees become the TimeHub user with the same e-mail address where GitLab shows it "
                         "(a public e-mail, or any address when TimeHub is connected as an administrator). "
                         "Choose someone by hand for the others; unmapped assignees leave the task unassigned.",
                         "user", user_rows),
        ]

    # -- import -------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        if stream == "projects":
            return self._pull_projects(run)
        return self._pull_issues(cursor, run)

    def _pull_projects(self, run: RunContext):
        """Every sync lists every project (renames, removals, access lost)."""
        names: dict[str, str] = {}
        for number, page in enumerate(self._projects()):
            names.update({str(p["id"]): p["path_with_namespace"] for p in page})
            records = [RemoteRecord("project", str(p["id"]), p["path_with_namespace"],
                                    {"name": p["path_with_namespace"]})
                       for p in page if self.is_allowed(str(p["id"]))]
            if page.resume is None:
                run.carry[PROJECTS] = names
            yield SyncPage(records, None, listing_starts=number == 0,
                           listing_complete="project" if page.resume is None else None)

    def _projects_to_import(self, run: RunContext) -> list[tuple[str, str]]:
        names = run.carry.get(PROJECTS) or {}
        return sorted((pid, names[pid]) for pid in (self.allowed_ids or ()) if pid in names)

    def _pull_issues(self, cursor: str | None, run: RunContext):
        """Each allowed project in turn from its own `updated_after` (kept in the cursor).
        A whole listing spans every project in one run, so the engine archives what none
        of them listed."""
        state = json.loads(cursor) if cursor else {}
        todo = self._projects_to_import(run)
        scope = {"projects": [pid for pid, _ in todo], "since": self.preferences.get("updated_since")}
        resuming = "current" in state
        if resuming:
            whole, began = state["whole"], state["began"]
            todo = [item for item in todo if item[0] >= state["current"]]
        else:
            began = datetime.now(timezone.utc).isoformat()
            whole = state.get("scope") != scope or self.due_since(state.get("listed_at"), WHOLE_LISTING_EVERY_HOURS)
        listed_at = began if whole else state.get("listed_at")
        highs: dict[str, str] = {} if whole and not resuming else dict(state.get("highs") or {})
        seen = run.carry.setdefault(SEEN_IN_RUN, {"people": {}, "fresh": whole})
        if not todo:
            yield SyncPage([], json.dumps({"scope": scope, "highs": {}, "listed_at": listed_at}),
                           listing_starts=whole, listing_complete="task" if whole else None)
            return
        first, saved = not resuming, cursor
        for index, (project_id, path) in enumerate(todo):
            resume = state.get("next") if state.get("current") == project_id else None
            high = state.get("high") if resume else highs.get(project_id)
            params = {"scope": "all", "pagination": "keyset", "order_by": "updated_at", "sort": "asc",
                      "per_page": PAGE_SIZE}
            since = self._since(None if whole else highs.get(project_id))
            if since:
                params["updated_after"] = since
            last_project = index == len(todo) - 1
            for page in link_header_pages(self.client, f"projects/{project_id}/issues", params=params, start=resume):
                records = []
                for issue in page:
                    updated = issue.get("updated_at")
                    if updated and (high is None or parse_gitlab_time(updated) > parse_gitlab_time(high)):
                        high = updated
                    records.append(self._issue_record(issue, project_id, path, seen))
                following = {"scope": scope, "highs": highs, "listed_at": listed_at}
                if page.resume:
                    following.update(whole=whole, began=began, current=project_id, next=page.resume, high=high)
                else:
                    if high:
                        highs[project_id] = high
                    following["highs"] = dict(highs)
                    if not last_project:
                        following.update(whole=whole, began=began, current=todo[index + 1][0], next=None)
                # Between projects the saved cursor stays where it was (resuming there only repeats
                # work), so a run with nothing new writes one cursor at most.
                saved = json.dumps(following) if page.resume or last_project else saved
                yield SyncPage(records, saved, listing_starts=whole and first,
                               listing_complete="task" if whole and last_project and not page.resume else None)
                first = False

    def _since(self, incremental: str | None) -> str | None:
        moments = [m for m in (self.backfill_since, parse_gitlab_time(incremental) if incremental else None) if m]
        return gitlab_time(max(moments)) if moments else None

    def _issue_record(self, issue: dict, project_id: str, path: str, seen: dict) -> RemoteRecord:
        labels = [label if isinstance(label, str) else (label or {}).get("name") or (label or {}).get("title")
                  for label in issue.get("labels") or []]
        assignees = issue.get("assignees") or ([issue["assignee"]] if issue.get("assignee") else [])
        assignee = assignees[0] if assignees and isinstance(assignees[0], dict) else None
        key = ((issue.get("references") or {}).get("full")) or f"{path}#{issue['iid']}"
        username = assignee.get("username") if assignee else None
        return RemoteRecord("task", str(issue["id"]), issue.get("updated_at"), {
            "title": issue.get("title") or key,
            "status": self.label_status(issue.get("state") == "closed", [name for name in labels if name], "opened"),
            "external_key": key,
            "external_url": issue.get("web_url") or issue.get("url"),
            "assignee": self.mapped_assignee(username, self._email_of(assignee, seen)) if username else None,
        }, parent_id=project_id, version_order=parse_gitlab_time)

    def _email_of(self, assignee: dict, seen: dict) -> str | None:
        """The assignee's address as GitLab's users API shows it: read once per person (per
        run, then from the connector state until the next whole listing), never per issue."""
        username = assignee["username"]
        known = seen["people"].get(username)
        if known is None and not seen.get("fresh"):
            known = ((self.state.get(SEEN_STATE) or {}).get("people") or {}).get(username)
            known = known if isinstance(known, dict) else None   # an older state kept names only
        if known is None:
            known = {"name": assignee.get("name"), "email": self._user_email(assignee.get("id"))}
        seen["people"][username] = {**known, "name": assignee.get("name") or known.get("name")}
        return known.get("email")

    def _user_email(self, user_id) -> str | None:
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            return None
        try:
            user = self.client.get_json(f"users/{user_id}")
        except (NotFoundError, PermanentError):   # a blocked or hidden user: nobody to match
            return None
        user = user if isinstance(user, dict) else {}
        return _address(user.get("public_email")) or _address(user.get("email"))

    # -- push: time entries -> timelogs (GraphQL) ----------------------------------------

    @classmethod
    def wants_push(cls, integration, kind: str, entry, links) -> bool:
        return (kind == "time_entry" and entry.ended_at is not None and cls.toggle_of(integration, PUSH_SETTING)
                and links.external_id("task", entry.task_id) is not None)

    def push(self, request: PushRequest, run: RunContext) -> str:
        entry, external_id = request.record, request.external_id
        issue_id = run.links.external_id("task", entry.task_id)
        reason = self._not_pushed_because(entry, issue_id)
        if external_id:   # GitLab cannot edit a timelog: an edit is a delete and a new one
            self.delete_remote(request.kind, external_id, run)
        if reason:
            raise PushSkipped(reason)
        if request.earlier_attempts:
            existing = self._pushed_before(issue_id, entry.id)
            if existing:
                return existing  # an earlier create got through though its answer was lost
        started = entry.started_at.replace(tzinfo=timezone.utc).astimezone(entry.user.tz)
        # Through the team connection GitLab names whoever connected it: say for whom it was logged.
        on_behalf = "" if request.as_author else f" (logged for {entry.user.name or entry.user.email})"
        summary = f"{entry.description or 'Logged in TimeHub'}{on_behalf} {entry_marker(entry.id)}"
        try:
            answer = self._mutate(TIMELOG_CREATE, {
                "issuableId": f"gid://gitlab/Issue/{issue_id}", "timeSpent": duration_text(
                    int(entry.duration.total_seconds())), "spentAt": started.isoformat(), "summary": summary},
                "timelogCreate")
        except NotFoundError:  # retrying cannot help; the next sync archives the task
            raise PushSkipped("The GitLab issue this entry is on no longer exists, or TimeHub may no longer "
                              "see it.") from None
        timelog = answer.get("timelog") or {}
        if not timelog.get("id"):
            raise PushSkipped("GitLab did not add the spent time: " + "; ".join(answer.get("errors") or ["no reason"]))
        return f"{issue_id}/{timelog['id'].rsplit('/', 1)[-1]}"

    def _not_pushed_because(self, entry, issue_id: str | None) -> str | None:
        if not self.toggle(PUSH_SETTING):
            return "Adding spent time to GitLab is turned off."
        if issue_id is None:
            return "The entry is no longer on a GitLab issue."
        if entry.ended_at is None:
            return "Running timers are not pushed."
        return None

    def _mutate(self, query: str, variables: dict, name: str) -> dict:
        body = self.client.request("POST", self.graphql_url, json={"query": query, "variables": variables}).json()
        payload = ((body or {}).get("data") or {}).get(name) if isinstance(body, dict) else None
        if payload is None:
            errors = "; ".join(str(e.get("message", e)) for e in (body or {}).get("errors") or [] if isinstance(e, dict))
            if "exist" in errors or "permission" in errors:
                raise NotFoundError(f"GitLab answered: {errors[:300]}", 404)
            raise PermanentError(f"GitLab refused the change: {errors[:300] or 'no reason given'}")
        return payload

    def _pushed_before(self, issue_id: str, entry_id: int) -> str | None:
        marker = entry_marker(entry_id)
        try:
            for page in graphql_pages(self.client, self.graphql_url, query=ISSUE_TIMELOGS,
                                      variables={"id": f"gid://gitlab/Issue/{issue_id}"},
                                      connection=("issue", "timelogs")):
                for timelog in page:
                    if (timelog.get("summary") or "").endswith(marker):
                        return f"{issue_id}/{timelog['id'].rsplit('/', 1)[-1]}"
        except PermanentError:
            pass  # the issue is gone: the create that follows says so
        return None

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        timelog_id = external_id.split("/", 1)[1]
        try:
            self._mutate(TIMELOG_DELETE, {"id": f"gid://gitlab/Timelog/{timelog_id}"}, "timelogDelete")
        except NotFoundError:
            pass  # deleted at GitLab already, or its issue is gone

    # -- webhooks -------------------------------------------------------------------------

    def housekeeping(self, run: RunContext) -> dict | None:
        new_state = dict(self.state)
        seen_now = run.carry.get(SEEN_IN_RUN)
        if seen_now and seen_now["people"]:
            before = self.state.get(SEEN_STATE) or {}
            new_state[SEEN_STATE] = {"people": {**(before.get("people") or {}), **seen_now["people"]}}
        if PROJECTS in run.carry:
            new_state[WEBHOOK_STATE] = self._keep_hooks(run)
        return new_state if new_state != dict(self.state) else None

    def _keep_hooks(self, run: RunContext) -> dict:
        registered = dict((self.state.get(WEBHOOK_STATE) or {}).get("projects") or {})
        secret = run.webhook_secrets.get("webhook_secret")
        wanted = dict(self._projects_to_import(run)) if run.webhook_url and secret else {}
        error = None
        for project_id, hook in list(registered.items()):
            if project_id not in wanted or hook.get("url") != run.webhook_url:
                try:
                    self._remove_hook(project_id, hook)
                    del registered[project_id]
                except ProviderError as exc:
                    error = exc.message
        for project_id in wanted:
            if project_id in registered:
                continue
            try:
                answer = self.client.request("POST", f"projects/{project_id}/hooks", json={
                    "url": run.webhook_url, "token": secret, "issues_events": True, "push_events": False,
                    "enable_ssl_verification": True}).json()
                registered[project_id] = {"id": answer["id"], "url": run.webhook_url}
            except ProviderError as exc:  # the periodic sync still works without webhooks
                log.warning("GitLab hook on project %s of integration %s: %s", project_id, self.integration.id,
                            exc.message)
                error = exc.message
        if not run.webhook_url:
            error = "Set TIMEHUB_EXTERNAL_URL to a public address to receive GitLab webhooks."
        elif not secret:
            error = "Save the GitLab app's setup page again so TimeHub generates a webhook secret token."
        return {"projects": registered, **({"error": error} if error else {})}

    def _remove_hook(self, project_id: str, hook: dict) -> None:
        try:
            self.client.request("DELETE", f"projects/{project_id}/hooks/{hook['id']}")
        except NotFoundError:
            pass

    def before_disconnect(self, run: RunContext) -> dict:
        for project_id, hook in ((self.state.get(WEBHOOK_STATE) or {}).get("projects") or {}).items():
            self._remove_hook(project_id, hook)
        return {key: value for key, value in self.state.items() if key != WEBHOOK_STATE}

    @classmethod
    def verify_webhook(cls, integration, secrets, headers, body: bytes, url: str) -> WebhookEvent:
        """GitLab sends the secret token itself (no signature): compared in constant time."""
        secret = secrets.get("webhook_secret")
        given = headers.get("X-Gitlab-Token") or ""
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise WebhookRejected(401, "X-Gitlab-Token missing or wrong")
        delivery = headers.get("Idempotency-Key") or headers.get("X-Gitlab-Event-UUID")
        if not delivery:
            raise WebhookRejected(400, "Idempotency-Key / X-Gitlab-Event-UUID missing")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise WebhookRejected(400, "body is not JSON, or nested too deeply") from None
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "body is not a JSON object")
        return WebhookEvent(delivery, headers.get("X-Gitlab-Event"))

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        """An issue event: the issue as it now is (moved out of the allow-list: gone here)."""
        if payload.get("object_kind") != "issue":
            return []
        attributes, project = payload.get("object_attributes"), payload.get("project")
        if not isinstance(attributes, dict) or not isinstance(project, dict):
            raise ValueError("the delivery has no object_attributes or project")
        try:
            issue_id, project_id = str(int(attributes["id"])), str(int(project["id"]))
            path, iid = str(project["path_with_namespace"]), int(attributes["iid"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("the issue or project in the delivery lacks its id, iid or path") from None
        if not self.is_allowed(project_id):
            return [RemoteRecord("task", issue_id, None, deleted=True)]
        if not isinstance(attributes.get("title"), (str, type(None))) or \
                not isinstance(attributes.get("updated_at"), str):
            raise ValueError("the issue's title or updated_at is not a string")
        labels = payload.get("labels") if isinstance(payload.get("labels"), list) else []
        issue = {"id": issue_id, "iid": iid, "title": attributes.get("title"), "state": attributes.get("state"),
                 "updated_at": _webhook_time(attributes["updated_at"]), "web_url": attributes.get("url"),
                 "labels": [label.get("title") for label in labels if isinstance(label, dict)],
                 "assignees": [a for a in payload.get("assignees") or [] if isinstance(a, dict)],
                 "references": {"full": f"{path}#{iid}"}}
        return [self._issue_record(issue, project_id, path, self._seen_for_webhook())]

    def _seen_for_webhook(self) -> dict:
        # A delivery is applied outside a sync run: people it names are looked up against the
        # connector state; what it learns is not stored (the next sync reads them itself).
        return {"people": {}, "fresh": False}


def _person(known) -> dict:
    """A person kept in the connector state (older states kept their name only)."""
    return known if isinstance(known, dict) else {"name": known}


def _person_row(username: str, person: dict) -> MappingRow:
    email = person.get("email")
    return MappingRow(username, person.get("name") or username,
                      f"by e-mail ({email})" if email else "unassigned (no public e-mail)")


def _address(value) -> str | None:
    """An e-mail address as GitLab gives it: "" when none is public, "[REDACTED]" in hooks."""
    return value.strip() if isinstance(value, str) and "@" in value else None


def _webhook_time(value: str) -> str:
    """Hook payloads write `2026-11-20 12:00:00 UTC`; REST writes ISO 8601."""
    if value.endswith(" UTC"):
        return value[:-4].replace(" ", "T") + "Z"
    parse_gitlab_time(value)  # raises ValueError for anything else unreadable
    return value
