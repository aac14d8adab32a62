from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin, utcnow


class TimeEntry(TimestampMixin, db.Model):
    """Work done by one user. `ended_at` is NULL while the timer runs."""

    __tablename__ = "time_entries"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        # At most one running timer per user, enforced by the database.
        Index("ux_time_entries_running_timer", "user_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        Index("ix_time_entries_user_started", "user_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    billable: Mapped[bool] = mapped_column(default=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="SET NULL"), index=True)

    user = relationship("User", back_populates="time_entries")
    project = relationship("Project")
    task = relationship("Task")
    invoice = relationship("Invoice", back_populates="time_entries")
    tags = relationship("Tag", secondary="time_entry_tags", order_by="Tag.name_key")

    @property
    def is_running(self) -> bool:
        return self.ended_at is None

    @property
    def duration(self) -> timedelta:
        return (self.ended_at or utcnow()) - self.started_at

    @property
    def hours(self) -> float:
        return self.duration.total_seconds() / 3600
