"""A user's own account at a team provider ("Log my Jira time as me"), from the account page:
link (a second consent with the team's OAuth app; it comes back through the provider's one
callback, routes/oauth.py) and unlink. Anyone signed in may link their own; nobody sees or
changes anyone else's (services/personal_links)."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.integrations import oauth, registry
from app.integrations.http import ProviderError
from app.routes.account import OwnAccessTokenForm, own_token_refused
from app.routes.oauth_consent import Consent, consent_outcome, give_back, provider_for, refuse, to_consent
from app.services import personal_links
from app.services.errors import Forbidden, NotFound
from app.services.integration_service import IntegrationService

bp = Blueprint("personal_links", __name__)
log = logging.getLogger(__name__)


def _team(slug: str):
    try:
        return personal_links.team_connection(db.session, slug)
    except (NotFound, registry.UnknownProvider):
        abort(404)
    except Forbidden as exc:
        flash(str(exc), "error")
        return None


@bp.post("/account/links/<slug>")
@login_required
def link(slug: str):
    team = _team(slug)
    if team is None:
        return redirect(url_for("account.profile"))
    spec = registry.get_spec(slug)
    provider = provider_for(IntegrationService(), spec)
    if provider is None:
        flash(f"Link your {spec.name} account with your own personal access token (the team connected with one)."
              if personal_links.links_by_token(db.session, team) else f"{spec.name} is not set up any more.", "error")
        return redirect(url_for("account.profile"))
    return to_consent(provider, url_for("account.profile"), purpose=oauth.PERSONAL_LINK)


@bp.post("/account/links/<slug>/token")
@login_required
def link_with_token(slug: str):
    """A team connected with a personal access token has no OAuth app to consent through:
    the person links with their own token, checked against the team's Jira."""
    team = _team(slug)
    if team is None:
        return redirect(url_for("account.profile"))
    if not personal_links.links_by_token(db.session, team):
        flash(f"Link your {registry.get_spec(slug).name} account with its button: it asks for your consent.", "error")
        return redirect(url_for("account.profile"))
    form = OwnAccessTokenForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)  # an expired or forged form, as every other form's CSRF refusal
        return own_token_refused(slug, form)
    try:
        account = personal_links.link_with_token(db.session, current_user, team, form.token.data)
    except (oauth.OAuthFlowError, ProviderError) as exc:
        form.token.errors = [exc.message]
        return own_token_refused(slug, form, 400 if isinstance(exc, oauth.OAuthFlowError) else 502)
    flash(f"Your {registry.get_spec(slug).name} time is now logged as {account.account_label}.", "success")
    return redirect(url_for("account.profile"))


@bp.post("/account/links/<slug>/remove")
@login_required
def unlink(slug: str):
    team = _team(slug)
    if team is not None:
        warning = personal_links.unlink(db.session, current_user, team)
        flash(warning or f"Your own {registry.get_spec(slug).name} account is no longer linked: your time is "
                         "logged through the team connection, for you.", "warning" if warning else "success")
    return redirect(url_for("account.profile"))


def complete(service: IntegrationService, slug: str):
    """The provider's callback for a personal link (routes/oauth.callback sends it here)."""
    try:
        spec = registry.get_spec(slug)
    except registry.UnknownProvider:
        abort(404)
    if spec.auth_kind != "oauth2" or not personal_links.links_personal_accounts(slug):
        abort(404)
    outcome = consent_outcome(service, spec, url_for("account.profile"))
    if not isinstance(outcome, Consent):
        return outcome  # refused, or the person said no
    provider, token = outcome.provider, outcome.token
    team = _team(slug)
    if team is None:
        give_back(provider, token)
        return redirect(url_for("account.profile"))
    try:
        account = registry.get_connector(slug).personal_account(provider, token, team.connection_facts or {})
    except (oauth.OAuthFlowError, ProviderError) as exc:
        give_back(provider, token)
        return refuse(exc.message, 400 if isinstance(exc, oauth.OAuthFlowError) else 502)
    personal_links.complete_link(db.session, current_user, team, token, account)
    flash(f"Your {spec.name} time is now logged as {account.label}.", "success")
    return redirect(url_for("account.profile"))
