"""Invitations: an admin invites an address (the link is shown to copy, and mailed when
SMTP is configured); its holder opens /invite/<link> once to choose a name and password.
The rules live in app/services/account_links.py."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField
from wtforms.validators import DataRequired, Length

from app import mailer
from app.routes.account_pages import public_url
from app.routes.admin import ROLE_CHOICES, admin_required
from app.routes.auth import NewAccountFields, new_account_email
from app.services import account_links, session_service
from app.services.account_links import LinkInvalid
from app.services.user_service import UserError

bp = Blueprint("invitations", __name__)


class InviteForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254), new_account_email])
    role = SelectField("Role", choices=ROLE_CHOICES, default="user")


@bp.route("/admin/invitations", methods=["GET", "POST"])
@admin_required
def index():
    form = InviteForm()
    link = None
    if form.validate_on_submit():
        try:
            issued = account_links.invite(form.email.data, form.role.data)
        except UserError as exc:
            getattr(form, exc.field, form.email).errors.append(exc.message)
        else:
            link = public_url(url_for("invitations.accept", link_token=issued.link_token))
            _mail_invitation(issued, link)
            form = InviteForm(formdata=None)
    return render_template("admin/invitations.html", form=form, link=link, mail=mailer.is_configured(current_app.config),
                           pending=account_links.pending_invitations()), 422 if form.errors else 200


def _mail_invitation(issued: account_links.Issued, link: str) -> None:
    email = issued.row.email
    if not mailer.is_configured(current_app.config):
        flash(f"Invitation for {email} created. Send them the link below; it works once, for 7 days.", "success")
        return
    subject, body = account_links.invitation_mail(issued, link, invited_by=current_user)
    try:
        mailer.send(current_app.config, to=email, subject=subject, body=body)
    except mailer.MailError as exc:
        flash(f"Invitation for {email} created, but the mail could not be sent ({exc}). Send them the link below.",
              "error")
    else:
        flash(f"Invitation mailed to {email}. The link below works too; it works once, for 7 days.", "success")


@bp.post("/admin/invitations/<int:token_id>/withdraw")
@admin_required
def withdraw(token_id: int):
    if FlaskForm().validate_on_submit():
        if account_links.withdraw_invitation(token_id):
            flash("Invitation withdrawn: its link no longer works.", "success")
        else:
            flash("That invitation was used, has expired or was withdrawn already.", "info")
    return redirect(url_for("invitations.index"))


@bp.route("/invite/<link_token>", methods=["GET", "POST"])
def accept(link_token: str):
    try:
        invitation = account_links.find("invite", link_token)
    except LinkInvalid as exc:
        return render_template("auth/link_invalid.html", message=exc.message), 404
    form = NewAccountFields()
    if form.validate_on_submit():
        try:
            user = account_links.accept_invitation(link_token, name=form.name.data, password=form.password.data,
                                                   timezone=form.timezone.data)
        except LinkInvalid as exc:
            return render_template("auth/link_invalid.html", message=exc.message), 404
        except UserError as exc:
            getattr(form, exc.field, form.password).errors.append(exc.message)
        else:
            session_service.sign_in(user)
            flash("Welcome to TimeHub: your account is ready.", "success")
            return redirect(url_for("time_entries.index"))
    return render_template("auth/accept_invitation.html", form=form, email=invitation.email), \
        422 if form.errors else 200
