"""User management for admins: /admin/users (list, create, edit, reset password,
deactivate / reactivate, and delete for accounts without history).

Integration setup lives in app/routes/integrations.py; this module only manages accounts.
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from app.extensions import db
from app.models import Integration, User
from app.models.user import ROLES
from app.routes.auth import new_account_email
from app.services import user_service
from app.services.user_service import MIN_PASSWORD_LENGTH, UserError
from app.timezones import COMMON_TIMEZONES

bp = Blueprint("admin", __name__)

ROLE_CHOICES = [SelectChoice(role, role.capitalize()) for role in ROLES]


def admin_required(view):
    """Signed-in admins only: anonymous users go to the login page, users get 403."""
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)
    return wrapper


class PasswordFields(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ.")])


class UserDetailsForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="user")
    timezone = SelectField("Time zone", choices=COMMON_TIMEZONES, default="UTC")


class NewUserForm(UserDetailsForm, PasswordFields):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254), new_account_email])


def get_user_or_404(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


@bp.get("/admin/users")
@admin_required
def users():
    rows = db.session.scalars(select(User).order_by(func.lower(User.name), User.id)).all()
    return render_template("admin/users.html", users=rows)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = user_service.create_user(email=form.email.data, password=form.password.data, name=form.name.data,
                                            admin=form.role.data == "admin", timezone=form.timezone.data)
        except UserError as exc:
            getattr(form, exc.field, form.email).errors.append(exc.message)
        else:
            flash(f"Created {user.email}.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/users_new.html", form=form), 422 if form.errors else 200


def _details_form(user: User, **kwargs) -> UserDetailsForm:
    form = UserDetailsForm(obj=user, **kwargs)
    form.timezone.choices = user_service.timezone_choices(user.timezone)
    return form


def _render_edit(user: User, details: UserDetailsForm, password: PasswordFields):
    status = 422 if details.errors or password.errors else 200
    return render_template("admin/users_edit.html", user=user, details=details, password_form=password), status


@bp.route("/admin/users/<int:user_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int):
    user = get_user_or_404(user_id)
    details = _details_form(user)
    if details.validate_on_submit():
        try:
            user_service.update_user(user, name=details.name.data, role=details.role.data,
                                     timezone=details.timezone.data)
        except UserError as exc:
            db.session.rollback()
            details.role.errors.append(exc.message)
        else:
            flash(f"Saved {user.email}.", "success")
            # An admin who made themself a user can no longer see this page.
            return redirect(url_for("admin.users") if current_user.is_admin else url_for("account.profile"))
    return _render_edit(user, details, PasswordFields(formdata=None))


@bp.post("/admin/users/<int:user_id>/password")
@admin_required
def reset_password(user_id: int):
    user = get_user_or_404(user_id)
    form = PasswordFields()
    if form.validate_on_submit():
        try:
            # The admin's own sessions elsewhere end; this one goes on. Every session of anyone else ends.
            keep = current_user.session_id if user.id == current_user.id else None
            user_service.reset_password(user, form.password.data, keep_session=keep)
        except UserError as exc:
            form.password.errors.append(exc.message)
        else:
            flash(f"New password set for {user.email}; their other sessions are signed out.", "success")
            return redirect(url_for("admin.edit_user", user_id=user.id))
    return _render_edit(user, _details_form(user, formdata=None), form)


@bp.post("/admin/users/<int:user_id>/sessions/end")
@admin_required
def end_sessions(user_id: int):
    """Sign a user out everywhere, e.g. after a lost laptop: every session cookie they have stops working."""
    user = get_user_or_404(user_id)
    if FlaskForm().validate_on_submit():
        user_service.sign_out_everywhere(user)
        if user.id == current_user.id:
            return redirect(url_for("auth.login"))
        flash(f"Signed {user.email} out everywhere.", "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/deactivate")
@admin_required
def deactivate_user(user_id: int):
    """The normal way to remove someone: they cannot sign in, their history stays."""
    user = get_user_or_404(user_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        user_service.deactivate_user(user, acting=current_user)
    except UserError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(f"Deactivated {user.email}: they can no longer sign in; their time entries stay.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<int:user_id>/reactivate")
@admin_required
def reactivate_user(user_id: int):
    user = get_user_or_404(user_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    user_service.reactivate_user(user)
    flash(f"Reactivated {user.email}: they can sign in again.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/admin/users/<int:user_id>/delete", methods=["GET", "POST"])
@admin_required
def delete_user(user_id: int):
    """GET asks for confirmation, saying what goes with the account; POST deletes."""
    user = get_user_or_404(user_id)
    form = FlaskForm()
    error = None
    if form.validate_on_submit():
        try:
            user_service.delete_user(user, acting=current_user)
        except UserError as exc:
            db.session.rollback()
            error = exc.message
        else:
            flash(f"Deleted {user.email} and everything that was theirs alone.", "success")
            return redirect(url_for("admin.users"))
    entries = user_service.entry_count(user)
    integrations = db.session.scalars(select(Integration.provider).where(Integration.user_id == user.id)).all()
    refused = error or user_service.deletion_blocker(user, acting=current_user)
    return render_template("admin/users_delete.html", user=user, form=form, entries=entries,
                           integrations=integrations, refused=refused,
                           can_deactivate=user.is_active and not user_service.deactivation_blocker(
                               user, acting=current_user)), 422 if error else 200

