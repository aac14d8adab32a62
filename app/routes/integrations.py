"""The integrations page (everyone) and each provider's setup page (admins).

Integrations are looked up only through IntegrationService, which owns the
global/per-user rules; this module turns its answers into pages.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import Length, Optional

from app.extensions import db
from app.integrations import registry
from app.integrations.capabilities import ConnectsWithToken, features_of
from app.integrations.spec import ProviderSpec
from app.models import SyncRun
from app.services.integration_service import Forbidden, IntegrationError, IntegrationService, NotFound

bp = Blueprint("integrations", __name__)


@bp.app_template_global()
def provider_features(spec: ProviderSpec) -> list[str]:
    """What the provider's connector does today, in the spec's words: pages promise nothing more."""
    return features_of(registry.get_connector(spec.slug))

STORED_SECRET_PLACEHOLDER = "stored; leave empty to keep"


def service() -> IntegrationService:
    return IntegrationService()


def redirect_uri_for(slug: str) -> str:
    """The OAuth callback URL to register at the provider (behind a proxy, set TIMEHUB_EXTERNAL_URL)."""
    base = current_app.config.get("TIMEHUB_EXTERNAL_URL") or request.host_url.rstrip("/")
    return f"{base}/integrations/{slug}/callback"


def setup_form(spec: ProviderSpec, stored_secrets: set[str], saved: dict, **kwargs) -> FlaskForm:
    """A form with the provider's setup fields. Secret fields are never
    pre-filled; a stored one may be left empty to keep it."""

    class SetupForm(FlaskForm):
        pass

    for field in spec.setup_fields:
        render_kw = {"placeholder": field.placeholder or field.default}
        if field.secret:
            render_kw = {"placeholder": STORED_SECRET_PLACEHOLDER if field.name in stored_secrets else "",
                         "autocomplete": "off"}
            form_field = PasswordField(field.label, validators=[Optional(), Length(max=2000)], render_kw=render_kw)
        elif field.choices:
            form_field = SelectField(field.label, choices=list(field.choices), default=saved.get(field.name, field.default))
        else:
            form_field = StringField(field.label, validators=[Optional(), Length(max=500)], render_kw=render_kw,
                                     default=saved.get(field.name, ""))
        setattr(SetupForm, field.name, form_field)
    return SetupForm(**kwargs)


def _abort_for(exc: Exception):
    if isinstance(exc, Forbidden):
        abort(403)
    abort(404)


@bp.app_template_global()
def card_status(view) -> str:
    """The status a card shows. The stored status stays "not_configured" until the first
    connect, but once the OAuth app is registered the integration is ready to connect."""
    if view.status == "not_configured" and view.configured and not view.connected:
        return "ready_to_connect" if view.can_manage else "not_connected"
    return view.status


def ever_synced(views) -> set[int]:
    """Ids of the integrations among `views` with at least one sync run, in one query."""
    ids = [v.integration.id for v in views if v.integration is not None]
    if not ids:
        return set()
    return set(db.session.scalars(select(SyncRun.integration_id).where(SyncRun.integration_id.in_(ids)).distinct()))


@bp.get("/integrations")
@login_required
def index():
    team, mine = service().list_for(current_user)
    needs_attention = [v for v in team + mine if v.can_manage and v.status in ("needs_reconnect", "error")]
    return render_template("integrations/index.html", team=team, mine=mine, needs_attention=needs_attention,
                           synced_ids=ever_synced(team + mine))


@bp.get("/calendar/integrations")
def legacy_calendar_integrations():
    """The old address of the integrations page."""
    return redirect(url_for("integrations.index"), code=301)


def _setup_context(slug: str):
    svc = service()
    try:
        svc.require_admin(current_user)
        view = svc.view(current_user, slug)
    except (Forbidden, NotFound) as exc:
        _abort_for(exc)
    spec = view.spec
    if spec.auth_kind == "oauth2":
        app_record = svc.app_record(slug)
        stored = set(app_record.payload) if app_record else set()
        saved = {"client_id": app_record.client_id, **app_record.settings} if app_record else {}
        app_source = "database" if app_record else ("environment" if spec.env_app_credentials() else None)
    else:
        credential = view.integration.credential if view.integration else None
        stored = set(credential.payload) if credential else set()
        saved, app_source = {}, None
    return svc, view, stored, saved, app_source


@bp.route("/admin/integrations/<slug>", methods=["GET", "POST"])
@login_required
def setup(slug: str):
    svc, view, stored, saved, app_source = _setup_context(slug)
    spec = view.spec
    form = setup_form(spec, stored, saved)
    status = 200
    if form.validate_on_submit():
        values = {f.name: form[f.name].data for f in spec.setup_fields}
        try:
            if spec.auth_kind == "api_key":
                integration = svc.save_api_key(current_user, slug, values)
                flash(f"{spec.name} is connected as {integration.account_label}.", "success")
            else:
                svc.save_app_credentials(current_user, slug, values)
                flash(f"{spec.name} app credentials saved.", "success")
            return redirect(url_for("integrations.setup", slug=slug))
        except IntegrationError as exc:
            for name, message in exc.field_errors.items():
                form[name].errors = list(form[name].errors) + [message]
            flash(exc.message, "error")
            status = 422
    elif form.errors:
        status = 422
    return render_template(
        "integrations/setup.html", view=view, spec=spec, form=form, stored=stored, app_source=app_source,
        redirect_uri=redirect_uri_for(slug) if spec.auth_kind == "oauth2" else None,
        endpoints=spec.endpoints(saved),
        token_form=PersonalTokenForm(formdata=None) if takes_personal_token(slug) else None,
    ), status


class PersonalTokenForm(FlaskForm):
    """Connecting with a personal access token instead of OAuth (Jira Data Center)."""

    token = PasswordField("Personal access token", validators=[Optional(), Length(max=500)],
                          render_kw={"autocomplete": "off"})


def takes_personal_token(slug: str) -> bool:
    return issubclass(registry.get_connector(slug), ConnectsWithToken)


@bp.post("/admin/integrations/<slug>/token")
@login_required
def connect_token(slug: str):
    svc = service()
    form = PersonalTokenForm()
    try:
        svc.require_admin(current_user)
        if not takes_personal_token(svc.spec(slug).slug):
            abort(404)
        if not form.validate_on_submit():
            flash("The token form expired or the token is too long; try again.", "error")
            return redirect(url_for("integrations.setup", slug=slug))
        integration = svc.connect_with_token(current_user, slug, form.token.data or "")
        flash(f"{svc.spec(slug).name} is connected as {integration.account_label}.", "success")
    except (Forbidden, NotFound) as exc:
        _abort_for(exc)
    except IntegrationError as exc:
        flash(exc.message, "error")
    return redirect(url_for("integrations.setup", slug=slug))


@bp.post("/admin/integrations/<slug>/test")
@login_required
def test_connection(slug: str):
    svc = service()
    try:
        account = svc.test_connection(current_user, slug)
        flash(f"Connection works: {account.label}.", "success")
    except (Forbidden, NotFound) as exc:
        _abort_for(exc)
    except IntegrationError as exc:
        flash(exc.message, "error")
    return redirect(url_for("integrations.setup", slug=slug))


@bp.post("/integrations/<slug>/disconnect")
@login_required
def disconnect(slug: str):
    svc = service()
    try:
        spec = svc.spec(slug)
        warning = svc.disconnect(current_user, slug)
    except (Forbidden, NotFound) as exc:
        _abort_for(exc)
    if warning:
        flash(f"{spec.name}: revoking access at the provider failed: {warning}", "warning")
    flash(f"{spec.name} is disconnected; its stored credentials were deleted.", "info")
    return redirect(url_for("integrations.index"))
