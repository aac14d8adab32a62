"""The "needs reconnect" banner shown on every page to the people who can fix it.

Admins see the global integrations whose grant the provider refused (each
linking to its setup page); every user sees their own per-user ones (linking
to /integrations). A context processor offers `reconnect_banners()` to
templates; it runs one query per request, only when a page renders it.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, url_for
from flask_login import current_user

from app.models import User
from app.services.integration_service import IntegrationService, NotFound

bp = Blueprint("banners", __name__)


@dataclass(frozen=True)
class ReconnectBanner:
    name: str
    url: str
    is_global: bool


@bp.app_context_processor
def inject_reconnect_banners() -> dict:
    return {"reconnect_banners": reconnect_banners}


def reconnect_banners() -> list[ReconnectBanner]:
    """The banners for the signed-in user, loaded once per request."""
    if not current_user.is_authenticated:
        return []
    if "reconnect_banners" not in g:
        g.reconnect_banners = _load(IntegrationService(), current_user)
    return g.reconnect_banners


def _load(service: IntegrationService, user: User) -> list[ReconnectBanner]:
    banners = []
    for integration in service.needing_reconnect(user):
        slug, is_global = integration.provider, integration.is_global
        try:
            spec = service.spec(slug)
        except NotFound:
            continue  # a provider removed from the registry: nothing to link to
        url = url_for("integrations.setup", slug=slug) if is_global else url_for("integrations.index")
        banners.append(ReconnectBanner(spec.name, url, is_global))
    return sorted(banners, key=lambda banner: (not banner.is_global, banner.name))
