"""Single-use, expiring links for invitations and password resets.

The link carries "<id>.<secret>"; only the SHA-256 digest of the secret is stored,
so a copy of the database opens no account, and the digest is compared in constant
time (hmac.compare_digest) after the row is found by its id."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow

PURPOSES = ("invite", "reset")


class AccountToken(db.Model):
    __tablename__ = "account_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(10))
    email: Mapped[str] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(10), default="user", server_default="user")  # of an invited account
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user = relationship("User")

    @staticmethod
    def digest(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def new_secret(self) -> str:
        """Set a fresh secret; the plain value is returned once and never stored."""
        secret = secrets.token_urlsafe(32)
        self.token_digest = self.digest(secret)
        return secret

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.token_digest, self.digest(secret))

    def is_usable(self, now: datetime | None = None) -> bool:
        return self.used_at is None and (now or utcnow()) < self.expires_at
