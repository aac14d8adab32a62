from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin


class RateSettings(TimestampMixin, db.Model):
    """The team's default hourly rate, the last step of project rate > user rate > default.

    One row at most (id 1); no row means a default of 0."""

    __tablename__ = "rate_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    default_hourly_rate: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))
