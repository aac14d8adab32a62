"""Password reset by e-mail: /password/forgot asks for an address and always answers
the same; the mailed /password/reset/<link> sets a new password once.

Offered only when mail can be sent (TIMEHUB_SMTP_HOST) and TimeHub knows its public
address (TIMEHUB_EXTERNAL_URL): a link built from the request's Host header would let
anyone send a victim a reset link pointing at another site."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from app import mailer
from app.services import account_links, work_queue
from app.services.account_links import LinkInvalid
from app.services.user_service import MIN_PASSWORD_LENGTH, UserError

bp = Blueprint("password_reset", __name__)

SENT = ("If an active account uses that address, a link to reset its password is on its way. "
        "It works once, for an hour.")


class ForgotForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=256)])
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ.")])


def reset_by_mail_available() -> bool:
    return mailer.is_configured(current_app.config) and bool(current_app.config.get("TIMEHUB_EXTERNAL_URL"))


@bp.app_context_processor
def inject_reset_available():
    """The sign-in page offers "Forgot your password?" only when it works."""
    return {"reset_available": reset_by_mail_available()}


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot():
    if not reset_by_mail_available():
        return render_template("auth/forgot.html", form=None), 404
    form = ForgotForm()
    if form.validate_on_submit():
        # Every address gets the same answer; the job finds out whether there is anyone to mail.
        work_queue.queue_password_reset(form.email.data.strip()[:254], current_app.config["TIMEHUB_EXTERNAL_URL"])
        flash(SENT, "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form), 422 if form.errors else 200


@bp.route("/password/reset/<link_token>", methods=["GET", "POST"])
def reset(link_token: str):
    try:
        account_links.find("reset", link_token)
    except LinkInvalid as exc:
        return render_template("auth/link_invalid.html", message=exc.message), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            account_links.reset_password(link_token, form.password.data)
        except LinkInvalid as exc:
            return render_template("auth/link_invalid.html", message=exc.message), 404
        except UserError as exc:
            form.password.errors.append(exc.message)
        else:
            flash("Your password is changed and every session of your account is signed out. Sign in with it now.",
                  "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form), 422 if form.errors else 200
