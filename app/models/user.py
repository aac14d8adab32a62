from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import password_hashing
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
    # Set when an admin deactivates the account: it cannot sign in, its history stays.
    deactivated_at: Mapped[datetime | None]
    # The user's own hourly rate, used where a project has none (NULL: the team's default).
    hourly_rate: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))

    # Deleting a user removes what is theirs alone (ORM and database agree).
    integrations = relationship("Integration", back_populates="user", cascade="all, delete-orphan", passive_deletes=True)
    api_tokens = relationship("ApiToken", cascade="all, delete-orphan", passive_deletes=True)
    time_entries = relationship("TimeEntry", back_populates="user", cascade="all, delete-orphan", passive_deletes=True)
    sessions = relationship("UserSession", cascade="all, delete-orphan", passive_deletes=True)

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

    # The id Flask-Login keeps in the cookie: "<user id>:<session id>:<token>", set by
    # session_service when it starts or finds that session (never stored on this row).
    session_key = None
    session_id = None  # the UserSession row this request is signed in with
    session_seen_at = None  # that row's last_seen_at when it was read

    def get_id(self) -> str:
        if not self.session_key:
            raise RuntimeError("sign in through session_service.sign_in, which starts a session")
        return self.session_key

    def set_password(self, password: str) -> None:
        self.password_hash = password_hashing.hash_password(password)

    def check_password(self, password: str) -> bool:
        return password_hashing.matches(self.password_hash, password)

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
