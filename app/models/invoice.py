from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin

INVOICE_STATUSES = ("draft", "issued", "paid")
# How an invoice's lines group its time, chosen when it is created.
LINE_GROUPINGS = ("project", "task", "entry")
CENTS = Decimal("0.01")


class Invoice(TimestampMixin, db.Model):
    __tablename__ = "invoices"
    __table_args__ = (CheckConstraint("status IN ('draft', 'issued', 'paid')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    issue_date: Mapped[date]
    due_date: Mapped[date | None]
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))  # percent
    notes: Mapped[str] = mapped_column(String(2000), default="")
    # The dates the invoice covers (inclusive); None on invoices made before they were kept.
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    # The zone the period (and per-entry dates) are read in: the creating admin's.
    timezone: Mapped[str | None] = mapped_column(String(64))
    line_grouping: Mapped[str] = mapped_column(String(10), default="project", server_default="project")
    # The seller as printed, copied from SellerDetails when the invoice is issued (None on a draft).
    seller_name: Mapped[str | None] = mapped_column(String(200))
    seller_address: Mapped[str | None] = mapped_column(String(1000))
    seller_tax_id: Mapped[str | None] = mapped_column(String(64))
    seller_payment_terms: Mapped[str | None] = mapped_column(String(2000))

    client = relationship("Client", back_populates="invoices")
    lines = relationship("InvoiceLine", back_populates="invoice", cascade="all, delete-orphan",
                         passive_deletes=True, order_by="InvoiceLine.id")
    time_entries = relationship("TimeEntry", back_populates="invoice")

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0")).quantize(CENTS)

    @property
    def tax(self) -> Decimal:
        return (self.subtotal * self.tax_rate / 100).quantize(CENTS)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String(500))
    hours: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))

    invoice = relationship("Invoice", back_populates="lines")

    @property
    def amount(self) -> Decimal:
        return (self.hours * self.unit_price).quantize(CENTS)
