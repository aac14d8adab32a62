"""Calendar events imported from a connected calendar, and what each person did with them.

An event is one occurrence (recurring events arrive expanded into instances). It
is shown beside the time entries of the people it belongs to
(`CalendarEventPerson`: the owner of a per-user calendar, or the TimeHub users
among a shared calendar's organiser and attendees), and can be turned into a
time entry once per person. `CalendarSeriesChoice` remembers the project and
task a person picked for a recurring series, for its next occurrence.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin


class CalendarEvent(TimestampMixin, db.Model):
    __tablename__ = "calendar_events"
    __table_args__ = (Index("ix_calendar_events_starts", "starts_at"),
                      Index("ix_calendar_events_integration", "integration_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # The connection it was imported through: disconnecting it removes its suggestions
    # (sync_service.forget_imported). None only for rows older than migration 0015 that no
    # link names. No foreign key: integration rows are never deleted, and SQLite could add
    # one to an existing table only unnamed.
    integration_id: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime]       # naive UTC
    ends_at: Mapped[datetime]         # naive UTC, after starts_at
    # The recurring series this occurrence belongs to (None: a single event).
    series_key: Mapped[str | None] = mapped_column(String(300))
    # False for what must never be offered as time: all-day, declined, free, TimeHub's own.
    suggestible: Mapped[bool] = mapped_column(default=True)
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    # Cancelled or deleted at the provider.
    archived: Mapped[bool] = mapped_column(default=False)

    people = relationship("CalendarEventPerson", back_populates="event", cascade="all, delete-orphan",
                          passive_deletes=True)


class CalendarEventPerson(db.Model):
    """One TimeHub user an event belongs to, and the entry they made of it (once)."""

    __tablename__ = "calendar_event_people"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id", name="uq_calendar_event_people"),
        Index("ix_calendar_event_people_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("calendar_events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Set once, when the person turned the event into time; never cleared (a deleted
    # entry does not bring the suggestion back).
    converted_at: Mapped[datetime | None]
    time_entry_id: Mapped[int | None] = mapped_column(ForeignKey("time_entries.id", ondelete="SET NULL"))

    event = relationship("CalendarEvent", back_populates="people")


class CalendarSeriesChoice(TimestampMixin, db.Model):
    """The project and task a person last chose for a recurring series."""

    __tablename__ = "calendar_series_choices"
    __table_args__ = (UniqueConstraint("user_id", "series_key", name="uq_calendar_series_choices"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    series_key: Mapped[str] = mapped_column(String(300))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
