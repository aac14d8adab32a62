"""The seller's details printed on every invoice: one row, set by an admin."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow

NAME_MAX, ADDRESS_MAX, TAX_ID_MAX, PAYMENT_TERMS_MAX = 200, 1000, 64, 2000


class SellerDetails(db.Model):
    __tablename__ = "seller_details"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="", server_default="")
    address: Mapped[str] = mapped_column(String(ADDRESS_MAX), default="", server_default="")
    tax_id: Mapped[str] = mapped_column(String(TAX_ID_MAX), default="", server_default="")
    # Payment terms and bank details, printed as written.
    payment_terms: Mapped[str] = mapped_column(String(PAYMENT_TERMS_MAX), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
