"""Notifications waiting to be posted to a messaging integration (Slack, Teams).

One row per (integration, event key): the unique key is what makes "a message
is never sent twice for one event" and "one daily summary per day, however
many workers" hold; the database refuses the second row.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin, utcnow

# pending -> sending (claimed by one worker) -> sent | failed. A row whose post may have
# reached the provider unanswered (a lost answer, a worker gone mid-post: its claim older than
# NOTIFY_CLAIM_SECONDS) becomes failed, never pending again: a notice is posted at most once.
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")


class Notification(TimestampMixin, db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("integration_id", "event_key", name="uq_notifications_event"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))        # timer_started, daily_summary, ...
    event_key: Mapped[str] = mapped_column(String(200))   # "timer_started:entry:42", "daily_summary:2026-12-01"
    # The Notice's fields (title, lines, link), fixed when the event happened.
    notice: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    remote_id: Mapped[str | None] = mapped_column(String(200))  # the provider's message id
    last_error: Mapped[str | None] = mapped_column(String(1000))
