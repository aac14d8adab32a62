"""Login, logout, and the one-time creation of the first admin account."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.services import session_service
from app.services.user_service import (
    MIN_PASSWORD_LENGTH,
    UserError,
    authenticate,
    check_new_email,
    create_user,
    has_users,
)
from app.timezones import COMMON_TIMEZONES

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def new_account_email(_form, field) -> None:
    """Checked with the other fields, so that every error shows at once."""
    if field.data:
        try:
            check_new_email(field.data)
        except UserError as exc:
            raise ValidationError(exc.message) from None


class NewAccountFields(FlaskForm):
    """What a person gives for their own new account (first run, an accepted invitation)."""
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ.")])
    timezone = SelectField("Time zone", choices=COMMON_TIMEZONES, default="UTC")


class SetupForm(NewAccountFields):
    email = EmailField("E-mail", validators=[DataRequired(), new_account_email])


def safe_next(target: str | None) -> str:
    """Only follow relative `next` links, never to another host: no scheme or host, no
    "//" or "/\\" (browsers read both as another host), no CR/LF or other control
    characters (a header split, or a path the browser would clean up into a host)."""
    if (target and len(target) <= 2048 and target.startswith("/") and not target.startswith(("//", "/\\"))
            and target.isprintable() and not urlsplit(target).netloc):
        return target
    return url_for("time_entries.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            if session_service.sign_in(user):  # refuses a deactivated account
                return redirect(safe_next(request.args.get("next")))
            form.email.errors.append("This account is deactivated; ask an administrator.")
        else:
            form.password.errors.append("Wrong e-mail or password.")
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
@login_required
def logout():
    """Ends this session for good (a copy of its cookie taken before no longer signs in);
    the user's sessions on other devices go on (docs/design.md, "Sessions")."""
    session_service.sign_out()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Shown once, while the database has no user at all."""
    if has_users():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = create_user(email=form.email.data, password=form.password.data, name=form.name.data,
                               admin=True, timezone=form.timezone.data)
        except UserError as exc:
            getattr(form, exc.field, form.email).errors.append(exc.message)
        else:
            session_service.sign_in(user)
            flash("Welcome to TimeHub. Your admin account is ready.", "success")
            return redirect(url_for("integrations.index"))
    return render_template("auth/setup.html", form=form), 422 if form.errors else 200
