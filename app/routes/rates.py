"""/admin/rates: the team's default hourly rate and each person's own rate (admins only).

Projects keep their rates on their own form; this page holds the two fallbacks
(project rate > user rate > default, see app.services.rate_service)."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import DecimalField
from wtforms.validators import InputRequired, NumberRange, Optional

from app.extensions import db
from app.models import User
from app.routes.admin import admin_required
from app.routes.invoices import cents
from app.services import rate_service, user_service

bp = Blueprint("rates", __name__)

RATE_RANGE = NumberRange(min=0, max=rate_service.RATE_MAX)


class DefaultRateForm(FlaskForm):
    rate = DecimalField("Default hourly rate", places=2,
                        validators=[InputRequired(message="Enter a rate (0 for none)."), cents, RATE_RANGE])


class UserRateForm(FlaskForm):
    # Empty: the person has no rate of their own and the default applies.
    rate = DecimalField("Hourly rate", places=2, validators=[Optional(), cents, RATE_RANGE])


def render_page(default_form: DefaultRateForm | None = None, failed: tuple[int, UserRateForm] | None = None,
                status: int = 200):
    default_form = default_form or DefaultRateForm(formdata=None, data={"rate": rate_service.default_rate()})
    rows = []
    for user in user_service.active_users():
        form = failed[1] if failed and failed[0] == user.id else \
            UserRateForm(formdata=None, data={"rate": user.hourly_rate}, prefix=f"u{user.id}")
        rows.append((user, form))
    return render_template("admin/rates.html", default_form=default_form, rows=rows), status


@bp.get("/admin/rates")
@admin_required
def index():
    return render_page()


@bp.post("/admin/rates/default")
@admin_required
def save_default():
    form = DefaultRateForm()
    if not form.validate_on_submit():
        return render_page(default_form=form, status=422)
    rate_service.set_default_rate(form.rate.data)
    flash(f"Default rate set to {form.rate.data:.2f} per hour.", "success")
    return redirect(url_for(".index"))


@bp.post("/admin/rates/users/<int:user_id>")
@admin_required
def save_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = UserRateForm(prefix=f"u{user.id}")
    if not form.validate_on_submit():
        return render_page(failed=(user.id, form), status=422)
    rate: Decimal | None = form.rate.data
    rate_service.set_user_rate(user, rate)
    flash(f"{user.name}'s rate set to {rate:.2f} per hour." if rate is not None
          else f"{user.name} has no rate of their own now: the default applies.", "success")
    return redirect(url_for(".index"))
