"""The parts of an OAuth callback every flow shares: the registered app, the state, the
consent answer and the code exchange (routes/oauth.py connects a provider; personal_links.py
links one user's own account to a team connection)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import flash, redirect, render_template, request, session
from flask_login import current_user

from app.integrations import oauth, registry
from app.integrations.http import ProviderError
# The one definition of the callback URL, shared with the setup page that tells
# admins what to register: what we send must be exactly what they registered.
from app.routes.integrations import redirect_uri_for
from app.services.integration_service import IntegrationService

log = logging.getLogger(__name__)


def provider_for(service: IntegrationService, spec) -> oauth.OAuthProvider | None:
    app_credentials = service.app_credentials(spec.slug)
    if app_credentials is None:
        return None
    return oauth.OAuthProvider.build(spec, app_credentials.client_id, app_credentials.client_secret,
                                     app_credentials.settings, registry.get_connector(spec.slug))


def to_consent(provider: oauth.OAuthProvider, back_to: str, purpose: str = "connect"):
    """Send the browser to the provider's consent screen (state and PKCE kept in the session),
    or back to `back_to` with the reason it cannot go."""
    try:
        return redirect(oauth.start_authorization(provider, session, user_id=current_user.id, purpose=purpose,
                                                  redirect_uri=redirect_uri_for(provider.spec.slug)))
    except oauth.OAuthFlowError as exc:
        flash(exc.message, "error")
        return redirect(back_to)


def give_back(provider: oauth.OAuthProvider, token: oauth.TokenSet) -> None:
    """A grant we will not keep is revoked at once where the provider allows it, rather
    than left valid at the provider with nobody holding it. Best effort."""
    try:
        oauth.revoke(provider, token)
    except (oauth.RevocationFailed, ProviderError) as exc:
        log.warning("Could not revoke the unused %s grant: %s", provider.spec.name, exc.message)


def refuse(message: str, status: int = 400):
    """The callback cannot be trusted or completed: explain, store nothing."""
    return render_template("oauth/error.html", message=message), status


@dataclass(frozen=True)
class Consent:
    provider: oauth.OAuthProvider
    token: oauth.TokenSet


def consent_outcome(service: IntegrationService, spec, back_to: str):
    """The callback's state, consent answer and code exchange, checked: a Consent, or the
    response to give (a refusal, or back to `back_to` when the person said no)."""
    try:
        pending = oauth.take_pending(session, slug=spec.slug, user_id=current_user.id,
                                     state=request.args.get("state"))
    except oauth.StateError as exc:
        log.warning("Refused an OAuth callback for %s: %s", spec.slug, exc.message)
        return refuse(exc.message)
    error = request.args.get("error")
    if error == "access_denied":
        flash(f"You did not allow TimeHub to access {spec.name}; nothing was connected.", "info")
        return redirect(back_to)
    if error:
        return refuse(f"{spec.name} could not authorize the connection ({error[:80]}).")
    provider = provider_for(service, spec)
    if provider is None:
        return refuse(f"{spec.name} is not set up any more: its OAuth app was removed.")
    try:
        token = oauth.exchange_code(provider, pending, request.args.get("code", ""))
    except oauth.TokenEndpointError as exc:
        log.warning("Code exchange for %s failed: %s", spec.slug, exc.message)
        # The provider was unreachable: 502; it refused the code: the request was bad, 400.
        status = 502 if isinstance(exc, oauth.TokenEndpointUnavailable) else 400
        return refuse(f"{exc.message}. Please try connecting again.", status)
    except oauth.OAuthFlowError as exc:
        return refuse(exc.message)
    return Consent(provider, token)
