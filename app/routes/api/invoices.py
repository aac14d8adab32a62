"""Invoices, for administrators (as the invoice pages: rates and totals are theirs): read,
create a draft from a client's time, change a draft's terms, issue, mark paid; the rules
are app.services.invoice_service's."""
from __future__ import annotations

from decimal import Decimal

from flask import jsonify
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Invoice
from app.models.invoice import INVOICE_STATUSES
from app.routes.api.blueprint import bp
from app.routes.api.support import (
    body_day,
    caller,
    check_if_match,
    conflict,
    invalid,
    iso,
    json_body,
    list_response,
    not_found,
    page_of,
    query_choice,
    query_id,
    require_admin,
    with_etag,
)
from app.services import invoice_service
from app.services.invoice_service import InvoiceError, InvoiceRequest


def invoice_json(invoice: Invoice) -> dict:
    return {
        "id": invoice.id, "number": invoice.number, "client_id": invoice.client_id, "currency": invoice.currency,
        "status": invoice.status, "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "tax_rate": f"{invoice.tax_rate:.2f}", "notes": invoice.notes,
        "subtotal": str(invoice.subtotal), "tax": str(invoice.tax), "total": str(invoice.total),
        "lines": [{"id": line.id, "description": line.description, "hours": f"{line.hours:.2f}",
                   "unit_price": f"{line.unit_price:.2f}", "amount": str(line.amount)} for line in invoice.lines],
        "created_at": iso(invoice.created_at), "updated_at": iso(invoice.updated_at),
    }


@bp.get("/invoices")
def list_invoices():
    require_admin()
    query = select(Invoice).options(selectinload(Invoice.lines))
    if (status := query_choice("status", INVOICE_STATUSES)) is not None:
        query = query.where(Invoice.status == status)
    if (client_id := query_id("client_id")) is not None:
        query = query.where(Invoice.client_id == client_id)
    invoices, next_cursor = page_of(query, (Invoice.id,), descending=True)
    return list_response([invoice_json(i) for i in invoices], next_cursor)


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise not_found("invoice")
    return invoice


@bp.get("/invoices/<id:invoice_id>")
def get_invoice(invoice_id: int):
    require_admin()
    return jsonify(invoice_json(_invoice_or_404(invoice_id)))


def _terms(body: dict, invoice: Invoice | None = None) -> dict:
    """Due date, tax rate and notes from the body, the invoice's own where it is silent."""
    return {"due_date": body_day(body, "due_date") if "due_date" in body else (invoice.due_date if invoice else None),
            "tax_rate": Decimal(body["tax_rate"]) if "tax_rate" in body else
            (invoice.tax_rate if invoice else Decimal("0")),
            "notes": body.get("notes", invoice.notes if invoice else "")}


@bp.post("/invoices")
def create_invoice():
    require_admin()
    body = json_body("InvoiceInput")
    terms = _terms(body)
    if terms["tax_rate"] > 100:
        raise invalid({"tax_rate": "At most 100 percent."})
    try:
        invoice = invoice_service.create_invoice(InvoiceRequest(
            client_id=body["client_id"], start=body_day(body, "start"), end=body_day(body, "end"),
            issue_date=body_day(body, "issue_date"), timezone=caller().timezone, **terms))
    except InvoiceError as exc:
        raise invalid({"invoice": exc.message}) from None
    return with_etag(jsonify(invoice_json(invoice))), 201


@bp.patch("/invoices/<id:invoice_id>")
def update_invoice(invoice_id: int):
    require_admin()
    invoice = _invoice_or_404(invoice_id)
    body = json_body("InvoiceUpdate")
    check_if_match(invoice_json(invoice))
    if invoice.status != "draft":
        raise conflict(f"Invoice {invoice.number} is {invoice.status}; only drafts can be changed.")
    terms = _terms(body, invoice)
    if terms["tax_rate"] > 100:
        raise invalid({"tax_rate": "At most 100 percent."})
    try:
        invoice_service.update_draft(invoice, **terms)
    except InvoiceError as exc:
        db.session.rollback()
        raise invalid({"due_date": exc.message}) from None
    return with_etag(jsonify(invoice_json(invoice)))


def _move(invoice_id: int, status: str):
    require_admin()
    invoice = _invoice_or_404(invoice_id)
    try:
        invoice_service.move_to(invoice, status)
    except InvoiceError as exc:
        raise conflict(exc.message) from None
    return with_etag(jsonify(invoice_json(invoice)))


@bp.post("/invoices/<id:invoice_id>/issue")
def issue_invoice(invoice_id: int):
    return _move(invoice_id, "issued")


@bp.post("/invoices/<id:invoice_id>/pay")
def pay_invoice(invoice_id: int):
    return _move(invoice_id, "paid")
