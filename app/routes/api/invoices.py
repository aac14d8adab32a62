"""Invoices, read-only and for administrators (as the invoice pages): rates and totals are theirs."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Invoice
from app.models.invoice import INVOICE_STATUSES
from app.routes.api.blueprint import bp
from app.routes.api.support import iso, list_response, not_found, page_of, query_choice, query_id, require_admin


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


@bp.get("/invoices/<id:invoice_id>")
def get_invoice(invoice_id: int):
    require_admin()
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise not_found("invoice")
    return jsonify(invoice_json(invoice))
