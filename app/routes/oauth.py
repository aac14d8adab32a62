"""Connecting OAuth 2.0 providers: /integrations/<slug>/connect and /callback.

Integrations are looked up only through IntegrationService, so the global
(admin only) and per-user (own account only) rules hold here too.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_login import current_user, login_required

from app.integrations import oauth
from app.integrations.http import ProviderError
from app.routes import personal_links
from app.routes.integration_settings import after_connecting
from app.routes.oauth_consent import Consent, consent_outcome, give_back, provider_for, refuse, to_consent
from app.routes.oauth_choosers import hold_for_choice
from app.services.integration_service import Forbidden, IntegrationService, NotFound

bp = Blueprint("oauth", __name__)
log = logging.getLogger(__name__)


def _oauth_spec(service: IntegrationService, slug: str):
    """The provider's spec, after checking the current user may manage its connection."""
    try:
        spec = service.spec(slug)
    except NotFound:
        abort(404)
    if spec.auth_kind != "oauth2":
        abort(404)
    try:
        service.require_manage(current_user, spec)
    except Forbidden:
        abort(403)
    return spec


@bp.post("/integrations/<slug>/connect")
@login_required
def connect(slug: str):
    service = IntegrationService()
    spec = _oauth_spec(service, slug)
    provider = provider_for(service, spec)
    if provider is None:
        flash(f"{spec.name} is not set up yet: an administrator must register its OAuth app first.", "error")
        return redirect(url_for("integrations.index"))
    return to_consent(provider, url_for("integrations.index"))


@bp.get("/integrations/<slug>/callback")
@login_required
def callback(slug: str):
    service = IntegrationService()
    # One callback address per provider (Atlassian registers only one): a user linking their
    # own account comes back here too, and may complete that without managing the connection.
    if oauth.pending_purpose(session, request.args.get("state")) == oauth.PERSONAL_LINK:
        return personal_links.complete(service, slug)
    spec = _oauth_spec(service, slug)
    outcome = consent_outcome(service, spec, url_for("integrations.index"))
    if not isinstance(outcome, Consent):
        return outcome  # refused, or the person said no
    provider, token = outcome.provider, outcome.token
    try:
        account = oauth.connected_account(provider, token, request.args.to_dict())
    except oauth.AccountChoiceRequired as choice:  # several sites/organisations: the admin picks one
        return hold_for_choice(choice)
    except oauth.OAuthFlowError as exc:  # e.g. no Jira site, no Xero organisation
        give_back(provider, token)
        return refuse(exc.message)
    except ProviderError as exc:  # the "who did we connect to" call failed
        log.warning("Post-connect lookup for %s failed: %s", slug, exc.message)
        give_back(provider, token)
        return refuse(f"{exc.message}. Please try connecting again.", 502)

    integration = service.complete_connection(current_user, spec, token, account)
    connected_to = f" as {account.label}" if account.label else ""
    flash(f"{spec.name} is connected{connected_to}.", "success")
    return redirect(after_connecting(integration))
