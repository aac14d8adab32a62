"""Finishing a connection whose grant reaches several accounts (Atlassian sites,
Xero organisations): the person who connected picks one.

A connector's `oauth_connected_account` hook raises `oauth.AccountChoiceRequired`
inside the OAuth callback, which hands it to `hold_for_choice`: the lifecycle
service keeps the new tokens (encrypted, as always) and the options, with the
connection inactive, and the browser goes to the chooser. Only the user who
connected may choose, and only while allowed to manage the integration.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.validators import InputRequired

from app.integrations import oauth
from app.routes.integration_settings import after_connecting
from app.services.integration_service import Forbidden, IntegrationError, IntegrationService, NotFound

bp = Blueprint("oauth_choosers", __name__)


class ChoiceForm(FlaskForm):
    account = RadioField("Account", validators=[InputRequired(message="Pick one to finish connecting.")])


def hold_for_choice(choice: oauth.AccountChoiceRequired):
    """Called by the OAuth callback, which already checked that this user may manage the connection."""
    IntegrationService().hold_for_choice(current_user, choice)
    return redirect(url_for("oauth_choosers.choose", slug=choice.slug))


@bp.route("/integrations/<slug>/choose", methods=["GET", "POST"])
@login_required
def choose(slug: str):
    service = IntegrationService()
    spec = _managed_spec(service, slug)
    try:
        waiting = service.waiting_choice(current_user, spec)
    except Forbidden:
        abort(403)  # the grant is someone else's: they choose what it is used for
    if waiting is None:
        flash(f"{spec.name} has nothing waiting to be chosen.", "info")
        return redirect(url_for("integrations.index"))
    _integration, pending = waiting
    options = {option["key"]: option for option in pending["options"]}
    form = ChoiceForm()
    form.account.choices = [(key, option["label"] or key) for key, option in options.items()]
    if form.validate_on_submit():
        try:
            integration, chosen = service.choose_account(current_user, spec, form.account.data)
        except IntegrationError as exc:
            flash(exc.message, "error")
            return redirect(url_for("oauth_choosers.choose", slug=spec.slug))
        flash(f"{spec.name} is connected to {chosen['label']}.", "success")
        return redirect(after_connecting(integration))
    status = 400 if form.errors else 200
    return render_template("oauth/choose_account.html", spec=spec, form=form, noun=pending.get("noun", "account"),
                           options=list(options.values())), status


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
