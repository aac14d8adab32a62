"""Finding integrations and provider apps: the bottom of the service layer.

Everything that needs "which integration does this user act through" or "which
OAuth app is registered for this provider" asks here (the lifecycle, tokens,
connections), so the global/per-user rules are written once:

- a global integration is shared by everyone;
- a per-user integration belongs to one user, and nobody else (admins
  included) can see it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.integrations import registry
from app.integrations.spec import ProviderSpec
from app.models import Integration, ProviderApp, User
from app.services.errors import NotFound


@dataclass(frozen=True)
class AppCredentials:
    client_id: str
    client_secret: str
    settings: dict


def spec(slug: str) -> ProviderSpec:
    try:
        return registry.get_spec(slug)
    except registry.UnknownProvider:
        raise NotFound(slug) from None


def integration_for(session: Session, user: User | None, slug: str) -> Integration | None:
    """The integration `user` acts through: the global one (whoever asks), or their own."""
    provider = spec(slug)
    query = select(Integration).where(Integration.provider == slug)
    if provider.is_global:
        query = query.where(Integration.is_global.is_(True))
    elif user is None:
        raise ValueError(f"{provider.name} is per user: whose integration?")
    else:
        query = query.where(Integration.is_global.is_(False), Integration.user_id == user.id)
    return session.scalars(query).one_or_none()


def visible_integration(session: Session, user: User, integration_id: int) -> Integration:
    integration = session.get(Integration, integration_id)
    # A personal link has no page of its own: its owner manages it from the account page.
    if integration is None or integration.is_personal_link or \
            (not integration.is_global and integration.user_id != user.id):
        raise NotFound(integration_id)
    return integration


def app_record(session: Session, slug: str) -> ProviderApp | None:
    return session.scalars(select(ProviderApp).where(ProviderApp.provider == slug)).one_or_none()


def app_credentials(session: Session, slug: str) -> AppCredentials | None:
    """The registered OAuth app: the admin's saved one, else `<SLUG>_CLIENT_ID/SECRET`."""
    app = app_record(session, slug)
    if app is not None and app.client_id and app.payload.get("client_secret"):
        return AppCredentials(app.client_id, app.payload["client_secret"], dict(app.settings))
    from_env = spec(slug).env_app_credentials()
    if from_env:
        return AppCredentials(from_env[0], from_env[1], {})
    return None
