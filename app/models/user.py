from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import TimestampMixin, utcnow

ROLES = ("admin", "user")


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'user')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(10), default="user")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Part of the id Flask-Login keeps in the session cookie (its "alternative id"):
    # a new value ends every session signed in with the old one.
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))
    # Set when an admin deactivates the account: it cannot sign in, its history stays.
    deactivated_at: Mapped[datetime | None]

    # Deleting a user removes what is theirs alone (ORM and database agree).
    integrations = relationship("Integration", back_populates="user", cascade="all, delete-orphan", passive_deletes=True)
    api_tokens = relationship("ApiToken", cascade="all, delete-orphan", passive_deletes=True)
    time_entries = relationship("TimeEntry", back_populates="user", cascade="all, delete-orphan", passive_deletes=True)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:
        """Flask-Login refuses to sign in an inactive user."""
        return self.deactivated_at is None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        self.session_token = secrets.token_hex(16)

    @classmethod
    def from_session_id(cls, alternative_id: str) -> "User | None":
        """The user a session's id names, if that session has not been ended since."""
        user_id, _, token = (alternative_id or "").partition(":")
        if not (user_id.isascii() and user_id.isdigit() and len(user_id) <= 18 and token):
            return None
        user = db.session.get(cls, int(user_id))
        if user is None or not hmac.compare_digest(user.session_token.encode(), token.encode()):
            return None
        return user

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class ApiToken(db.Model):
    """A personal API token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    user = relationship("User", overlaps="api_tokens")

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str) -> tuple["ApiToken", str]:
        """Create a token for `user`; the plain value is returned once and never stored."""
        plain = "th_" + secrets.token_urlsafe(32)
        return cls(user=user, name=name, token_digest=cls.digest(plain)), plain
