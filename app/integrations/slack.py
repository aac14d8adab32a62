"""Slack (OAuth v2, bot token): notifications to a channel, a slash command.

Slack answers most refusals with HTTP 200 and `{"ok": false, "error": "..."}`;
`_answer` turns those into the client's error types (a dead token is an
AuthError: reconnect; anything else a PermanentError in words an admin can act
on). Rate limits come as 429 with Retry-After, which the client honours.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs

from app.integrations.base import Connector
from app.integrations.capabilities import COMMAND_USER_MAP_SETTING, AnswersCommands, MappingTables, Notifies
from app.integrations.exchange import (ChannelOption, CommandRequest, MappingRow, MappingTable, Notice,
                                      WebhookRejected)
from app.integrations.pagination import cursor_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec, SetupField
from app.integrations.http import AuthError, PermanentError, ProviderError
from app.integrations.oauth import ConnectedAccount, OAuthProvider, RevocationFailed, TokenSet

# auth.revoke errors meaning the token is already unusable: revocation has nothing left to do.
TOKEN_ALREADY_DEAD = frozenset({"invalid_auth", "token_revoked", "account_inactive"})

SPEC = ProviderSpec(
    slug="slack",
    name="Slack",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://slack.com/oauth/v2/authorize",
    token_url="https://slack.com/api/oauth.v2.access",
    revoke_url="https://slack.com/api/auth.revoke",
    api_base="https://slack.com/api",
    scopes=("chat:write", "channels:read", "groups:read", "commands", "users:read", "users:read.email"),
    console_url="https://api.slack.com/apps",
    register_steps=(
        "Create a Slack app (from scratch) in your workspace.",
        "Under OAuth & Permissions, add the redirect URL below and the bot token scopes listed below.",
        "Under Slash Commands, create /timehub pointing at the command URL shown on the Slack settings page once connected.",
        "Invite the app to the channel it should post to (/invite @YourApp); private channels list only once it is in them.",
        "Copy the client ID, client secret and signing secret from Basic Information.",
    ),
    setup_fields=OAUTH_APP_FIELDS + (
        SetupField("signing_secret", "Signing secret", secret=True,
                   help="Verifies that slash-command requests really come from Slack."),
        SetupField("channel", "Default channel", required=False, placeholder="#time-tracking"),
    ),
    # Slack limits each method by its tier, per workspace: a budget per method a little
    # under it (conversations.list Tier 2: 20 a minute; users.info Tier 4: 100 a minute;
    # chat.postMessage about one a second per channel, short bursts allowed), and one for
    # the workspace as a whole. A 429's Retry-After pauses that method for every worker.
    rate_limit=RateLimit(45, 60.0, 2),
    method_rate_limits={
        "conversations.list": RateLimit(18, 60.0),
        "users.list": RateLimit(18, 60.0),
        "users.info": RateLimit(90, 60.0),
        "chat.postMessage": RateLimit(2, 2.0),
    },
    features={
        "notify": "Posts timer and invoice notifications to a channel.",
        "commands": "Answers the /timehub command (start, stop, status, today).",
    },
    # Slack's v2 authorize URL takes comma-separated scopes; oauth.v2.access prefers the
    # app's credentials in HTTP Basic over form parameters.
    oauth=OAuthProfile(scope_separator=",", token_auth_method="client_secret_basic"),
)


# Slack's `error` codes, in words an admin can act on.
EXPLAINED = {
    "channel_not_found": "Slack cannot find that channel (deleted, or private without the app in it).",
    "not_in_channel": "The app is not in that channel: invite it there with /invite, then try again.",
    "is_archived": "That channel is archived.",
    "missing_scope": "The Slack app lacks a permission{needed}: add it under OAuth & Permissions, then reconnect.",
    "msg_too_long": "The message is too long for Slack.",
    "restricted_action": "The workspace does not let the app post in that channel.",
    "user_not_found": "Slack does not know that user.",
}
# Errors meaning the token is dead: only connecting again helps.
RECONNECT = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                       "no_permission", "team_access_not_granted"})
# The signed request must be this fresh (Slack's own recommendation: 5 minutes).
COMMAND_MAX_AGE_SECONDS = 300
CHANNEL_PAGE_SIZE = 200  # conversations.list: at most 1000, fewer recommended
USER_PAGE_SIZE = 200     # users.list: Slack recommends no more than 200


def _answer(body) -> dict:
    """Slack's body, or the error it stands for (they come with HTTP 200)."""
    if not isinstance(body, dict):
        raise PermanentError("Slack answered with something that is not a JSON object")
    if body.get("ok"):
        return body
    code = str(body.get("error") or "unknown_error")
    if code in RECONNECT:
        raise AuthError(f"Slack refused the token ({code}): connect Slack again", 200)
    needed = f" ({body['needed']})" if body.get("needed") else ""
    explained = EXPLAINED.get(code, "").format(needed=needed)
    raise PermanentError(f"Slack answered {code}" + (f": {explained}" if explained else ""), 200)


def _mrkdwn(text: str) -> str:
    """Slack's mrkdwn escapes only these three."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _email(member: dict) -> str | None:
    return (member.get("profile") or {}).get("email") or None


def _person_label(member: dict) -> str:
    profile = member.get("profile") or {}
    return profile.get("real_name") or member.get("real_name") or member.get("name") or member["id"]


def blocks_for(notice: Notice) -> tuple[list[dict], str]:
    """(Block Kit blocks, the plain-text fallback for notifications and old clients)."""
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{_mrkdwn(notice.title)}*"}}]
    if notice.lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                    "text": "\n".join(_mrkdwn(line) for line in notice.lines)}})
    if notice.link_url:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": notice.link_label[:75]},
            "url": notice.link_url}]})
    fallback = "\n".join((notice.title, *notice.lines, *([notice.link_url] if notice.link_url else [])))
    return blocks, fallback


class SlackConnector(Connector, Notifies, AnswersCommands, MappingTables):
    spec = SPEC
    command_reply_hosts = ("hooks.slack.com",)  # a slash command's response_url

    # -- who is who (the manual mapping on the settings page) ------------------------

    def mapping_tables(self) -> list[MappingTable]:
        """The workspace's people (every page of users.list), for mapping a Slack user to a
        TimeHub user by hand where the e-mail addresses differ."""
        return [MappingTable(
            COMMAND_USER_MAP_SETTING, "Slack users",
            "A Slack user who types /timehub acts as the TimeHub user with the same e-mail address. "
            "Choose someone by hand where the addresses differ.", "user", tuple(
                MappingRow(member["id"], _person_label(member),
                           f"by e-mail ({email})" if (email := _email(member)) else "nobody (no e-mail visible)")
                for member in self._people()))]

    def _people(self) -> list[dict]:
        pages = cursor_pages(self.client, "users.list", params={"limit": USER_PAGE_SIZE},
                             records=lambda body: _answer(body).get("members") or [],
                             next_cursor=("response_metadata", "next_cursor"))
        people = [member for page in pages for member in page
                  if not member.get("deleted") and not member.get("is_bot") and member.get("id") != "USLACKBOT"]
        return sorted(people, key=lambda member: _person_label(member).lower())

    # -- notifications ------------------------------------------------------------

    def channel_options(self, group_id: str | None = None) -> list[ChannelOption]:
        """Public and private channels the app is in, every page of conversations.list
        (Slack has no groups: `group_id` is never set)."""
        pages = cursor_pages(self.client, "conversations.list", params={
            "types": "public_channel,private_channel", "exclude_archived": "true", "limit": CHANNEL_PAGE_SIZE,
        }, records=lambda body: _answer(body).get("channels") or [],
            next_cursor=("response_metadata", "next_cursor"))
        options = []
        for page in pages:
            for channel in page:
                if channel.get("is_member"):
                    private = channel.get("is_private")
                    options.append(ChannelOption(channel["id"], f"#{channel.get('name', channel['id'])}",
                                                 "Private channels" if private else "Public channels"))
        return sorted(options, key=lambda option: (option.group, option.label))

    def post_notice(self, channel_id: str, notice: Notice) -> str:
        blocks, fallback = blocks_for(notice)
        body = _answer(self.client.request("POST", "chat.postMessage", json={
            "channel": channel_id, "text": fallback, "blocks": blocks, "unfurl_links": False,
        }, headers={"Content-Type": "application/json; charset=utf-8"}).json())
        return str(body.get("ts") or "")

    # -- the slash command ------------------------------------------------------------

    @classmethod
    def verify_command(cls, secrets, headers, body: bytes, now: float) -> CommandRequest:
        """Slack's v0 signature: HMAC-SHA256 of "v0:<timestamp>:<body>" with the signing
        secret, compared in constant time; the timestamp within five minutes of now."""
        secret = secrets.get("signing_secret")
        if not secret:
            raise WebhookRejected(401, "no signing secret is set up for Slack")
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit() or abs(now - int(timestamp)) > COMMAND_MAX_AGE_SECONDS:
            raise WebhookRejected(401, "stale or missing request timestamp")
        expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise WebhookRejected(401, "signature does not match")
        delivery_id = "slack:" + hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()
        if body.lstrip().startswith(b"{"):  # the Events API checks the address with url_verification
            try:
                event = json.loads(body)
            except ValueError:
                raise WebhookRejected(400, "not JSON") from None
            if event.get("type") == "url_verification":
                return CommandRequest(delivery_id, challenge=str(event.get("challenge", "")))
            raise WebhookRejected(400, "unsupported event")
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        return CommandRequest(delivery_id, remote_user_id=form.get("user_id", ""), text=form.get("text", ""),
                              reply_url=form.get("response_url"))

    def command_user_email(self, remote_user_id: str) -> str | None:
        """users.info's profile e-mail (needs users:read.email)."""
        body = _answer(self.client.get_json("users.info", params={"user": remote_user_id}))
        return ((body.get("user") or {}).get("profile") or {}).get("email") or None

    @classmethod
    def command_answer(cls, text: str) -> dict:
        return {"response_type": "ephemeral", "text": text}

    @classmethod
    def oauth_connected_account(cls, provider: OAuthProvider, token: TokenSet,
                                callback_params: dict) -> ConnectedAccount:
        """oauth.v2.access names the workspace (`team`) the bot was installed in;
        an organisation-wide install names the `enterprise` instead. (Its refusals,
        `ok: false` with status 200, never get here: the engine's client treats any
        answer carrying `error` as a refused token request.)"""
        answer = token.raw
        team = answer.get("team") or {}
        enterprise = answer.get("enterprise") or {}
        settings = {"team_id": team.get("id"), "enterprise_id": enterprise.get("id"),
                    "bot_user_id": answer.get("bot_user_id")}
        return ConnectedAccount(label=team.get("name") or enterprise.get("name"),
                                settings={k: v for k, v in settings.items() if v})

    @classmethod
    def oauth_revoke(cls, provider: OAuthProvider, token: TokenSet) -> bool:
        """`auth.revoke` revokes the token that authenticates the call (sent as a
        Bearer header, as Slack wants now); its errors come with status 200."""
        url = provider.endpoints.revoke_url
        if not url:
            return False
        try:
            with provider.api_client(token, base_url=url) as client:
                answer = client.request("GET", url).json()
        except ProviderError as exc:
            raise RevocationFailed(f"Slack did not revoke the token: {exc.message}") from None
        except ValueError:
            raise RevocationFailed("Slack answered the revocation with something that is not JSON") from None
        if answer.get("ok") or answer.get("error") in TOKEN_ALREADY_DEAD:
            return True
        raise RevocationFailed(f"Slack did not revoke the token ({answer.get('error') or 'no reason given'})")
