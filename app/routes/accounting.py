"""Accounting pages: an invoice's export to each accounting connection (state, preview,
send / retry) and a connection's customer matching and booking. Admins only; every
provider is served by the same pages (app.services.accounting_service)."""
from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.integrations.capabilities import CREATE_NEW
from app.integrations.http import ProviderError
from app.integrations import registry
from app.models import Invoice
from app.routes.admin import admin_required
from app.services import accounting_service
from app.services.token_service import TokenError

bp = Blueprint("accounting", __name__)


def _invoice_and_integration(invoice_id: int, integration_id: int):
    invoice = db.session.get(Invoice, invoice_id)
    integration = accounting_service.accounting_integration(integration_id)
    if invoice is None or integration is None:
        abort(404)
    return invoice, integration


@bp.get("/invoices/<int:invoice_id>/export/<int:integration_id>/preview")
@admin_required
def preview(invoice_id: int, integration_id: int):
    invoice, integration = _invoice_and_integration(invoice_id, integration_id)
    provider_name = registry.get_spec(integration.provider).name
    try:
        body = accounting_service.preview(invoice, integration)
        problem = None
    except (ProviderError, TokenError) as exc:
        body, problem = None, exc.message
    return render_template("accounting/preview.html", invoice=invoice, integration=integration,
                           provider_name=provider_name, problem=problem,
                           shown=json.dumps(body, indent=2, sort_keys=True) if body is not None else None)


@bp.post("/invoices/<int:invoice_id>/export/<int:integration_id>")
@admin_required
def send(invoice_id: int, integration_id: int):
    invoice, integration = _invoice_and_integration(invoice_id, integration_id)
    accounting_service.send(invoice, integration)
    flash(f"Invoice {invoice.number} is queued for {registry.get_spec(integration.provider).name}.", "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))


@bp.route("/integrations/<int:integration_id>/customers", methods=["GET", "POST"])
@admin_required
def customers(integration_id: int):
    integration = accounting_service.accounting_integration(integration_id)
    if integration is None:
        abort(404)
    provider_name = registry.get_spec(integration.provider).name
    try:
        page = accounting_service.matching_page(integration)
    except (ProviderError, TokenError) as exc:
        return render_template("accounting/customers.html", integration=integration, provider_name=provider_name,
                               page=None, problem=exc.message, create_new=CREATE_NEW)
    if request.method == "POST":
        choices = {match.client.id: request.form.get(f"client:{match.client.id}", "") for match in page.matches}
        bookings = {project.id: request.form.get(f"project:{project.id}", "") for project in page.projects}
        try:
            accounting_service.save_matching(integration, page, choices, request.form.get("booking_default") or None,
                                             bookings)
        except accounting_service.MatchingError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template("accounting/customers.html", integration=integration,
                                   provider_name=provider_name, page=page, problem=None, create_new=CREATE_NEW), 422
        flash("Saved. Failed exports can be retried from their invoice.", "success")
        return redirect(url_for("accounting.customers", integration_id=integration.id))
    return render_template("accounting/customers.html", integration=integration, provider_name=provider_name,
                           page=page, problem=None, create_new=CREATE_NEW)
