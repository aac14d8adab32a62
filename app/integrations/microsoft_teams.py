"""Microsoft Teams (Microsoft identity platform + Graph): notifications to a channel.

Posting a channel message needs the delegated `ChannelMessage.Send` permission
(application permissions may only import messages), so messages are posted as
the account that connected. Office 365 connectors (incoming webhooks) are
retired and not used.
"""
from __future__ import annotations

from html import escape
from urllib.parse import quote

from app.integrations.capabilities import Notifies
from app.integrations.exchange import ChannelGroup, ChannelOption, Notice
from app.integrations.http import NotFoundError, PermanentError
from app.integrations.pagination import cursor_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import ProviderSpec
from app.integrations.microsoft import (
    GRAPH_API,
    MICROSOFT_APP_FIELDS,
    MICROSOFT_AUTHORIZE_URL,
    MICROSOFT_CONSOLE_URL,
    MICROSOFT_REGISTER_STEPS,
    MICROSOFT_TOKEN_URL,
    MicrosoftIdentity,
)

SPEC = ProviderSpec(
    slug="microsoft_teams",
    name="Microsoft Teams",
    scope="global",
    auth_kind="oauth2",
    authorize_url=MICROSOFT_AUTHORIZE_URL,
    token_url=MICROSOFT_TOKEN_URL,
    api_base=GRAPH_API,
    scopes=("offline_access", "User.Read", "Team.ReadBasic.All", "Channel.ReadBasic.All", "ChannelMessage.Send"),
    console_url=MICROSOFT_CONSOLE_URL,
    register_steps=MICROSOFT_REGISTER_STEPS + (
        "Messages are posted as the account that connects (Graph lets only delegated permissions post to a "
        "channel): connect with a dedicated service account that is a member of the team, not a person's own.",
    ),
    setup_fields=MICROSOFT_APP_FIELDS,
    rate_limit=RateLimit(8, 1.0, 4),  # Graph: per app and tenant, varies by workload
    features={
        "notify": "Posts notifications to a channel of one of your teams.",
    },
)

# A channel is stored as "<team id>/<channel id>": Graph's ids contain neither "/".
SEPARATOR = "/"


def html_for(notice: Notice) -> str:
    """The chatMessage body: Teams renders a small subset of HTML."""
    parts = [f"<p><strong>{escape(notice.title)}</strong></p>"]
    parts += [f"<p>{escape(line)}</p>" for line in notice.lines]
    if notice.link_url:
        parts.append(f'<p><a href="{escape(notice.link_url, quote=True)}">{escape(notice.link_label)}</a></p>')
    return "".join(parts)


class MicrosoftTeamsConnector(MicrosoftIdentity, Notifies):
    spec = SPEC

    def _listing(self, path: str):
        """Graph pages with "@odata.nextLink" (the next page's full URL)."""
        return cursor_pages(self.client, path, records="value", next_cursor="@odata.nextLink", cursor_param=None)

    def channel_groups(self) -> list[ChannelGroup]:
        """The teams the connected account joined (every page): the picker's first step."""
        return [ChannelGroup(team["id"], team.get("displayName") or team["id"])
                for page in self._listing("me/joinedTeams") for team in page]

    def channel_options(self, group_id: str | None = None) -> list[ChannelOption]:
        """The channels of team `group_id` (every page), or of every joined team."""
        teams = [ChannelGroup(group_id, "")] if group_id else self.channel_groups()
        options = []
        for team in teams:
            for channels in self._listing(f"teams/{quote(team.group_id, safe='')}/channels"):
                options += [ChannelOption(f"{team.group_id}{SEPARATOR}{channel['id']}",
                                          channel.get("displayName") or channel["id"], team.label)
                            for channel in channels]
        return options

    @classmethod
    def channel_group_of(cls, channel_id: str) -> str | None:
        team_id, separator, _ = channel_id.partition(SEPARATOR)
        return team_id if separator else None

    def post_notice(self, channel_id: str, notice: Notice) -> str:
        team_id, _, channel = channel_id.partition(SEPARATOR)
        if not channel:
            raise PermanentError("No Teams channel is chosen: pick one on the settings page")
        try:
            answer = self.client.request(
                "POST", f"teams/{quote(team_id, safe='')}/channels/{quote(channel, safe=':@.')}/messages",
                json={"body": {"contentType": "html", "content": html_for(notice)}}).json()
        except NotFoundError:
            raise PermanentError("Microsoft Teams cannot find that team or channel (deleted, or the connected "
                                 "account is not a member)", 404) from None
        return str(answer.get("id") or "")
