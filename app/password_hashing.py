"""Password hashes. werkzeug's scrypt unless the app's PASSWORD_HASH_METHOD says otherwise: only
the test suite sets it (to a cheap method, as it creates thousands of accounts); it is not read
from the environment, so a deployment cannot weaken it by accident."""
from __future__ import annotations

from functools import lru_cache

from flask import current_app, has_app_context
from werkzeug.security import check_password_hash, generate_password_hash

DEFAULT_METHOD = "scrypt"


def _method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD", DEFAULT_METHOD) if has_app_context() else DEFAULT_METHOD


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=_method())


def matches(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


@lru_cache(maxsize=4)
def _unguessable_hash(method: str) -> str:
    return generate_password_hash("no account has this password", method=method)


def spend_one_check(password: str) -> None:
    """As long as checking a real account's password: the answer for an unknown e-mail must not
    come sooner than for a wrong password."""
    check_password_hash(_unguessable_hash(_method()), password)
