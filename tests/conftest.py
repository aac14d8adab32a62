"""Shared fixtures. Every test that uses `app` runs once on SQLite (with the
SQLite job queue) and, when DATABASE_URL is set, once more on that PostgreSQL
server (with the Redis job queue when REDIS_URL is set)."""
from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db as _db
from app.services.user_service import create_user
from tests.contract import SPECS_DIR
from tests.fakes.server import CHECKS, DescriptionViolation

POSTGRES_URL = os.environ.get("DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
ENCRYPTION_KEY = Fernet.generate_key().decode()
PASSWORD = "correct horse battery"
TEST_PASSWORD_HASH = "pbkdf2:sha256:1000"


pytest_plugins = ["pytester"]  # tests/unit/test_timeouts.py runs pytest on a hanging test


def pytest_addoption(parser):
    parser.addini("slow_timeout", "time limit in seconds of a test marked slow (pytest-timeout's for the rest)",
                  default="600")


def pytest_collection_modifyitems(config, items):
    """A test marked slow gets the larger limit, unless it sets its own with @pytest.mark.timeout."""
    slow_limit = float(config.getini("slow_timeout"))
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(slow_limit))


def pytest_report_header(config):
    if not SPECS_DIR.is_dir():
        return f"fake providers: request validation skipped, {SPECS_DIR} is absent (no ../shared/specs)"
    return f"fake providers: every request is validated against {SPECS_DIR}"


@pytest.fixture(autouse=True)
def requests_follow_the_descriptions(request):
    """Fail the test if a fake received a request its provider's API description does not allow
    (tests/fakes/server.py), unless the test says why it sends such requests:
    `@pytest.mark.off_description("reason")`."""
    marker = request.node.get_closest_marker("off_description")
    reason = (marker.args[0] if marker.args else marker.kwargs.get("reason")) if marker else None
    if marker is not None and not (isinstance(reason, str) and reason.strip()):
        pytest.fail("@pytest.mark.off_description needs a reason: why this test sends off-description requests")
    CHECKS.take()          # what an earlier test left (a module-scoped fake) is not this test's
    CHECKS.waived = reason
    yield
    CHECKS.waived = None
    lines = CHECKS.take()
    if lines:
        raise DescriptionViolation.of(lines)


def _psycopg_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _migrate(url: str, instance: Path) -> None:
    from flask_migrate import upgrade
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance)})
    with app.app_context():
        upgrade()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory):
    """One migrated database per backend for the whole session:
    a SQLite template file copied per test, and a throw-away PostgreSQL database."""
    os.environ.setdefault("TIMEHUB_ENCRYPTION_KEYS", ENCRYPTION_KEY)
    root = tmp_path_factory.mktemp("databases")
    os.environ["TIMEHUB_INSTANCE"] = str(root)
    created = {}
    template = root / "template.db"
    _migrate(f"sqlite:///{template}", root)
    created["sqlite"] = template
    admin_engine = None
    if POSTGRES_URL:
        server = make_url(_psycopg_url(POSTGRES_URL))
        name = f"timehub_test_{uuid.uuid4().hex[:10]}"
        admin_engine = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created["postgresql"] = server.set(database=name).render_as_string(hide_password=False)
        _migrate(created["postgresql"], root)
    yield created
    if admin_engine is not None:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(created["postgresql"]).database}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, migrated_databases, tmp_path):
    backend = request.param
    if backend == "sqlite":
        path = tmp_path / "timehub.db"
        shutil.copy(migrated_databases["sqlite"], path)
        yield f"sqlite:///{path}"
        return
    url = migrated_databases["postgresql"]
    yield url
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


class IsolatedClient(FlaskClient):
    """Each request in a fresh app context, as in production: the fixture's own
    context (for direct database access in tests) must not share `g` (the
    signed-in user, the CSRF token) or the database session with requests."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(instance))
    monkeypatch.setenv("TIMEHUB_ENCRYPTION_KEYS", ENCRYPTION_KEY)
    monkeypatch.setenv("TIMEHUB_SECRET_KEY", "test-secret-key")
    # The two stacks the project runs on: SQLite with the SQLite job queue, and
    # PostgreSQL with Redis (when REDIS_URL is set; else the SQLite queue).
    redis_url = os.environ.get("REDIS_URL") if database_url.startswith("postgresql") else None
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                              # a cheap hash: the suite makes thousands of accounts (app/password_hashing.py)
                              "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
                              # each test its own job queue, also on a shared Redis
                              "TIMEHUB_QUEUE_NAME": f"test-{uuid.uuid4().hex[:12]}"})
    application.test_client_class = IsolatedClient
    with application.app_context():
        yield application
        _db.session.remove()
        _db.engine.dispose()
    application.extensions["timehub.jobs"].storage.flush_all()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, *, admin: bool = False, timezone: str = "UTC", name: str | None = None):
        email = email or f"user{next(counter)}@example.com"
        return create_user(email=email, password=PASSWORD, admin=admin, timezone=timezone, name=name)

    return make


@pytest.fixture
def admin(make_user):
    return make_user("admin@example.com", admin=True, name="Ada Admin")


@pytest.fixture
def user(make_user):
    return make_user("user@example.com", name="Ulla User")


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, page: str = "/login") -> str:
    """A valid CSRF token for the client's session, read from a rendered form."""
    html = client.get(page).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def login(client, user, password: str = PASSWORD):
    response = client.post("/login", data={"email": user.email, "password": password,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def post_form(client, url: str, data: dict | None = None, *, page: str | None = None, **kwargs):
    """POST like a browser: with the CSRF token of a page the user could see."""
    payload = dict(data or {})
    payload["csrf_token"] = csrf_token(client, page or "/integrations")
    return client.post(url, data=payload, **kwargs)


@pytest.fixture
def admin_client(client, admin):
    return login(client, admin)


@pytest.fixture
def user_client(app, user):
    return login(app.test_client(), user)
