"""Trello (API key + token): boards -> projects, cards -> tasks; webhooks signed with HMAC-SHA1.

Import: the member's boards (a whole listing each sync) and, per allowed board,
its cards (1,000 per request, paged backwards with `before`), with the board's
lists (for the status mapping) and members (for the assignee). The lists come
with their cards' ids only (Trello's nested `cards`, `card_fields=id`): that
names the board's oldest card, so the paging stops on the page holding it and a
board of exactly 1,000 * k cards costs k card requests, not one empty page more.
Incremental:
a board's actions `since` the newest action seen there; a board with no new
action costs that one request, a changed board is listed again (cheap at
1,000 cards a page, and the only way to see every field of every card the
actions touched). A whole listing once a day (and when the allow-list changes)
archives cards deleted without an action we saw.

Webhooks: one per allowed board, registered when TIMEHUB_EXTERNAL_URL is set
and the app secret (the optional setup field) is known: Trello signs each
delivery with it (`X-Trello-Webhook`: base64 HMAC-SHA1 of body + callback URL).
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
    VerifiesApiKey,
)
from app.integrations.exchange import (
    AccountInfo,
    AllowListOption,
    MappingRow,
    MappingTable,
    RemoteRecord,
    RunContext,
    SyncPage,
    WebhookEvent,
    WebhookRejected,
)
from app.integrations.http import INTERACTIVE_RETRY, NotFoundError, ProviderClient, ProviderError
from app.integrations.pagination import cursor_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import ProviderSpec, SetupField
from app.models.task import TASK_STATUS_LABELS

log = logging.getLogger(__name__)

CARD_PAGE_SIZE = 1000          # the most GET /boards/{id}/cards returns per request
ACTION_PAGE_SIZE = 1000        # the most GET /boards/{id}/actions returns per request
CARD_FIELDS = "name,idList,idBoard,idMembers,closed,idShort,shortLink,url,dateLastActivity"
# The actions that change what TimeHub keeps of a card (title, list, members, archiving).
CARD_ACTIONS = ("createCard,updateCard,deleteCard,copyCard,moveCardToBoard,moveCardFromBoard,"
                "addMemberToCard,removeMemberFromCard,updateList,convertToCardFromCheckItem")
WHOLE_LISTING_EVERY_HOURS = 24
WEBHOOK_STATE = "webhooks"
EXISTING_BOARDS = "existing_boards"
APP_SECRET_FIELD = "app_secret"
NO_SECRET = ("Add the app secret on the setup page to receive Trello webhooks (Trello signs them with it); "
             "until then changes arrive with the periodic sync.")
NO_ADDRESS = "Set TIMEHUB_EXTERNAL_URL to a public address to receive Trello webhooks."

SPEC = ProviderSpec(
    slug="trello",
    name="Trello",
    scope="global",
    auth_kind="api_key",
    api_base="https://api.trello.com/1",
    console_url="https://trello.com/power-ups/admin",
    register_steps=(
        "Create a Power-Up in the Trello Power-Up admin portal (any name; it only holds the API key).",
        "Open its API key tab and generate a new API key; copy the key.",
        "Follow the 'Token' link next to the key, allow access, and copy the token it shows.",
        "For webhooks, copy the Secret shown under the API key too, and set TIMEHUB_EXTERNAL_URL to "
        "TimeHub's public address. Without them, changes arrive with the periodic sync.",
    ),
    setup_fields=(
        SetupField("api_key", "API key", secret=True),
        SetupField("token", "Token", secret=True),
        SetupField(APP_SECRET_FIELD, "App secret (for webhooks)", secret=True, required=False,
                   help="Shown under the API key in the Power-Up admin portal. Trello signs webhooks with it; "
                        "without it TimeHub registers none."),
    ),
    rate_limit=RateLimit(90, 10.0, 4),  # 100 per 10 s per token
    features={
        "import": "Boards you choose become TimeHub projects and their cards tasks, their list giving the status. "
                  "Nothing is sent back: Trello has no time tracking.",
        "webhooks": "Changes arrive at once through Trello webhooks.",
    },
    defaults={"sync_interval_minutes": 15},
)

DONE_WORDS = ("done", "complete", "completed", "finished", "closed", "shipped")
IN_PROGRESS_WORDS = ("doing", "in progress", "progress", "review", "testing", "wip")


def automatic_status(list_name: str) -> str:
    """A list's status unless the admin maps it: by its name (Trello lists have no category)."""
    name = (list_name or "").strip().lower()
    if any(word == name or name.startswith(word) for word in DONE_WORDS):
        return "done"
    if any(word in name for word in IN_PROGRESS_WORDS):
        return "in_progress"
    return "todo"


def parse_trello_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def version_moment(version: str) -> datetime:
    """A card's version is its last activity plus what TimeHub derives from it (list,
    status, assignee); only the time orders."""
    return parse_trello_time(version.split("|", 1)[0])


def _older_page_before(cards: list[dict], oldest: str | None) -> str | None:
    """Where the next (older) page of a board's cards starts, or None when there is none:
    a short page is the last, and so is a full one holding the board's oldest card (ids
    order by creation). A card created meanwhile is newer, so it cannot hide an older page;
    one deleted meanwhile only costs the empty page this spares."""
    if len(cards) < CARD_PAGE_SIZE or cards[0]["id"].lower() == oldest:
        return None
    return cards[0]["id"]


def signature(secret: str, body: bytes, callback_url: str) -> str:
    digest = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TrelloConnector(Connector, VerifiesApiKey, Pulls, ReceivesWebhooks, AllowList, MappingTables,
                      ManagesRemoteSetup):
    spec = SPEC
    streams = ("projects", "tasks")
    allow_list_label = "Boards"
    allow_all_until_chosen = False

    @classmethod
    def api_key_auth(cls, credentials: dict) -> tuple[dict, dict]:
        # Trello's documented scheme: key and token as query parameters.
        return {"key": credentials["api_key"], "token": credentials["token"]}, {}

    @classmethod
    def client(cls, api_base: str, api_key: str, token: str, **kwargs) -> ProviderClient:
        params, headers = cls.api_key_auth({"api_key": api_key, "token": token})
        return ProviderClient(SPEC.name, api_base, auth_params=params, auth_headers=headers, **kwargs)

    @classmethod
    def verify(cls, api_base: str, credentials: dict, **client_kwargs) -> AccountInfo:
        """Check key + token with GET /members/me; raises ProviderError when refused."""
        client_kwargs.setdefault("retry", INTERACTIVE_RETRY)  # someone is waiting on the page
        with cls.client(api_base, credentials["api_key"], credentials["token"], **client_kwargs) as client:
            member = client.get_json("members/me", params={"fields": "fullName,username"})
        name = member.get("fullName") or member.get("username") or member.get("id", "")
        username = member.get("username")
        return AccountInfo(label=f"{name} (@{username})" if username and username != name else name)

    @classmethod
    def status_facts(cls, state: dict) -> list[tuple[str, str]]:
        hooks = state.get(WEBHOOK_STATE) or {}
        return [cls.webhook_fact(len(hooks.get("ids") or {}), hooks.get("error"), "board", "boards")]

    # -- settings page ------------------------------------------------------------------

    def _boards(self) -> list[dict]:
        # One answer holds every board of the member: Trello does not page this listing.
        return self.client.get_json("members/me/boards", params={"filter": "all", "fields": "name,closed,url"})

    def allow_list_options(self) -> list[AllowListOption]:
        return [AllowListOption(board["id"], board["name"], "archived" if board.get("closed") else "")
                for board in self._boards()]

    def mapping_tables(self) -> list[MappingTable]:
        names = {board["id"]: board["name"] for board in self._boards() if self.is_allowed(board["id"])}
        status_rows, people = [], {}
        for board_id, board_name in sorted(names.items(), key=lambda item: item[1].lower()):
            for trello_list in self._lists(board_id):
                if not trello_list.get("closed"):
                    status_rows.append(MappingRow(trello_list["id"], f"{board_name} / {trello_list['name']}",
                                                  TASK_STATUS_LABELS[automatic_status(trello_list["name"])]))
            for member in self._members(board_id):
                people.setdefault(member["id"], member)
        user_rows = tuple(MappingRow(
            member["id"], member.get("fullName") or member.get("username") or member["id"],
            f"by e-mail ({member['email']})" if member.get("email") else "unassigned (no e-mail visible)")
            for member in sorted(people.values(), key=lambda m: (m.get("fullName") or "").lower()))
        return [
            MappingTable(STATUS_MAP_SETTING, "Status mapping",
                         "Which list means which status. Lists named like Done or Doing are recognised; "
                         "choose for the others (they default to To do).", "task_status", tuple(status_rows)),
            MappingTable(USER_MAP_SETTING, "User mapping",
                         "Card members become the TimeHub user with the same e-mail address where Trello shows "
                         "it (it rarely does for others than yourself): choose them by hand here. The first "
                         "member of a card is its assignee; unmapped members leave the task unassigned.",
                         "user", user_rows),
        ]

    def _lists(self, board_id: str, *, card_ids: bool = False) -> list[dict]:
        params = {"filter": "all", "fields": "name,closed"}
        if card_ids:  # every card of every list (archived ones too), as ids only
            params.update(cards="all", card_fields="id")
        return self.client.get_json(f"boards/{board_id}/lists", params=params)

    def _members(self, board_id: str) -> list[dict]:
        return self.client.get_json(f"boards/{board_id}/members")

    # -- import ---------------------------------------------------------------------------

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        if stream == "projects":
            return self._pull_boards(run)
        return self._pull_cards(cursor, run)

    def _pull_boards(self, run: RunContext):
        """Every sync lists every board (one request): renames and archiving show up."""
        boards = self._boards()
        run.carry[EXISTING_BOARDS] = {board["id"] for board in boards if not board.get("closed")}
        records = [RemoteRecord("project", board["id"], board["name"], {"name": board["name"]},
                                deleted=bool(board.get("closed")))
                   for board in boards if self.is_allowed(board["id"])]
        yield SyncPage(records, None, listing_starts=True, listing_complete="project")

    def _boards_to_sync(self, run: RunContext) -> list[str]:
        allowed = set(self.allowed_ids or ())
        existing = run.carry.get(EXISTING_BOARDS)
        return sorted(allowed & existing if existing is not None else allowed)

    def _pull_cards(self, cursor: str | None, run: RunContext):
        """Board by board; the cursor keeps, per board, the newest action seen there, and
        the plan of a run under way (boards left, the next page of the current one)."""
        state = json.loads(cursor) if cursor else {}
        boards = self._boards_to_sync(run)
        marks = dict(state.get("marks") or {})
        if state.get("plan"):                       # a run interrupted mid-way: carry on
            plan, whole, first = state["plan"], state["whole"], False
        else:
            whole = state.get("scope") != boards or self.due_since(state.get("listed_at"), WHOLE_LISTING_EVERY_HOURS)
            plan, first = list(boards), True
        listed_at = datetime.now(timezone.utc).isoformat() if whole and first else state.get("listed_at")
        if not plan:
            yield SyncPage([], json.dumps({"scope": boards, "marks": {}, "listed_at": listed_at}),
                           listing_starts=True, listing_complete="task")
            return
        resume = state.get("before")
        for index, board_id in enumerate(plan):
            later = plan[index + 1:]
            changed, gone, mark = self._changes(board_id, marks.get(board_id), whole or resume is not None)
            if mark:
                marks[board_id] = mark
            if not changed and not gone and not whole and later:
                continue                            # nothing to save yet: a quiet re-sync writes nothing
            if not changed:
                following = {"scope": boards, "marks": marks, "listed_at": listed_at}
                if later:
                    following.update(plan=later, whole=whole)
                yield SyncPage(gone, json.dumps(following), listing_starts=whole and first,
                               listing_complete="task" if whole and not later else None)
                first = False
                continue
            statuses, people, oldest = self._board_context(board_id)
            pages = cursor_pages(self.client, f"boards/{board_id}/cards", cursor_param="before",
                                 params={"filter": "all", "limit": CARD_PAGE_SIZE, "fields": CARD_FIELDS},
                                 next_cursor=lambda cards, oldest=oldest: _older_page_before(cards, oldest),
                                 start=resume)
            resume = None
            for cards in pages:
                records = [self._card_record(card, statuses, people) for card in cards] + gone
                gone = []
                following = {"scope": boards, "marks": marks, "listed_at": listed_at}
                last = not cards.resume and not later
                if cards.resume:
                    following.update(plan=[board_id, *later], whole=whole, before=cards.resume)
                elif later:
                    following.update(plan=later, whole=whole)
                yield SyncPage(records, json.dumps(following), listing_starts=whole and first,
                               listing_complete="task" if whole and last else None)
                first = False

    def _changes(self, board_id: str, since: str | None, listing: bool) -> tuple[bool, list, str | None]:
        """(list the board's cards?, records of cards that left it, the newest action id).
        A listing asks for the newest action only, to resume from it next time."""
        params = {"filter": CARD_ACTIONS if not listing else "all", "member": "false", "memberCreator": "false",
                  "limit": 1 if listing or since is None else ACTION_PAGE_SIZE}
        if since and not listing:
            params["since"] = since
        actions = self.client.get_json(f"boards/{board_id}/actions", params=params)
        mark = actions[0]["id"] if actions else since
        if listing or since is None:
            return True, [], mark
        allowed = self.allowed_ids or frozenset()
        gone = []
        for action in actions:
            card = (action.get("data") or {}).get("card") or {}
            target = ((action.get("data") or {}).get("boardTarget") or {}).get("id")
            if card.get("id") and (action.get("type") == "deleteCard"
                                   or (action.get("type") == "moveCardFromBoard" and target not in allowed)):
                gone.append(RemoteRecord("task", card["id"], None, deleted=True))
        return bool(actions) and len(gone) < len(actions), gone, mark

    def _board_context(self, board_id: str) -> tuple[dict, dict, str | None]:
        """The board's lists (id -> (name, closed)), members (id -> member) and the id of
        its oldest card (None on an empty board)."""
        answer = self._lists(board_id, card_ids=True)
        lists = {lst["id"]: (lst.get("name", ""), bool(lst.get("closed"))) for lst in answer}
        ids = [card["id"].lower() for lst in answer for card in lst.get("cards") or [] if card.get("id")]
        return lists, {member["id"]: member for member in self._members(board_id)}, min(ids, default=None)

    def _card_record(self, card: dict, lists: dict, people: dict) -> RemoteRecord:
        list_name, list_closed = lists.get(card.get("idList"), ("", False))
        if card.get("closed") or list_closed or not self.is_allowed(card.get("idBoard", "")):
            return RemoteRecord("task", card["id"], None, deleted=True)
        status = (self.preferences.get(STATUS_MAP_SETTING) or {}).get(card.get("idList")) \
            or automatic_status(list_name)
        assignee = self._assignee(card.get("idMembers") or [], people)
        chosen = assignee["user_id"] if assignee else None
        email = assignee["email"] if assignee else None
        version = "|".join(str(part) for part in (card.get("dateLastActivity") or "", card.get("idList"), status,
                                                  (card.get("idMembers") or [""])[0], chosen or "", email or ""))
        return RemoteRecord("task", card["id"], version, {
            "title": card.get("name") or f"Card {card.get('idShort')}",
            "status": status,
            "external_key": f"#{card['idShort']}" if card.get("idShort") is not None else card.get("shortLink"),
            "external_url": card.get("url"),
            "assignee": assignee,
        }, parent_id=card.get("idBoard"), version_order=version_moment)

    def _assignee(self, member_ids: list[str], people: dict) -> dict | None:
        if not member_ids:
            return None
        return self.mapped_assignee(member_ids[0], (people.get(member_ids[0]) or {}).get("email"))

    # -- webhooks -------------------------------------------------------------------------

    def _app_secret(self) -> str | None:
        credential = self.integration.credential
        return (credential.payload or {}).get(APP_SECRET_FIELD) if credential is not None else None

    def housekeeping(self, run: RunContext) -> dict | None:
        """One webhook per allowed board at this connection's address."""
        before = self.state.get(WEBHOOK_STATE) or {}
        ids = dict(before.get("ids") or {})
        wanted = set(self._boards_to_sync(run)) if run.webhook_url and self._app_secret() else set()
        error = None
        try:
            for board_id, hook_id in sorted(ids.items()):
                if board_id not in wanted or before.get("url") != run.webhook_url:
                    self._delete_webhook(hook_id)
                    del ids[board_id]
            for board_id in sorted(wanted - set(ids)):
                hook = self.client.request("POST", "webhooks", params={  # query parameters, as described
                    "callbackURL": run.webhook_url, "idModel": board_id,
                    "description": "TimeHub: cards of this board"}).json()
                ids[board_id] = hook["id"]
        except ProviderError as exc:  # the periodic sync still works without webhooks
            log.warning("Trello webhooks of integration %s: %s", self.integration.id, exc.message)
            error = exc.message
        if not run.webhook_url:
            error = NO_ADDRESS
        elif not self._app_secret():
            error = NO_SECRET
        state = {"ids": ids, "url": run.webhook_url if ids else None, **({"error": error} if error else {})}
        return {**self.state, WEBHOOK_STATE: state} if state != before else None

    def _delete_webhook(self, hook_id: str) -> None:
        try:
            self.client.request("DELETE", f"webhooks/{hook_id}")
        except NotFoundError:
            pass  # removed at Trello already

    def before_disconnect(self, run: RunContext) -> dict:
        for hook_id in ((self.state.get(WEBHOOK_STATE) or {}).get("ids") or {}).values():
            self._delete_webhook(hook_id)
        return {key: value for key, value in self.state.items() if key != WEBHOOK_STATE}

    @classmethod
    def verify_webhook(cls, integration, secrets: dict, headers, body: bytes, url: str) -> WebhookEvent:
        """`X-Trello-Webhook`: base64 HMAC-SHA1 of the body followed by the callback URL."""
        secret = secrets.get(APP_SECRET_FIELD)
        sent = headers.get("X-Trello-Webhook", "")
        if not secret or not sent:
            raise WebhookRejected(401, "no Trello signature")
        if not hmac.compare_digest(sent.encode(), signature(secret, body, url).encode()):
            raise WebhookRejected(401, "Trello signature does not match")
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: nesting too deep
            raise WebhookRejected(400, "body is not a JSON object") from None
        if not isinstance(action, dict) or not isinstance(action.get("id"), str) or not action["id"]:
            raise WebhookRejected(400, "no action id in the delivery")
        event = action.get("type")
        return WebhookEvent(action["id"], event if isinstance(event, str) else None)

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        """A card action: the card as it is now (one request, with its list and members)."""
        data = (payload.get("action") or {}).get("data") or {}
        card_id = (data.get("card") or {}).get("id") if isinstance(data, dict) else None
        if not isinstance(card_id, str) or not card_id:
            return []
        if event == "deleteCard":
            return [RemoteRecord("task", card_id, None, deleted=True)]
        try:
            card = self.client.get_json(f"cards/{card_id}", params={
                "fields": CARD_FIELDS, "list": "true", "members": "true", "member_fields": "fullName,username,email"})
        except NotFoundError:
            return [RemoteRecord("task", card_id, None, deleted=True)]
        trello_list = card.get("list") or {}
        lists = {trello_list.get("id"): (trello_list.get("name", ""), bool(trello_list.get("closed")))}
        people = {member["id"]: member for member in card.get("members") or []}
        return [self._card_record(card, lists, people)]
