"""Connecting OAuth 2.0 providers: /integrations/<slug>/connect and /callback.

Integrations are looked up only through IntegrationService, so the global
(admin only) and per-user (own account only) rules hold here too.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from app.integrations import oauth, registry
from app.integrations.http import ProviderError

# The one definition of the callback URL, shared with the setup page that tells
# admins what to register: what we send must be exactly what they registered.
from app.routes.integration_settings import after_connecting
from app.routes.integrations import redirect_uri_for
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


def _provider(service: IntegrationService, spec) -> oauth.OAuthProvider | None:
    app_credentials = service.app_credentials(spec.slug)
    if app_credentials is None:
        return None
    return oauth.OAuthProvider.build(spec, app_credentials.client_id, app_credentials.client_secret,
                                     app_credentials.settings, registry.get_connector(spec.slug))


def _give_back(provider: oauth.OAuthProvider, token: oauth.TokenSet) -> None:
    """A grant we will not keep is revoked at once where the provider allows it, rather
    than left valid at the provider with nobody holding it. Best effort."""
    try:
        oauth.revoke(provider, token)
    except (oauth.RevocationFailed, ProviderError) as exc:
        log.warning("Could not revoke the unused %s grant: %s", provider.spec.name, exc.message)


def _refuse(message: str, status: int = 400):
    """The callback cannot be trusted or completed: explain, store nothing."""
    return render_template("oauth/error.html", message=message), status


@bp.post("/integrations/<slug>/connect")
@login_required
def connect(slug: str):
    service = IntegrationService()
    spec = _oauth_spec(service, slug)
    provider = _provider(service, spec)
    if provider is None:
        flash(f"{spec.name} is not set up yet: an administrator must register its OAuth app first.", "error")
        return redirect(url_for("integrations.index"))
    try:
        url = oauth.start_authorization(provider, session, user_id=current_user.id, redirect_uri=redirect_uri_for(slug))
    except oauth.OAuthFlowError as exc:
        flash(exc.message, "error")
        return redirect(url_for("integrations.index"))
    return redirect(url)


@bp.get("/integrations/<slug>/callback")
@login_required
def callback(slug: str):
    service = IntegrationService()
    spec = _oauth_spec(service, slug)
    try:
        pending = oauth.take_pending(session, slug=slug, user_id=current_user.id, state=request.args.get("state"))
    except oauth.StateError as exc:
        log.warning("Refused an OAuth callback for %s: %s", slug, exc.message)
        return _refuse(exc.message)

    error = request.args.get("error")
    if error == "access_denied":
        flash(f"You did not allow TimeHub to access {spec.name}; nothing was connected.", "info")
        return redirect(url_for("integrations.index"))
    if error:
        return _refuse(f"{spec.name} could not authorize the connection ({error[:80]}).")

    provider = _provider(service, spec)
    if provider is None:
        return _refuse(f"{spec.name} is not set up any more: its OAuth app was removed.")
    try:
        token = oauth.exchange_code(provider, pending, request.args.get("code", ""))
    except oauth.TokenEndpointError as exc:
        log.warning("Code exchange for %s failed: %s", slug, exc.message)
        # The provider was unreachable: 502; it refused the code: the request was bad, 400.
        status = 502 if isinstance(exc, oauth.TokenEndpointUnavailable) else 400
        return _refuse(f"{exc.message}. Please try connecting again.", status)
    except oauth.OAuthFlowError as exc:
        return _refuse(exc.message)
    try:
        account = oauth.connected_account(provider, token, request.args.to_dict())
    except oauth.AccountChoiceRequired as choice:  # several sites/organisations: the admin picks one
        return hold_for_choice(choice)
    except oauth.OAuthFlowError as exc:  # e.g. no Jira site, no Xero organisation
        _give_back(provider, token)
        return _refuse(exc.message)
    except ProviderError as exc:  # the "who did we connect to" call failed
        log.warning("Post-connect lookup for %s failed: %s", slug, exc.message)
        _give_back(provider, token)
        return _refuse(f"{exc.message}. Please try connecting again.", 502)

    integration = service.complete_connection(current_user, spec, token, account)
    connected_to = f" as {account.label}" if account.label else ""
    flash(f"{spec.name} is connected{connected_to}.", "success")
    return redirect(after_connecting(integration))
