"""Finishing a connection whose grant reaches several accounts (Atlassian sites,
Xero organisations): the person who connected picks one.

A connector's `oauth_connected_account` hook raises `oauth.AccountChoiceRequired`
inside the OAuth callback, which hands it to `hold_for_choice`: it keeps the new tokens
(encrypted, as always), parks the options on the integration with the
connection inactive, and sends the browser to the chooser. Only the user who
connected may choose, and only while allowed to manage the integration.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.validators import InputRequired

from app.extensions import db
from app.integrations import oauth
from app.integrations.http import ProviderError
from app.routes.integration_settings import after_connecting
from app.services import token_service
from app.services.connections import connector_for
from app.services.integration_service import Forbidden, IntegrationService, NotFound
from app.services.token_service import TokenError

log = logging.getLogger(__name__)
bp = Blueprint("oauth_choosers", __name__)

PENDING_KEY = "pending_choice"  # in Integration.settings while nobody has chosen yet


class ChoiceForm(FlaskForm):
    account = RadioField("Account", validators=[InputRequired(message="Pick one to finish connecting.")])


def hold_for_choice(choice: oauth.AccountChoiceRequired):
    """Called by the OAuth callback, which already checked that this user may manage the connection."""
    service = IntegrationService()
    spec = service.spec(choice.slug)
    integration = service.connection_for(current_user, spec)
    token_service.store_tokens(integration, choice.token)
    # A reconnect may reach other accounts than before: drop the previous pick so the
    # new tokens are never used with an account nobody chose for them.
    picked_keys = {key for option in choice.options for key in option.account.settings}
    kept = {k: v for k, v in (integration.settings or {}).items() if k not in picked_keys and k != PENDING_KEY}
    integration.settings = {**kept, PENDING_KEY: {
        "user_id": current_user.id,
        "noun": choice.noun,
        "options": [{"key": o.key, "label": o.account.label, "detail": o.detail, "settings": o.account.settings}
                    for o in choice.options],
    }}
    integration.status = "not_configured"
    integration.account_label = None
    integration.last_error = f"Several {spec.name} {choice.noun}s are available: choose one to finish connecting."
    db.session.commit()
    return redirect(url_for("oauth_choosers.choose", slug=spec.slug))


@bp.route("/integrations/<slug>/choose", methods=["GET", "POST"])
@login_required
def choose(slug: str):
    service = IntegrationService()
    spec = _managed_spec(service, slug)
    integration = service.integration_for(current_user, slug)
    pending = (integration.settings or {}).get(PENDING_KEY) if integration else None
    # A later reconnect that reached a single account made an earlier choice moot.
    if not pending or integration.credential is None or integration.status == "active":
        flash(f"{spec.name} has nothing waiting to be chosen.", "info")
        return redirect(url_for("integrations.index"))
    if pending.get("user_id") != current_user.id:
        abort(403)  # the grant is someone else's: they choose what it is used for

    options = {option["key"]: option for option in pending["options"]}
    form = ChoiceForm()
    form.account.choices = [(key, option["label"] or key) for key, option in options.items()]
    if form.validate_on_submit():
        option = options[form.account.data]
        settings = {k: v for k, v in integration.settings.items() if k != PENDING_KEY}
        integration.settings = {**settings, **option["settings"]}
        integration.status = "active"
        integration.account_label = option["label"]
        integration.last_error = None
        db.session.commit()
        _release_unchosen(integration, [other["settings"] for key, other in options.items() if key != option["key"]])
        service.queue_first_sync(integration)
        flash(f"{spec.name} is connected to {option['label']}.", "success")
        return redirect(after_connecting(integration))
    status = 400 if form.errors else 200
    return render_template("oauth/choose_account.html", spec=spec, form=form, noun=pending.get("noun", "account"),
                           options=list(options.values())), status


def _release_unchosen(integration, unchosen: list[dict]) -> None:
    """Best effort: the connection works either way; what is left is said in the log."""
    try:
        connector_for(integration).release_unchosen(unchosen)
    except (ProviderError, TokenError) as exc:
        log.warning("Could not release the %s accounts not chosen: %s", integration.provider, exc.message)


def _managed_spec(service: IntegrationService, slug: str):
    try:
        spec = service.spec(slug)
        service.require_manage(current_user, spec)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    if spec.auth_kind != "oauth2":
        abort(404)
    return spec
