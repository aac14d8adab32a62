"""Personal links: one user's own grant at a global provider (LinksPersonalAccounts), so that
what they push through the team connection is authored by them. A link is an Integration row
of its own (is_global false, the user's, `team_integration_id` = the team connection): the
token service refreshes, locks and revokes it like any grant, and its owner alone sees it.
It pulls nothing and receives nothing (Integration.is_connection() keeps it out of every
listing that does); losing it puts that user's pushes back on the team connection and tells
that user, on their own pages, to link again."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.integrations import oauth, registry
from app.integrations.base import Connector
from app.integrations.capabilities import ConnectsWithToken, LinksPersonalAccounts
from app.integrations.http import AuthError
from app.models import Integration, User
from app.models.integration import IntegrationStatus
from app.services import connection_state, lookups, token_service
from app.services.connections import connector_for
from app.services.errors import Forbidden, NotFound
from app.services.token_service import MAX_PERSONAL_TOKEN_LENGTH, TokenError

log = logging.getLogger(__name__)


def links_personal_accounts(slug: str) -> bool:
    return issubclass(registry.get_connector(slug), LinksPersonalAccounts)


def team_connection(session: Session, slug: str) -> Integration:
    """The active team connection a user may link their own account to; NotFound otherwise."""
    if not links_personal_accounts(slug):
        raise NotFound(slug)
    team = lookups.integration_for(session, None, slug)
    if team is None or team.status != IntegrationStatus.ACTIVE:
        raise Forbidden(f"{lookups.spec(slug).name} is not connected for the team: an admin connects it first.")
    return team


def linkable_teams(session: Session) -> list[Integration]:
    """Active team connections whose provider lets each person link their own account."""
    return [team for team in session.scalars(select(Integration).where(
                Integration.is_global.is_(True), Integration.status == IntegrationStatus.ACTIVE)
                .order_by(Integration.provider))
            if links_personal_accounts(team.provider)]


def link_of(session: Session, user_id: int, team: Integration) -> Integration | None:
    return session.scalars(select(Integration).where(
        Integration.team_integration_id == team.id, Integration.user_id == user_id)).one_or_none()


def linked_people(session: Session, team: Integration) -> list[tuple[User, Integration]]:
    """Who linked their own account to `team` (for its page), by name."""
    return [(user, link) for user, link in session.execute(select(User, Integration).join(
        Integration, Integration.user_id == User.id).where(Integration.team_integration_id == team.id)
        .order_by(User.name))]


def links_by_token(session: Session, team: Integration) -> bool:
    """The team connected with a personal access token and no OAuth app is registered (Jira Data
    Center without an application link): there is no consent to ask for, so each person links
    with their own personal access token instead."""
    return issubclass(registry.get_connector(team.provider), ConnectsWithToken) \
        and lookups.app_credentials(session, team.provider) is None


def link_with_token(session: Session, actor: User, team: Integration, token: str) -> Integration:
    """`actor`'s own personal access token: checked as the team's is (the connector's
    token_account, through personal_account at the team's place), then kept encrypted as the
    link's grant, without expiry. oauth.OAuthFlowError (or ProviderError) says why it was refused."""
    token = (token or "").strip()
    if not links_by_token(session, team):
        raise oauth.OAuthFlowError(f"Link your {lookups.spec(team.provider).name} account with the button: "
                                   "it asks for your consent.")
    if not token or len(token) > MAX_PERSONAL_TOKEN_LENGTH:
        raise oauth.OAuthFlowError("Paste the personal access token your Jira profile showed you.")
    grant = oauth.TokenSet(access_token=token)
    account = registry.get_connector(team.provider).personal_account(None, grant, team.connection_facts or {})
    return complete_link(session, actor, team, grant, account)


def complete_link(session: Session, actor: User, team: Integration, token: oauth.TokenSet,
                  account: oauth.ConnectedAccount) -> Integration:
    """The personal consent came back and reaches the team's place: keep it as `actor`'s link."""
    link = link_of(session, actor.id, team)
    if link is None:
        link = Integration(provider=team.provider, is_global=False, user_id=actor.id, team_integration_id=team.id)
        session.add(link)
    token_service.store_tokens(link, token)
    connection_state.complete(link, account.label, {**(team.connection_facts or {}), **account.settings})
    session.commit()
    return link


def unlink(session: Session, actor: User, team: Integration) -> str | None:
    """Revoke `actor`'s link at the provider (where it can be) and forget it; a warning when
    the revocation failed (the link is forgotten all the same)."""
    link = link_of(session, actor.id, team)
    return _forget(session, link) if link is not None else None


def forget_all(session: Session, team: Integration) -> None:
    """The team connection goes: so do the links made to it (they reach its site only)."""
    for link in session.scalars(select(Integration).where(Integration.team_integration_id == team.id)).all():
        _forget(session, link)


def _forget(session: Session, link: Integration) -> str | None:
    warning = None
    try:
        token_service.revoke_at_provider(link)
    except oauth.RevocationFailed as exc:
        warning = f"{exc.message}; your link was removed here anyway."
    session.delete(link)
    session.commit()
    return warning


class Authors:
    """For one push run of a team connection: the connector of each record's author who has
    a working personal link, built once, or None (push through the team connection)."""

    def __init__(self, session: Session, team: Integration):
        self._session = session
        self._team = team
        self._enabled = links_personal_accounts(team.provider)
        self._connectors: dict[int, Connector | None] = {}

    def connector_for(self, record) -> Connector | None:
        user_id = getattr(record, "user_id", None)
        if not self._enabled or user_id is None:
            return None
        if user_id not in self._connectors:
            link = link_of(self._session, user_id, self._team)
            usable = link is not None and link.status == IntegrationStatus.ACTIVE and link.connected
            self._connectors[user_id] = connector_for(self._team, author=link) if usable else None
        return self._connectors[user_id]

    def close(self) -> None:
        """Let go of the authors' connectors (each holds an HTTP client of its own)."""
        for connector in self._connectors.values():
            if connector is not None:
                connector.close()
        self._connectors.clear()

    def lost(self, record, error: AuthError | TokenError) -> None:
        """The author's link was refused: their pushes go through the team connection from now
        on, and the link asks its owner (never an admin) to link again."""
        link = link_of(self._session, record.user_id, self._team)
        refused = self._connectors.get(record.user_id)
        if refused is not None:
            refused.close()
        self._connectors[record.user_id] = None
        if link is not None and link.status != IntegrationStatus.NEEDS_RECONNECT:
            connection_state.needs_reconnect(link, f"{lookups.spec(link.provider).name} refused your own link "
                                                   f"({error.message}); link your account again.")
        log.warning("personal link of user %s to integration %s lost: %s", record.user_id, self._team.id,
                    error.message)
