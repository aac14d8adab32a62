"""Settings from the environment (and a `.env` file in the working directory).

Every variable TimeHub reads is listed here and in the README; nothing else
reads `os.environ` except the provider endpoint overrides, which
`app.integrations.base.ProviderSpec` resolves per provider.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

log = logging.getLogger(__name__)


def instance_path() -> Path:
    """The folder holding the embedded database, job queue and generated keys. Created
    private (0700): SQLite and Huey create their files with the process umask, and the
    folder is what keeps other local users out of them. An existing folder is left as
    its owner set it."""
    path = Path(os.environ.get("TIMEHUB_INSTANCE", "instance")).resolve()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # another process created it first
            pass
    return path


def read_or_create_secret_file(path: Path, make_value, what: str) -> str:
    """Return the value stored in `path`, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    value = make_value()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process starting at the same moment is writing it
        for _ in range(50):
            if existing := path.read_text().strip():
                return existing
            time.sleep(0.02)
        raise
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    log.warning("No %s configured: generated one into %s. Back it up, or set it in the environment.", what, path)
    return value


def database_url(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'timehub.db'}"
    # Heroku-style URLs and plain postgresql:// should use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


MAX_PROXY_HOPS = 5


def proxy_hops(value: str) -> int:
    try:
        hops = int(value)
    except ValueError:
        raise SystemExit(f"TIMEHUB_PROXY_HOPS must be a whole number from 0 to {MAX_PROXY_HOPS}, not {value!r}")
    if not 0 <= hops <= MAX_PROXY_HOPS:
        raise SystemExit(f"TIMEHUB_PROXY_HOPS must be from 0 to {MAX_PROXY_HOPS}, not {hops}")
    return hops


LOG_FORMATS = ("text", "json")


def log_format() -> str:
    """TIMEHUB_LOG_FORMAT: "text" (the default, for a person at a terminal) or "json"
    (one object per line, for a log collector; app.logging_setup)."""
    value = (os.environ.get("TIMEHUB_LOG_FORMAT") or "text").strip().lower()
    if value not in LOG_FORMATS:
        raise SystemExit(f"TIMEHUB_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
    return value


def load_config() -> dict:
    instance = instance_path()
    secret_key = os.environ.get("TIMEHUB_SECRET_KEY") or read_or_create_secret_file(
        instance / "secret_key", lambda: secrets.token_urlsafe(48), "TIMEHUB_SECRET_KEY"
    )
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url(instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "TIMEHUB_QUEUE_NAME": os.environ.get("TIMEHUB_QUEUE_NAME", "timehub"),
        # Comma-separated Fernet keys, newest first; read by app.encryption.
        "TIMEHUB_ENCRYPTION_KEYS": os.environ.get("TIMEHUB_ENCRYPTION_KEYS", ""),
        # Public base URL when behind a reverse proxy; used for OAuth redirect URIs.
        "TIMEHUB_EXTERNAL_URL": (os.environ.get("TIMEHUB_EXTERNAL_URL") or "").rstrip("/") or None,
        # How many reverse proxies in front of TimeHub set X-Forwarded-For/-Proto/-Host; 0 trusts
        # none (a client could otherwise pick its own address, and its own sign-in limit).
        "TIMEHUB_PROXY_HOPS": proxy_hops(os.environ.get("TIMEHUB_PROXY_HOPS", "0")),
        "TIMEHUB_LOG_FORMAT": log_format(),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("TIMEHUB_SECURE_COOKIES", "0") == "1",
        "WTF_CSRF_TIME_LIMIT": None,  # tokens live as long as the session
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # `make sandbox` (tests/sandbox/): every page says its providers are local fakes.
        "TIMEHUB_SANDBOX": os.environ.get("TIMEHUB_SANDBOX", "0") == "1",
        **smtp_settings(),
    }


def smtp_settings() -> dict:
    """Outgoing mail for invitations and password resets (app.mailer); off without a host."""
    return {
        "TIMEHUB_SMTP_HOST": os.environ.get("TIMEHUB_SMTP_HOST") or None,
        "TIMEHUB_SMTP_PORT": int(os.environ.get("TIMEHUB_SMTP_PORT") or 587),
        "TIMEHUB_SMTP_USER": os.environ.get("TIMEHUB_SMTP_USER") or None,
        "TIMEHUB_SMTP_PASSWORD": os.environ.get("TIMEHUB_SMTP_PASSWORD") or None,
        "TIMEHUB_SMTP_FROM": os.environ.get("TIMEHUB_SMTP_FROM") or None,
        # starttls (port 587), ssl (port 465) or none (a relay on the same host or network)
        "TIMEHUB_SMTP_SECURITY": (os.environ.get("TIMEHUB_SMTP_SECURITY") or "starttls").lower(),
    }
