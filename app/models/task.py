from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin

TASK_STATUSES = ("todo", "in_progress", "done")
TASK_STATUS_LABELS = {"todo": "To do", "in_progress": "In progress", "done": "Done"}


class Task(TimestampMixin, db.Model):
    __tablename__ = "tasks"
    __table_args__ = (CheckConstraint("status IN ('todo', 'in_progress', 'done')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="todo")
    # Set when the task mirrors an item at a provider (e.g. "PROJ-12" and its URL).
    external_key: Mapped[str | None] = mapped_column(String(100))
    external_url: Mapped[str | None] = mapped_column(String(1000))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    archived: Mapped[bool] = mapped_column(default=False)

    project = relationship("Project", back_populates="tasks")
    assignee = relationship("User")
