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
from app.models import Client, Invoice
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
    """The invoice's preview; while the client's first export waits for it, with "Confirm
    and export" carrying the digest of exactly what is shown."""
    return _render_preview(
        integration, invoice.client, body, problem, stale=stale, status=status,
        title=f"Preview of {invoice.number}", sends="the customer (created when it does not exist there yet), "
        "then the invoice", back=(url_for("invoices.detail", invoice_id=invoice.id), f"Invoice {invoice.number}"),
        confirm_url=url_for("accounting.confirm", invoice_id=invoice.id, integration_id=integration.id),
        held=accounting_service.is_held(invoice, integration))


def _render_preview(integration, client: Client, body: dict | None, problem: str | None, *, stale: bool,
                    status: int, title: str, sends: str, back: tuple[str, str], confirm_url: str, held: bool):
    return render_template(
        "accounting/preview.html", integration=integration, client=client, title=title, sends=sends,
        back_url=back[0], back_label=back[1], confirm_url=confirm_url,
        provider_name=registry.get_spec(integration.provider).name, problem=problem, stale=stale,
        shown=json.dumps(body, indent=2, sort_keys=True) if body is not None else None,
        digest=export_gate.digest(body) if body is not None else None, held=held), status


@bp.post("/invoices/<int:invoice_id>/export/<int:integration_id>/confirm")
@admin_required
def confirm(invoice_id: int, integration_id: int):
    """Confirm the preview of a client's first export (the digest of what was shown)."""
    invoice, integration = _invoice_and_integration(invoice_id, integration_id)
    return _confirm_shown(
        lambda shown: accounting_service.confirm_first_export(invoice, integration, shown),
        lambda *args, **kwargs: _preview_page(invoice, integration, *args, **kwargs),
        url_for("invoices.detail", invoice_id=invoice.id),
        f"Confirmed: {invoice.client.name}'s exports go to {registry.get_spec(integration.provider).name} from now "
        f"on, starting with invoice {invoice.number}.")


def _confirm_shown(confirm_digest, preview_page, back: str, done: str):
    """Both confirmations: the posted digest of what was shown; a preview that changed since
    answers 409 with the new one, an unreachable provider 502, and nothing is confirmed."""
    shown = request.form.get("digest", "")
    if not DIGEST.fullmatch(shown):
        abort(400)
    try:
        confirm_digest(shown)
    except accounting_service.StalePreview as stale:
        db.session.rollback()
        return preview_page(stale.current, None, stale=True, status=409)
    except (ProviderError, TokenError) as exc:
        db.session.rollback()
        return preview_page(None, exc.message, status=502)
    except export_gate.GateError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    flash(done, "success")
    return redirect(back)


# -- a client's time whose first export waits (QuickBooks time activities) ---------------------

def _client_and_time_integration(integration_id: int, client_id: int):
    client = db.session.get(Client, client_id)
    integration = accounting_service.accounting_integration(integration_id)
    if client is None or integration is None or not accounting_service.takes_time(integration):
        abort(404)
    return client, integration


def _time_preview_page(integration, client: Client, body: dict | None, problem: str | None, *,
                       stale: bool = False, status: int = 200):
    # A preview says how many wait; held_time is read again only when there is none to show.
    held = body["time_activities_waiting"] > 0 if body else bool(export_gate.held_time(db.session, integration)
                                                                   .get(client.id))
    return _render_preview(
        integration, client, body, problem, stale=stale, status=status, title=f"Preview of {client.name}'s time",
        sends=f"the customer (created when it does not exist there yet), then the first "
              f"{accounting_service.TIME_PREVIEW_LIMIT} time activities that wait, and how many wait",
        back=(url_for("accounting.customers", integration_id=integration.id), "Customers"),
        confirm_url=url_for("accounting.confirm_time", integration_id=integration.id, client_id=client.id),
        held=held)


@bp.get("/integrations/<int:integration_id>/clients/<int:client_id>/time-preview")
@admin_required
def time_preview(integration_id: int, client_id: int):
    client, integration = _client_and_time_integration(integration_id, client_id)
    try:
        body, problem = accounting_service.time_preview(client, integration), None
    except (ProviderError, TokenError) as exc:
        body, problem = None, exc.message
    return _time_preview_page(integration, client, body, problem)


@bp.post("/integrations/<int:integration_id>/clients/<int:client_id>/time-preview/confirm")
@admin_required
def confirm_time(integration_id: int, client_id: int):
    """Confirm the preview of a client's first export of time (the digest of what was shown)."""
    client, integration = _client_and_time_integration(integration_id, client_id)
    return _confirm_shown(
        lambda shown: accounting_service.confirm_time_export(client, integration, shown),
        lambda *args, **kwargs: _time_preview_page(integration, client, *args, **kwargs),
        url_for("accounting.customers", integration_id=integration.id),
        f"Confirmed: {client.name}'s exports go to {registry.get_spec(integration.provider).name} from now on, "
        "starting with the time that waited.")


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
