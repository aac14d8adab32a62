"""One signed-in browser of a user: the server-side half of a session cookie."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow

USER_AGENT_MAX = 200


class UserSession(db.Model):
    """Only the SHA-256 digest of the token is stored, so a copy of the database signs nobody in."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX))

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user_id: int, user_agent: str | None) -> tuple["UserSession", str]:
        """A new session row and its plain token (kept only in the cookie)."""
        token = secrets.token_urlsafe(32)
        row = cls(user_id=user_id, token_digest=cls.digest(token), user_agent=(user_agent or "")[:USER_AGENT_MAX] or None)
        return row, token
