"""GitHub (OAuth app), import only: repository issues -> tasks; webhooks signed with HMAC-SHA256.

Import: the repositories the account reaches (its own, its collaborations and its
organisations', `GET /user/repos`, every page) are the allow-list and become
projects; the issues of the chosen ones (pull requests left out) become tasks.
Each repository's issues come incrementally with `since` (GitHub's "updated at
or after"), as a conditional request with the ETag of the last answer, so a
re-sync with nothing changed is answered 304 and costs no rate limit. Once a day
(and when the allow-list or backfill window changes) the issues are listed
whole, which archives deleted and transferred ones.

Webhooks: with TIMEHUB_EXTERNAL_URL set, one `issues` hook per chosen repository,
signed with the app's webhook secret (X-Hub-Signature-256), removed on disconnect.
GitHub has no time tracking, so nothing is pushed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import datetime, timezone

from app.integrations.base import Connector
from app.integrations.capabilities import (
    STATUS_MAP_SETTING,
    USER_MAP_SETTING,
    AllowList,
    ManagesRemoteSetup,
    MappingTables,
    Pulls,
    ReceivesWebhooks,
)
from app.integrations.exchange import (
    AllowListOption,
    MappingRow,
    MappingTable,
    RemoteRecord,
    RunContext,
    SyncPage,
    WebhookEvent,
    WebhookRejected,
)
from app.integrations.http import ErrorShape, NotFoundError, ProviderError
from app.integrations.oauth import ConnectedAccount, OAuthProvider, RevocationFailed, TokenSet
from app.integrations.pagination import link_header_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, ProviderSpec, SetupField

log = logging.getLogger(__name__)

# GitHub's recommended headers for REST calls.
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
PAGE_SIZE = 100                 # the most GitHub returns per page
# An incremental import cannot see deletions or transfers; a whole listing this often archives them.
WHOLE_LISTING_EVERY_HOURS = 24
WEBHOOK_STATE, SEEN_STATE = "webhooks", "seen"
# What the repositories stream tells the issues stream and housekeeping (RunContext.carry).
REPOSITORIES, SEEN_IN_RUN = "repositories", "seen"
# Issue events that take an issue away from where we import it.
GONE_ACTIONS = frozenset({"deleted", "transferred"})

SPEC = ProviderSpec(
    slug="github",
    name="GitHub",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",
    revoke_url="https://api.github.com/applications/{client_id}/grant",
    api_base="https://api.github.com",
    scopes=("repo", "read:user", "user:email", "admin:repo_hook"),
    console_url="https://github.com/settings/developers",
    # GitHub answers 403 (with X-RateLimit-Remaining: 0 or Retry-After) when a rate limit is used up.
    errors=ErrorShape(rate_limit_as_403=True),
    register_steps=(
        "Register a new OAuth app under Settings > Developer settings > OAuth Apps (or your organisation's).",
        "Set the authorization callback URL to the one below.",
        "Generate a client secret and copy it with the client ID into this form.",
        "Repository webhooks need TimeHub to be reachable from the internet: set TIMEHUB_EXTERNAL_URL to its "
        "public address. Without it, changes arrive with the periodic sync.",
    ),
    setup_fields=OAUTH_APP_FIELDS + (
        SetupField("webhook_secret", "Webhook secret", secret=True, required=False, generated=True,
                   help="Used to sign repository webhooks; generated for you when left empty."),
    ),
    rate_limit=RateLimit(4_500, 3_600.0, 4),  # 5,000 per hour per token; secondary limits dislike concurrency
    features={
        "import": "Issues (not pull requests) of the repositories you choose become TimeHub tasks, with their "
                  "status and assignee. Nothing is sent back: GitHub has no time tracking.",
        "webhooks": "Changes arrive at once through repository webhooks.",
    },
    defaults={"sync_interval_minutes": 15},
)


def parse_github_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def github_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature_of(secret: str, body: bytes) -> str:
    """X-Hub-Signature-256 as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GitHubConnector(Connector, Pulls, ReceivesWebhooks, AllowList, MappingTables, ManagesRemoteSetup):
    spec = SPEC
    streams = ("repositories", "issues")
    allow_list_label = "Repositories"
    allow_all_until_chosen = False  # nothing is imported until repositories are chosen
    supports_backfill = True

    # OAuth notes. The token endpoint answers form-encoded unless asked for JSON;
    # the engine's client (Authlib) always sends `Accept: application/json`. An OAuth
    # app's token has no expiry and no refresh token, so the token service never
    # refreshes it: a 401 means the grant is gone and the admin must reconnect.

    @classmethod
    def api_headers(cls, connection) -> dict[str, str]:
        return dict(API_HEADERS)

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """The account is the login of `GET /user`."""
        with provider.api_client(token, headers=API_HEADERS) as client:
            user = client.get_json("user")
        settings = {"github_user_id": user["id"]} if user.get("id") else {}
        return ConnectedAccount(label=user.get("login"), settings=settings)

    @classmethod
    def oauth_revoke(cls, provider: OAuthProvider, token: TokenSet) -> bool:
        """`DELETE /applications/{client_id}/grant`: the app authenticates with HTTP Basic
        (client id and secret), the user's token goes in the JSON body; the whole
        grant (every token of this app for that user) is deleted."""
        url = provider.endpoints.revoke_url
        if not url:
            return False
        basic = base64.b64encode(f"{provider.client_id}:{provider.client_secret}".encode()).decode("ascii")
        try:
            with provider.api_client(token, base_url=url,
                                     headers={**API_HEADERS, "Authorization": f"Basic {basic}"}) as client:
                client.request("DELETE", url, json={"access_token": token.access_token})
        except NotFoundError:
            # GitHub answers 404 both for an unknown token and for wrong app credentials.
            raise RevocationFailed("GitHub found no grant to delete: it was already removed at GitHub, "
                                   "or the OAuth app's client secret has changed") from None
        except ProviderError as exc:
            raise RevocationFailed(f"GitHub did not delete the grant: {exc.message}") from None
        return True

    @classmethod
    def status_facts(cls, state) -> list[tuple[str, str]]:
        hooks = state.get(WEBHOOK_STATE) or {}
        return [cls.webhook_fact(len(hooks.get("repos") or {}), hooks.get("error"), "repository", "repositories")]

    # -- settings page ----------------------------------------------------------------

    def _repositories(self, if_none_match: str | None = None):
        # affiliation covers the account's own, its collaborations and its organisations' repositories.
        return link_header_pages(self.client, "user/repos", params={
            "per_page": PAGE_SIZE, "affiliation": "owner,collaborator,organization_member", "sort": "full_name"},
            if_none_match=if_none_match)

    def allow_list_options(self) -> list[AllowListOption]:
        return [AllowListOption(str(repo["id"]), repo["full_name"], "private" if repo.get("private") else "public")
                for page in self._repositories() for repo in page]

    def mapping_tables(self) -> list[MappingTable]:
        """GitHub has two states and free labels; the labels and people come from the issues
        imported so far (GitHub shows an assignee's e-mail only where they made it public)."""
        seen = self.state.get(SEEN_STATE) or {}
        status_rows = self.label_status_rows("open", seen.get("labels") or [])
        user_rows = tuple(MappingRow(
            login, login, f"by e-mail ({email})" if email else "unassigned (no public e-mail)")
            for login, email in sorted((seen.get("people") or {}).items(), key=lambda item: item[0].lower()))
        return [
            MappingTable(STATUS_MAP_SETTING, "Status mapping",
                         "Open issues are to do and closed ones done, unless a label of an open issue is mapped "
                         "here. Labels appear once issues carrying them were imported.", "task_status", status_rows),
            MappingTable(USER_MAP_SETTING, "User mapping",
                         "Assignees become the TimeHub user with the same e-mail address where GitHub shows it. "
                         "Choose someone by hand for the others; unmapped assignees leave the task unassigned.",
                         "user", user_rows),
        ]

    # -- import -------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        if stream == "repositories":
            return self._pull_repositories(cursor, run)
        return self._pull_issues(cursor, run)

    def _pull_repositories(self, cursor: str | None, run: RunContext):
        """The whole listing each sync (renames, removals, access lost). A listing of one page
        is asked for with its ETag: a 304 means every repository is as the cursor keeps it."""
        state = json.loads(cursor) if cursor else {}
        names: dict[str, str] = {}
        pages = self._repositories(state.get("etag"))
        for number, page in enumerate(pages):
            if page.not_modified:
                run.carry[REPOSITORIES] = state.get("names") or {}
                yield SyncPage([], cursor)
                return
            names.update({str(repo["id"]): repo["full_name"] for repo in page})
            records = [RemoteRecord("project", str(repo["id"]), repo["full_name"], {"name": repo["full_name"]})
                       for repo in page if self.is_allowed(str(repo["id"]))]
            last = page.resume is None
            if last:
                run.carry[REPOSITORIES] = names
            following = {"etag": page.etag if number == 0 else None, "names": names} if last else None
            yield SyncPage(records, json.dumps(following) if following else None,
                           listing_starts=number == 0, listing_complete="project" if last else None)

    def _repos_to_import(self, run: RunContext) -> list[tuple[str, str]]:
        """(id, owner/name) of the allowed repositories that exist, in a stable order."""
        names = run.carry.get(REPOSITORIES) or {}
        return sorted((repo_id, names[repo_id]) for repo_id in (self.allowed_ids or ()) if repo_id in names)

    def _pull_issues(self, cursor: str | None, run: RunContext):
        """Each allowed repository in turn, from its own `since` and ETag (kept in the cursor).

        A page's cursor says where to resume: the repository under way and its next page.
        A whole listing (no `since`) spans every repository in one run, so the engine can
        archive what none of them listed."""
        state = json.loads(cursor) if cursor else {}
        scope = {"repos": [repo_id for repo_id, _ in self._repos_to_import(run)],
                 "since": self.preferences.get("updated_since")}
        if "current" in state:     # a listing interrupted mid-way
            whole, began = state["whole"], state["began"]
        else:
            began = datetime.now(timezone.utc).isoformat()
            whole = state.get("scope") != scope or self.due_since(state.get("listed_at"), WHOLE_LISTING_EVERY_HOURS)
        listed_at = began if whole else state.get("listed_at")
        repos_state: dict[str, dict] = {} if whole and "current" not in state else dict(state.get("repos") or {})
        seen = run.carry.setdefault(SEEN_IN_RUN, {"labels": set(), "people": {}})
        todo = self._repos_to_import(run)
        if "current" in state:
            todo = [item for item in todo if item[0] >= state["current"]]
        first, saved = "current" not in state, cursor
        if not todo:
            yield SyncPage([], json.dumps({"scope": scope, "repos": {}, "listed_at": listed_at}),
                           listing_starts=whole, listing_complete="task" if whole else None)
            return
        for index, (repo_id, full_name) in enumerate(todo):
            mine = repos_state.get(repo_id) or {}
            resume = state.get("next") if state.get("current") == repo_id else None
            high = mine.get("since") if resume is None else state.get("high")
            since = self._since(None if whole else mine.get("since"))
            params = {"state": "all", "sort": "updated", "direction": "asc", "per_page": PAGE_SIZE}
            if since:
                params["since"] = since
            conditional = mine.get("etag") if (resume is None and not whole and mine.get("asked") == since) else None
            pages = link_header_pages(self.client, f"repos/{full_name}/issues", params=params, start=resume,
                                      if_none_match=conditional)
            etag = None
            for number, page in enumerate(pages):
                if number == 0 and resume is None:
                    etag = page.etag
                records = []
                for issue in page:
                    updated = issue.get("updated_at")
                    if updated and (high is None or parse_github_time(updated) > parse_github_time(high)):
                        high = updated
                    if "pull_request" not in issue:
                        records.append(self._issue_record(issue, repo_id, full_name, seen))
                last_repo = index == len(todo) - 1
                if page.resume:
                    following = {"scope": scope, "repos": repos_state, "listed_at": listed_at, "whole": whole,
                                 "began": began, "current": repo_id, "next": page.resume, "high": high}
                else:
                    # The next `since` is the newest update seen (GitHub's since is inclusive, so the
                    # newest issue comes again and the answer, unchanged, keeps its ETag).
                    repos_state[repo_id] = mine if page.not_modified else {"since": high, "asked": since,
                                                                           "etag": etag}
                    following = {"scope": scope, "repos": repos_state, "listed_at": listed_at}
                    if not last_repo:
                        following.update(whole=whole, began=began, current=todo[index + 1][0], next=None)
                # Between repositories the saved cursor stays where it was (resuming there only
                # repeats work), so a run with nothing new writes no cursor.
                saved = json.dumps(following) if page.resume or last_repo else saved
                if page.not_modified and not last_repo:
                    continue
                yield SyncPage(records, saved, listing_starts=whole and first,
                               listing_complete="task" if whole and last_repo and not page.resume else None)
                first = False

    def _since(self, incremental: str | None) -> str | None:
        """The later of the saved `since` and the backfill window."""
        moments = [moment for moment in (self.backfill_since,
                                         parse_github_time(incremental) if incremental else None) if moment]
        return github_time(max(moments)) if moments else None

    def _issue_record(self, issue: dict, repo_id: str, full_name: str, seen: dict | None = None) -> RemoteRecord:
        labels = [label.get("name") if isinstance(label, dict) else str(label) for label in issue.get("labels") or []]
        labels = [name for name in labels if name]
        assignee = issue.get("assignee") or None
        if seen is not None:
            seen["labels"].update(labels)
            if assignee and assignee.get("login"):
                seen["people"][assignee["login"]] = assignee.get("email")
        return RemoteRecord("task", str(issue["id"]), issue.get("updated_at"), {
            "title": issue.get("title") or f"{full_name}#{issue['number']}",
            "status": self.label_status(issue.get("state") == "closed", labels, "open"),
            "external_key": f"{full_name}#{issue['number']}",
            "external_url": issue.get("html_url"),
            "assignee": self.mapped_assignee(assignee.get("login"), assignee.get("email")) if assignee else None,
        }, parent_id=repo_id, version_order=parse_github_time)

    # -- webhooks -------------------------------------------------------------------------

    def housekeeping(self, run: RunContext) -> dict | None:
        """Remember the labels and people seen (for the mapping tables) and keep one `issues`
        hook on each allowed repository while TimeHub has a public address."""
        new_state = dict(self.state)
        seen_now = run.carry.get(SEEN_IN_RUN)
        if seen_now:
            before = self.state.get(SEEN_STATE) or {}
            new_state[SEEN_STATE] = {"labels": sorted(set(before.get("labels") or []) | seen_now["labels"]),
                                     "people": {**(before.get("people") or {}), **seen_now["people"]}}
        if REPOSITORIES in run.carry:
            new_state[WEBHOOK_STATE] = self._keep_hooks(run)
        return new_state if new_state != dict(self.state) else None

    def _keep_hooks(self, run: RunContext) -> dict:
        before = self.state.get(WEBHOOK_STATE) or {}
        registered = dict(before.get("repos") or {})
        secret = run.webhook_secrets.get("webhook_secret")
        wanted = dict(self._repos_to_import(run)) if run.webhook_url and secret else {}
        error = None
        for repo_id, hook in list(registered.items()):
            if repo_id not in wanted or hook.get("url") != run.webhook_url or hook.get("repo") != wanted[repo_id]:
                try:
                    self._remove_hook(hook)
                    del registered[repo_id]
                except ProviderError as exc:
                    error = exc.message
        for repo_id, full_name in wanted.items():
            if repo_id in registered:
                continue
            try:
                answer = self.client.request("POST", f"repos/{full_name}/hooks", json={
                    "name": "web", "active": True, "events": ["issues"],
                    "config": {"url": run.webhook_url, "content_type": "json", "secret": secret,
                               "insecure_ssl": "0"}}).json()
                registered[repo_id] = {"id": answer["id"], "repo": full_name, "url": run.webhook_url}
            except ProviderError as exc:  # the periodic sync still works without webhooks
                log.warning("GitHub webhook on %s of integration %s: %s", full_name, self.integration.id,
                            exc.message)
                error = exc.message
        if not run.webhook_url:
            error = "Set TIMEHUB_EXTERNAL_URL to a public address to receive GitHub webhooks."
        elif not secret:
            error = "Save the GitHub app's setup page again so TimeHub generates a webhook secret."
        return {"repos": registered, **({"error": error} if error else {})}

    def _remove_hook(self, hook: dict) -> None:
        try:
            self.client.request("DELETE", f"repos/{hook['repo']}/hooks/{hook['id']}")
        except NotFoundError:
            pass  # removed at GitHub already, or the repository is gone

    def before_disconnect(self, run: RunContext) -> dict:
        for hook in ((self.state.get(WEBHOOK_STATE) or {}).get("repos") or {}).values():
            self._remove_hook(hook)
        return {key: value for key, value in self.state.items() if key != WEBHOOK_STATE}

    @classmethod
    def verify_webhook(cls, integration, secrets, headers, body: bytes, url: str) -> WebhookEvent:
        """HMAC-SHA256 of the raw body with the webhook secret, compared in constant time."""
        secret = secrets.get("webhook_secret")
        given = headers.get("X-Hub-Signature-256") or ""
        if not secret or not hmac.compare_digest(given.encode(), signature_of(secret, body).encode()):
            raise WebhookRejected(401, "X-Hub-Signature-256 missing or wrong")
        delivery = headers.get("X-GitHub-Delivery")
        if not delivery:
            raise WebhookRejected(400, "X-GitHub-Delivery missing")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # (a UnicodeDecodeError is a ValueError)
            raise WebhookRejected(400, "body is not JSON, or nested too deeply") from None
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "body is not a JSON object")
        return WebhookEvent(delivery, headers.get("X-GitHub-Event"))

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        """An `issues` event: the issue as it now is, or gone (deleted, transferred away)."""
        issue, repo = payload.get("issue"), payload.get("repository")
        if event != "issues" or not isinstance(issue, dict) or not isinstance(repo, dict) \
                or "pull_request" in issue:
            return []
        try:
            issue_id, repo_id, full_name = str(int(issue["id"])), str(int(repo["id"])), str(repo["full_name"])
            int(issue["number"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("the issue or repository in the delivery lacks its id, number or name") from None
        if payload.get("action") in GONE_ACTIONS or not self.is_allowed(repo_id):
            return [RemoteRecord("task", issue_id, None, deleted=True)]
        if not isinstance(issue.get("title"), (str, type(None))) or not isinstance(issue.get("updated_at"), str):
            raise ValueError("the issue's title or updated_at is not a string")
        return [self._issue_record(issue, repo_id, full_name)]
