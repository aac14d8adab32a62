"""Invitations and password resets: single-use, expiring links (app.models.AccountToken).

- An admin invites an address with a role; the link lets its holder choose a name and
  password once, within INVITE_LIFETIME. A newer invitation to the same address, or
  withdrawing it, ends the older link.
- A password reset is asked for by address. Whether an account exists is never told:
  the page answers the same for every address, and the mail (when there is an active
  account) is sent by a queued job, so the answer also takes the same time.
  A reset link works once within RESET_LIFETIME; using it, or a newer request, ends
  the others, and the new password ends every session of the account.
- A link is "<row id>.<secret>"; the row is found by id and the secret's digest
  compared in constant time. A link used once is marked in the same UPDATE that checks
  it was unused, so two requests with one link cannot both succeed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app import mailer
from app.extensions import db
from app.inputs import optional_id
from app.models import AccountToken, User
from app.models.base import utcnow
from app.models.user import ROLES
from app.services import user_service

INVITE_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(hours=1)
LINK_MAX = 100  # "<id>.<43 characters>" with room to spare; longer is not ours
INVALID_LINK = "This link is not valid: it was used already, has expired, or was replaced by a newer one."


class LinkInvalid(Exception):
    message = INVALID_LINK


@dataclass(frozen=True)
class Issued:
    row: AccountToken
    link_token: str  # "<id>.<secret>": shown or mailed once, never stored


def _issue(row: AccountToken) -> Issued:
    secret = row.new_secret()
    db.session.add(row)
    db.session.flush()
    return Issued(row, f"{row.id}.{secret}")


def _withdraw(purpose: str, *, email: str | None = None, user_id: int | None = None) -> None:
    query = update(AccountToken).where(AccountToken.purpose == purpose, AccountToken.used_at.is_(None))
    query = query.where(AccountToken.email == email) if email is not None else query.where(
        AccountToken.user_id == user_id)
    db.session.execute(query.values(used_at=utcnow()).execution_options(synchronize_session=False))


# ---- invitations -----------------------------------------------------------------------------

def invite(email: str, role: str) -> Issued:
    """A new invitation (committed); UserError when the address is invalid or has an account."""
    email = user_service.check_new_email(email)
    if role not in ROLES:
        raise user_service.UserError(f"Unknown role: {role}", field="role")
    _withdraw("invite", email=email)
    issued = _issue(AccountToken(purpose="invite", email=email, role=role,
                                 expires_at=utcnow() + INVITE_LIFETIME))
    db.session.commit()
    return issued


def pending_invitations() -> list[AccountToken]:
    return list(db.session.scalars(
        select(AccountToken).where(AccountToken.purpose == "invite", AccountToken.used_at.is_(None),
                                   AccountToken.expires_at > utcnow()).order_by(AccountToken.created_at.desc())))


def withdraw_invitation(token_id: int) -> bool:
    row = db.session.get(AccountToken, token_id)
    if row is None or row.purpose != "invite" or not row.is_usable():
        return False
    row.used_at = utcnow()
    db.session.commit()
    return True


def accept_invitation(link_token: str, *, name: str, password: str, timezone: str) -> User:
    """Create the invited account; the link is spent in the same transaction."""
    row = find("invite", link_token)
    user_service.check_password(password, row.email)  # a refused password leaves the link usable
    _spend(row)
    try:
        return user_service.create_user(email=row.email, password=password, name=name,
                                        admin=row.role == "admin", timezone=timezone)
    except user_service.UserError:
        db.session.rollback()
        raise


def invitation_mail(issued: Issued, link: str, *, invited_by: User) -> tuple[str, str]:
    hours = int(INVITE_LIFETIME.total_seconds() // 3600)
    body = (f"{invited_by.name} invites you to TimeHub.\n\n"
            f"Open this link to choose your name and password (it works once, for {hours // 24} days):\n\n"
            f"{link}\n\nIf you did not expect this, ignore this message.\n")
    return "You are invited to TimeHub", body


# ---- password resets -------------------------------------------------------------------------

def request_reset(email: str) -> Issued | None:
    """A reset link for the active account with this address, or None (nobody to tell)."""
    try:
        email = user_service.normalise_email(email)
    except user_service.UserError:
        return None
    user = db.session.scalars(select(User).where(User.email == email)).one_or_none()
    if user is None or not user.is_active:
        return None
    _withdraw("reset", user_id=user.id)
    issued = _issue(AccountToken(purpose="reset", email=user.email, user_id=user.id,
                                 expires_at=utcnow() + RESET_LIFETIME))
    db.session.commit()
    return issued


def send_reset_mail(email: str, base_url: str) -> bool:
    """The job's work: mail a reset link if the address has an active account."""
    issued = request_reset(email)
    if issued is None:
        return False
    minutes = int(RESET_LIFETIME.total_seconds() // 60)
    mailer.send(current_app.config, to=issued.row.email, subject="Reset your TimeHub password", body=(
        "Someone (hopefully you) asked to reset the password of your TimeHub account.\n\n"
        f"Open this link to choose a new one (it works once, for {minutes} minutes):\n\n"
        f"{base_url.rstrip('/')}/password/reset/{issued.link_token}\n\n"
        "If you did not ask for this, ignore this message: your password stays as it is.\n"))
    return True


def reset_password(link_token: str, password: str) -> User:
    row = find("reset", link_token)
    user = row.user
    if user is None or not user.is_active:
        raise LinkInvalid()
    user_service.check_password(password, user.email)  # a refused password leaves the link usable
    _spend(row)
    _withdraw("reset", user_id=user.id)
    user_service.reset_password(user, password)  # commits; ends every session of the account
    return user


# ---- links -----------------------------------------------------------------------------------

def find(purpose: str, link_token: str) -> AccountToken:
    """The usable row of this link; LinkInvalid for anything else, always with the same message."""
    row_text, _, secret = (link_token or "")[:LINK_MAX + 1].partition(".")
    row_id = optional_id(row_text)  # within the id column's range, so PostgreSQL is never asked beyond it
    if len(link_token or "") > LINK_MAX or row_id is None or not secret:
        raise LinkInvalid()
    row = db.session.get(AccountToken, row_id)
    if row is None or not row.matches(secret) or row.purpose != purpose or not row.is_usable():
        raise LinkInvalid()
    return row


def _spend(row: AccountToken) -> None:
    """Mark the link used, only if it still is unused: of two requests, one wins."""
    spent = db.session.execute(
        update(AccountToken).where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if spent != 1:
        db.session.rollback()
        raise LinkInvalid()
