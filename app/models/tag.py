from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin

TAG_NAME_MAX = 40

# Which tags an entry carries; both sides cascade, so deleting an entry or a tag drops the pairs.
time_entry_tags = Table(
    "time_entry_tags", db.metadata,
    Column("time_entry_id", ForeignKey("time_entries.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(TimestampMixin, db.Model):
    """A label on time entries, from the team's one list (anyone may add to it)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique case-insensitively: tag_service looks names up in lower case before creating one.
    name: Mapped[str] = mapped_column(String(TAG_NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(TAG_NAME_MAX), unique=True)
