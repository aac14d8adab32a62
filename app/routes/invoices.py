"""Invoices: list, create from a client's billable time, detail (print-friendly),
PDF, issue, mark paid, delete a draft; the seller's details printed on them.

Invoices are for admins only (users get 403): they show totals and hourly
rates, which users do not see; users see their own time. The rules live in
app/services/invoice_service.py.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import DateField, DecimalField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from app.currencies import format_money
from app.extensions import db
from app.inputs import optional_id, sane_date
from app.models import Client, Invoice
from app.models import seller as seller_limits
from app.models.invoice import INVOICE_STATUSES
from app.routes.admin import admin_required
from app.services import accounting_service, invoice_pdf, invoice_service
from app.services.invoice_service import InvoiceError, InvoiceRequest

bp = Blueprint("invoices", __name__)

PAYMENT_TERMS = timedelta(days=30)


@bp.app_template_filter("money")
def money(value: Decimal | None, currency: str | None = None) -> str:
    return format_money(value, currency)


def cents(_form, field):
    """Money and percentages are stored with two decimals: refuse more rather than round
    silently, and refuse NaN and infinities before any range check compares them."""
    if field.data is None:
        return
    if not field.data.is_finite():
        raise StopValidation("Not a valid decimal value.")
    if field.data.normalize().as_tuple().exponent < -2:
        raise StopValidation("At most two decimals.")


class NewInvoiceForm(FlaskForm):
    client_id = SelectField("Client", coerce=int, validators=[DataRequired(message="Choose a client.")])
    start = DateField("From", validators=[DataRequired(), sane_date])
    end = DateField("To (inclusive)", validators=[DataRequired(), sane_date])
    issue_date = DateField("Issue date", validators=[DataRequired(), sane_date])
    due_date = DateField("Due date", validators=[Optional(), sane_date])
    tax_rate = DecimalField("Tax rate (%)", places=2, default=Decimal("0"),
                            validators=[InputRequired(), cents, NumberRange(min=0, max=100)])
    notes = TextAreaField("Notes", validators=[Length(max=2000)], description="Printed at the bottom of the invoice.")
    line_grouping = RadioField("One line per", default="project", choices=[
        SelectChoice("project", "project"), SelectChoice("task", "task"), SelectChoice("entry", "time entry")])

    def validate_end(self, field):
        if self.start.data and field.data and field.data < self.start.data:
            raise ValidationError("The end date is before the start date.")

    def validate_due_date(self, field):
        if self.issue_date.data and field.data and field.data < self.issue_date.data:
            raise ValidationError("The due date is before the issue date.")


class SellerForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=seller_limits.NAME_MAX)])
    address = TextAreaField("Address", validators=[Length(max=seller_limits.ADDRESS_MAX)])
    tax_id = StringField("Tax ID (VAT number)", validators=[Length(max=seller_limits.TAX_ID_MAX)])
    payment_terms = TextAreaField("Payment terms and bank details", validators=[Length(max=seller_limits.PAYMENT_TERMS_MAX)],
                                  description="Printed under every invoice, e.g. \"Pay within 30 days to IBAN ...\".")


class DraftTermsForm(FlaskForm):
    due_date = DateField("Due date", validators=[Optional(), sane_date])
    tax_rate = DecimalField("Tax rate (%)", places=2,
                            validators=[InputRequired(), cents, NumberRange(min=0, max=100)])
    notes = TextAreaField("Notes", validators=[Length(max=2000)], description="Printed at the bottom of the invoice.")


def _today() -> date:
    return datetime.now(current_user.tz).date()


def _new_invoice_form() -> NewInvoiceForm:
    form = NewInvoiceForm()
    clients = db.session.scalars(select(Client).where(Client.archived.is_(False)).order_by(func.lower(Client.name)))
    form.client_id.choices = [SelectChoice(0, "— choose —")] + [
        SelectChoice(c.id, f"{c.name} ({c.currency})") for c in clients]
    if request.method == "GET":
        today = _today()
        last_month_end = today.replace(day=1) - timedelta(days=1)
        # Default to last month, the usual billing period.
        form.start.data = last_month_end.replace(day=1)
        form.end.data = last_month_end
        form.issue_date.data = today
        form.due_date.data = today + PAYMENT_TERMS
        if (client_id := optional_id(request.args.get("client"))) is not None:
            form.client_id.data = client_id
    return form


def get_invoice_or_404(invoice_id: int) -> Invoice:
    return db.session.get(Invoice, invoice_id) or abort(404)


@bp.get("/invoices")
@admin_required
def index():
    status = request.args.get("status")
    query = select(Invoice).order_by(Invoice.issue_date.desc(), Invoice.number.desc())
    if status in INVOICE_STATUSES:
        query = query.where(Invoice.status == status)
    invoices = db.session.scalars(query).all()
    return render_template("invoices/index.html", invoices=invoices, status=status, statuses=INVOICE_STATUSES)


@bp.route("/invoices/new", methods=["GET", "POST"])
@admin_required
def new():
    form = _new_invoice_form()
    if form.validate_on_submit():
        try:
            invoice = invoice_service.create_invoice(InvoiceRequest(
                client_id=form.client_id.data, start=form.start.data, end=form.end.data,
                issue_date=form.issue_date.data, due_date=form.due_date.data, tax_rate=form.tax_rate.data,
                notes=form.notes.data or "", timezone=current_user.timezone, line_grouping=form.line_grouping.data,
            ))
        except InvoiceError as exc:
            form.client_id.errors.append(exc.message)
        else:
            flash(f"Created draft invoice {invoice.number}. Check it, then issue it.", "success")
            return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    return render_template("invoices/new.html", form=form), 422 if form.errors else 200


@bp.get("/invoices/<int:invoice_id>")
@admin_required
def detail(invoice_id: int):
    invoice = get_invoice_or_404(invoice_id)
    exports = accounting_service.export_states(invoice) if current_user.is_admin else []
    return render_template("invoices/detail.html", invoice=invoice, exports=exports,
                           entry_count=invoice_service.entry_count(invoice),
                           seller=invoice_service.seller_of(invoice))


@bp.get("/invoices/<int:invoice_id>.pdf")
@admin_required
def pdf(invoice_id: int):
    invoice = get_invoice_or_404(invoice_id)
    name = f"{'draft-' if invoice.status == 'draft' else ''}{invoice.number}.pdf"
    return Response(invoice_pdf.render(invoice), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/invoices/seller", methods=["GET", "POST"])
@admin_required
def seller():
    """Who the invoices are from: set once, copied onto each invoice when it is issued."""
    details = invoice_service.seller_details()
    form = SellerForm(obj=details)
    if form.validate_on_submit():
        invoice_service.save_seller_details(name=form.name.data, address=form.address.data or "",
                                            tax_id=form.tax_id.data or "", payment_terms=form.payment_terms.data or "")
        flash("Saved the seller's details; invoices issued from now on carry them.", "success")
        return redirect(url_for("invoices.index"))
    return render_template("invoices/seller.html", form=form), 422 if form.errors else 200


@bp.route("/invoices/<int:invoice_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(invoice_id: int):
    """A draft's terms (due date, tax rate, notes); issued invoices are final."""
    invoice = get_invoice_or_404(invoice_id)
    if invoice.status != "draft":
        flash(f"Invoice {invoice.number} is {invoice.status}; only drafts can be changed.", "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    form = DraftTermsForm(obj=invoice)
    if form.validate_on_submit():
        try:
            invoice_service.update_draft(invoice, due_date=form.due_date.data, tax_rate=form.tax_rate.data,
                                         notes=form.notes.data or "")
        except InvoiceError as exc:
            db.session.rollback()
            form.due_date.errors.append(exc.message)
        else:
            flash(f"Saved draft {invoice.number}.", "success")
            return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    return render_template("invoices/edit.html", form=form, invoice=invoice), 422 if form.errors else 200


def _change(invoice_id: int, status: str, done: str):
    invoice = get_invoice_or_404(invoice_id)
    try:
        invoice_service.move_to(invoice, status)
    except InvoiceError as exc:
        flash(exc.message, "error")
    else:
        flash(done.format(number=invoice.number), "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))


@bp.post("/invoices/<int:invoice_id>/issue")
@admin_required
def issue(invoice_id: int):
    return _change(invoice_id, "issued", "Invoice {number} is issued; it can no longer be deleted.")


@bp.post("/invoices/<int:invoice_id>/paid")
@admin_required
def mark_paid(invoice_id: int):
    return _change(invoice_id, "paid", "Invoice {number} is paid.")


@bp.post("/invoices/<int:invoice_id>/delete")
@admin_required
def delete(invoice_id: int):
    invoice = get_invoice_or_404(invoice_id)
    number = invoice.number
    try:
        invoice_service.delete_draft(invoice)
    except InvoiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    flash(f"Deleted draft {number}; its time can be invoiced again.", "success")
    return redirect(url_for("invoices.index"))
