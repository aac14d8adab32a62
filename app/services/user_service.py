"""Creating and changing user accounts, shared by the set-up page, admin pages and the CLI."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from app.extensions import db
from app.models import User

MIN_PASSWORD_LENGTH = 8


class UserError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise UserError(f"Invalid e-mail address: {exc}") from None


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"Unknown time zone: {name}") from None
    return name


def create_user(*, email: str, password: str, name: str | None = None, admin: bool = False,
                timezone: str = "UTC") -> User:
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if db.session.scalar(select(func.count(User.id)).where(User.email == email)):
        raise UserError(f"A user with e-mail {email} already exists.")
    user = User(email=email, name=(name or email.split("@")[0]).strip(), role="admin" if admin else "user",
                timezone=check_timezone(timezone))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def has_users() -> bool:
    return bool(db.session.scalar(select(func.count(User.id))))
