"""Accounting pages: an invoice's export to each accounting connection (state, preview,
send / retry, the confirmation of a client's first export) and a connection's customer
matching and booking. Admins only; every
provider is served by the same pages (app.services.accounting_service)."""
from __future__ import annotations

import json
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.integrations.capabilities import CREATE_NEW
from app.integrations.http import ProviderError
from app.integrations import registry
from app.models import Invoice
from app.routes.admin import admin_required
from app.services import accounting_service, export_gate
from app.services.token_service import TokenError

bp = Blueprint("accounting", __name__)

# export_gate.digest: a SHA-256 in hex.
DIGEST = re.compile(r"[0-9a-f]{64}")


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
    try:
        body = accounting_service.preview(invoice, integration)
        problem = None
    except (ProviderError, TokenError) as exc:
        body, problem = None, exc.message
    return _preview_page(invoice, integration, body, problem)


def _preview_page(invoice: Invoice, integration, body: dict | None, problem: str | None, *,
                  stale: bool = False, status: int = 200):
    """The preview; while the client's first export waits for it, with "Confirm and export"
    carrying the digest of exactly what is shown."""
    return render_template(
        "accounting/preview.html", invoice=invoice, integration=integration,
        provider_name=registry.get_spec(integration.provider).name, problem=problem, stale=stale,
        shown=json.dumps(body, indent=2, sort_keys=True) if body is not None else None,
        digest=export_gate.digest(body) if body is not None else None,
        held=accounting_service.is_held(invoice, integration)), status


@bp.post("/invoices/<int:invoice_id>/export/<int:integration_id>/confirm")
@admin_required
def confirm(invoice_id: int, integration_id: int):
    """Confirm the preview of a client's first export (the digest of what was shown)."""
    invoice, integration = _invoice_and_integration(invoice_id, integration_id)
    shown = request.form.get("digest", "")
    if not DIGEST.fullmatch(shown):
        abort(400)
    provider_name = registry.get_spec(integration.provider).name
    try:
        accounting_service.confirm_first_export(invoice, integration, shown)
    except accounting_service.StalePreview as stale:
        db.session.rollback()
        return _preview_page(invoice, integration, stale.current, None, stale=True, status=409)
    except (ProviderError, TokenError) as exc:
        db.session.rollback()
        return _preview_page(invoice, integration, None, exc.message, status=502)
    except export_gate.GateError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    flash(f"Confirmed: {invoice.client.name}'s exports go to {provider_name} from now on, "
          f"starting with invoice {invoice.number}.", "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))


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
