"""Creating and changing user accounts, shared by the set-up page, admin pages and the CLI."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select

from app import emails, password_hashing, passwords
from app.extensions import db
from app.models import ExternalLink, OutboxItem, TimeEntry, User
from app.models.base import utcnow
from app.models.user import ROLES
from app.services import session_service
from app.timezones import COMMON_TIMEZONES

MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH


class UserError(Exception):
    def __init__(self, message: str, field: str = "email"):
        super().__init__(message)
        self.message = message
        self.field = field  # the form field the message belongs under


def normalise_email(email: str) -> str:
    try:
        return emails.normalise(email)
    except emails.InvalidEmail as exc:
        raise UserError(exc.message) from None


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"Unknown time zone: {name}") from None
    return name


def timezone_choices(current: str | None = None) -> list[str]:
    """The zones a select offers: the common list, plus a user's current zone when
    it is valid but not in that list (e.g. "US/Eastern" given to the CLI)."""
    if current and current not in COMMON_TIMEZONES:
        return [current, *COMMON_TIMEZONES]
    return COMMON_TIMEZONES


def check_new_email(email: str) -> str:
    """The normalised address for a new account; UserError when invalid or taken."""
    email = normalise_email(email)
    if db.session.scalar(select(func.count(User.id)).where(User.email == email)):
        raise UserError(f"A user with e-mail {email} already exists.")
    return email


def create_user(*, email: str, password: str, name: str | None = None, admin: bool = False,
                timezone: str = "UTC") -> User:
    email = check_new_email(email)
    check_password(password, email)
    user = User(email=email, name=(name or email.split("@")[0]).strip(), role="admin" if admin else "user",
                timezone=check_timezone(timezone))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def has_users() -> bool:
    return bool(db.session.scalar(select(func.count(User.id))))


def check_password(password: str, email: str | None = None) -> str:
    """The password, or UserError saying why it may not be used (app.passwords)."""
    problem = passwords.password_problem(password, email)
    if problem:
        raise UserError(problem, field="password")
    return password


def authenticate(email: str, password: str) -> User | None:
    """The account with this e-mail and password, or None. An unknown e-mail costs one
    password hash too, so the time of the answer does not tell which accounts exist."""
    user = db.session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()
    if user is None:
        password_hashing.spend_one_check(password)
        return None
    return user if user.check_password(password) else None


LAST_ADMIN = "This is the only admin account; make another user an admin first."


def _is_only_admin(user: User, *, lock: bool) -> bool:
    """With `lock`, the admin rows stay locked until commit (PostgreSQL), so that two
    admins demoting or deleting each other at the same moment cannot both succeed."""
    query = select(User.id).where(User.role == "admin")
    admins = list(db.session.scalars(query.with_for_update() if lock else query))
    return user.is_admin and admins == [user.id]


def update_user(user: User, *, name: str, role: str, timezone: str) -> User:
    """Change a user's name, role and time zone (admin page)."""
    if role not in ROLES:
        raise UserError(f"Unknown role: {role}")
    if role != "admin" and _is_only_admin(user, lock=True):
        raise UserError(LAST_ADMIN)
    user.name = name.strip()
    user.role = role
    user.timezone = check_timezone(timezone)
    db.session.commit()
    return user


def reset_password(user: User, password: str, *, keep_session: int | None = None) -> None:
    """A new password ends every session the user has, but `keep_session` (the id of the
    session that changed its own password, which goes on)."""
    user.set_password(check_password(password, user.email))
    session_service.end_all(user, keep=keep_session)
    db.session.commit()


def sign_out_everywhere(user: User) -> None:
    session_service.end_all(user)
    db.session.commit()


def entry_count(user: User) -> int:
    return db.session.scalar(select(func.count(TimeEntry.id)).where(TimeEntry.user_id == user.id))


def deletion_blocker(user: User, *, acting: User, lock: bool = False) -> str | None:
    """Why `acting` may not delete `user`, or None. An account with time entries has a
    history the team's reports and invoices rest on: it is deactivated, not deleted."""
    if user.id == acting.id:
        return "You cannot delete your own account."
    if _is_only_admin(user, lock=lock):
        return LAST_ADMIN
    entries = entry_count(user)
    if entries:
        return (f"{user.name} has {entries} time entr{'y' if entries == 1 else 'ies'}: deactivate the account "
                "instead, which keeps them. Only accounts without any history can be deleted.")
    return None


def deactivation_blocker(user: User, *, acting: User, lock: bool = False) -> str | None:
    if user.id == acting.id:
        return "You cannot deactivate your own account."
    if _is_only_admin(user, lock=lock):
        return LAST_ADMIN
    return None


def deactivate_user(user: User, *, acting: User) -> None:
    """Switch the account off: it cannot sign in (sessions and API tokens stop working)
    and leaves the pickers; its time entries, tasks and integrations stay as they are."""
    blocker = deactivation_blocker(user, acting=acting, lock=True)
    if blocker:
        raise UserError(blocker)
    if user.deactivated_at is None:
        user.deactivated_at = utcnow()
    session_service.end_all(user)  # refused at their next request anyway; no row outlives the account's use
    db.session.commit()


def reactivate_user(user: User) -> None:
    user.deactivated_at = None
    db.session.commit()


def active_users() -> list[User]:
    """Who the pickers offer (people to assign or to show), by name."""
    return list(db.session.scalars(select(User).where(User.deactivated_at.is_(None))
                                   .order_by(func.lower(User.name), User.id)))


def delete_user(user: User, *, acting: User) -> None:
    """Delete an account without history, with everything that is theirs alone: API
    tokens, per-user integrations and their credentials (the foreign keys cascade).

    Accounts with time entries are refused (see deletion_blocker). Should an entry
    appear meanwhile, the links to remote copies and the waiting pushes still go
    with it, so a later entry that happens to get its id is never taken for it."""
    blocker = deletion_blocker(user, acting=acting, lock=True)
    if blocker:
        raise UserError(blocker)
    entry_ids = select(TimeEntry.id).where(TimeEntry.user_id == user.id).scalar_subquery()
    for model in (ExternalLink, OutboxItem):
        db.session.execute(delete(model).where(model.local_kind == "time_entry", model.local_id.in_(entry_ids)))
    db.session.delete(user)
    db.session.commit()
