"""Server-side sessions: each signed-in browser is a UserSession row, ended on its own.

The cookie (signed by Flask) holds Flask-Login's alternative id "<user id>:<session
id>:<token>"; the row holds the token's SHA-256 digest. Deleting the row ends that
session for good, also for any copy of its cookie. See docs/design.md, "Sessions".
"""
from __future__ import annotations

import hmac
from datetime import timedelta

from flask import Flask, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import User, UserSession
from app.models.base import utcnow

MAX_AGE = timedelta(days=30)  # a session ends this long after sign-in, however busy
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often
_MAX_ID_DIGITS = 18


def _key(user_id: int, row: UserSession, token: str) -> str:
    return f"{user_id}:{row.id}:{token}"


def start(user: User, user_agent: str | None = None) -> str:
    """A new session for an active `user`, committed; its alternative id for the cookie."""
    if not user.is_active:
        raise ValueError("a deactivated account gets no session")
    user_id = user.id
    # End the read transaction first, so the writes below wait their turn on SQLite
    # (a deferred transaction that read cannot; see app/sqlite_writes.py).
    db.session.commit()
    purge_expired()
    row, token = UserSession.issue(user_id, user_agent)
    db.session.add(row)
    db.session.commit()
    user.session_key, user.session_id = _key(user_id, row, token), row.id
    return user.session_key


def sign_in(user: User) -> bool:
    """Start a session for `user` in this browser; False (and no session) when deactivated."""
    if not user.is_active:
        return False
    start(user, request.user_agent.string)
    return login_user(user)


def find(alternative_id: str | None) -> User | None:
    """The active user whose live session this id names, else None."""
    parts = (alternative_id or "").split(":")
    if len(parts) != 3:
        return None
    user_id, session_id, token = parts
    if not all(part.isascii() and part.isdigit() and len(part) <= _MAX_ID_DIGITS for part in (user_id, session_id)) \
            or not token or len(token) > 128:
        return None
    row = db.session.get(UserSession, int(session_id))
    if row is None or row.user_id != int(user_id) or row.created_at < utcnow() - MAX_AGE \
            or not hmac.compare_digest(row.token_digest.encode(), UserSession.digest(token).encode()):
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:  # a deactivated account's open sessions end with its next request
        return None
    user.session_key, user.session_id, user.session_seen_at = alternative_id, row.id, row.last_seen_at
    return user


def sign_out() -> None:
    """End this browser's session only; the user's other sessions go on."""
    session_id = current_user.session_id
    logout_user()
    db.session.execute(delete(UserSession).where(UserSession.id == session_id))
    db.session.commit()


def end_all(user: User, *, keep: int | None = None) -> None:
    """End every session of `user` but the one with id `keep`; the caller commits."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    db.session.execute(query)


def purge_expired() -> int:
    """Delete sessions past MAX_AGE (on sign-in and daily); the caller commits. How many went."""
    result = db.session.execute(delete(UserSession).where(UserSession.created_at < utcnow() - MAX_AGE))
    return result.rowcount


def touch() -> None:
    """Note when this session was last used, at most once a minute. Runs before the view,
    so the commits carry nothing else."""
    now = utcnow()
    seen_at = current_user.session_seen_at
    if seen_at is not None and seen_at > now - TOUCH_EVERY:
        return
    session_id = current_user.session_id
    # End the read transaction first, so the write below waits its turn on SQLite.
    db.session.commit()
    try:
        db.session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now))
        db.session.commit()
    except OperationalError:  # the database stayed locked past the busy timeout: the next request notes it
        db.session.rollback()
        return
    current_user.session_seen_at = now


def init_app(app: Flask) -> None:
    @app.before_request
    def note_last_seen():
        if "_user_id" in session and request.endpoint != "static" and current_user.is_authenticated:
            touch()
