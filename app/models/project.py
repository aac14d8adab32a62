from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin


BUDGET_KINDS = ("hours", "money")  # checked by the project form (no CHECK: see migration 0017)


class Project(TimestampMixin, db.Model):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    hourly_rate: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))
    archived: Mapped[bool] = mapped_column(default=False)
    # New entries on this project start billable or not (the entry form may still change it).
    billable_by_default: Mapped[bool] = mapped_column(default=True)
    # An optional budget: hours of work, or money (billable hours x rate) in the client's currency.
    budget_kind: Mapped[str | None] = mapped_column(String(10))
    budget_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))

    client = relationship("Client", back_populates="projects")
    tasks = relationship("Task", back_populates="project", cascade="all, delete-orphan", passive_deletes=True,
                         order_by="Task.id")
