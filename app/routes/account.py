"""/account: the signed-in user's name, time zone, password and personal API tokens.

Each form posts to its own address and, when invalid, the whole page is shown
again with that form's errors (HTTP 422). A new token's plain value is shown
in that one response only: it is never stored, flashed or logged.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.extensions import db
from app.models import ApiToken
from app.integrations import registry
from app.services import personal_links, user_service
from app.services.token_service import MAX_PERSONAL_TOKEN_LENGTH
from app.services.user_service import MIN_PASSWORD_LENGTH, UserError
from app.timezones import COMMON_TIMEZONES

bp = Blueprint("account", __name__)


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    timezone = SelectField("Time zone", choices=COMMON_TIMEZONES)


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField("Repeat new password",
                            validators=[DataRequired(), EqualTo("password", "Passwords differ.")])


class NewTokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=80)])


class OwnAccessTokenForm(FlaskForm):
    """Linking one's own account with one's own personal access token, where the team connected
    with a token and there is no OAuth app to consent through (Jira Data Center). A
    PasswordField: the token is never written back into the page."""

    token = PasswordField("Your personal access token", render_kw={"autocomplete": "off"}, validators=[
        DataRequired("Paste your personal access token."),
        Length(max=MAX_PERSONAL_TOKEN_LENGTH, message="That is too long for a personal access token.")])


def _profile_form(**kwargs) -> ProfileForm:
    form = ProfileForm(obj=current_user, **kwargs)
    form.timezone.choices = user_service.timezone_choices(current_user.timezone)
    return form


def _page(*, profile=None, password=None, token=None, new_token: str | None = None, status: int = 200,
          own_token=None, own_token_slug: str | None = None):
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == current_user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()
    return render_template(
        "account/profile.html",
        profile=profile or _profile_form(formdata=None),
        password=password or ChangePasswordForm(formdata=None),
        token=token or NewTokenForm(formdata=None),
        tokens=tokens, new_token=new_token, links=_personal_links(),
        own_token=own_token or OwnAccessTokenForm(formdata=None), own_token_slug=own_token_slug,
        own_token_blank=OwnAccessTokenForm(formdata=None),  # the other rows' (no errors of theirs)
    ), status


def _personal_links() -> list[tuple]:
    """(its spec, the link button's words, the user's own link or None, whether one links with
    one's own personal access token) for each team connection whose provider lets people link
    their own account."""
    return [(registry.get_spec(team.provider), registry.get_connector(team.provider).personal_link_action,
             personal_links.link_of(db.session, current_user.id, team), personal_links.links_by_token(db.session, team))
            for team in personal_links.linkable_teams(db.session)]


def own_token_refused(slug: str, form: OwnAccessTokenForm, status: int = 422):
    """The account page again, with the personal-access-token form's errors on `slug`'s row."""
    return _page(own_token=form, own_token_slug=slug, status=status)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def profile():
    form = _profile_form()
    if form.validate_on_submit():
        try:
            current_user.timezone = user_service.check_timezone(form.timezone.data)
        except UserError as exc:
            form.timezone.errors.append(exc.message)
        else:
            current_user.name = form.name.data.strip()
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("account.profile"))
    return _page(profile=form, status=422 if form.errors else 200)


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            try:
                # This session goes on; every other one ends.
                user_service.reset_password(current_user, form.password.data, keep_session=current_user.session_id)
            except UserError as exc:
                form.password.errors.append(exc.message)
            else:
                flash("Your password was changed; your other sessions are signed out.", "success")
                return redirect(url_for("account.profile"))
    return _page(password=form, status=422)


@bp.post("/account/tokens")
@login_required
def create_token():
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(token=form, status=422)
    token, plain = ApiToken.issue(current_user._get_current_object(), form.name.data.strip())
    db.session.add(token)
    db.session.commit()
    # Shown in this response only; the page tells the user to copy it now.
    return _page(new_token=plain, status=201)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)  # another user's token does not exist, as far as this user can tell
    db.session.delete(token)
    db.session.commit()
    flash(f"Revoked the token “{token.name}”.", "success")
    return redirect(url_for("account.profile"))
