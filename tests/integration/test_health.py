"""/healthz and /readyz (app/routes/health.py): what a load balancer sees when all is
well, when the database is behind the newest migration, and when the database or
the job queue does not answer. Runs on SQLite (SQLite queue) and PostgreSQL (Redis)."""
from __future__ import annotations

import socket

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event, text

from app import MIGRATIONS_DIR, create_app, jobs, tuning
from app.extensions import db as _db

PASSWORD_IN_URL = "hunter2-not-for-answers"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port():
    """A local port that takes connections (the kernel's backlog) and never says a word:
    a database or Redis host that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def head_and_previous() -> tuple[str, str]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    return head, script.get_revision(head).down_revision


@pytest.fixture
def stamped(app):
    """Stamp the test database at another revision (None: no revision at all), as
    `alembic stamp` would, and at the head again afterwards: the PostgreSQL test
    database is shared by the whole session."""
    head, _previous = head_and_previous()

    def stamp(revision: str | None) -> None:
        with _db.engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            if revision is not None:
                connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:revision)"),
                                   {"revision": revision})

    yield stamp
    stamp(head)


@pytest.fixture
def other_app(app):
    """Build a second app (a broken database or queue) for one test; the job queue is
    one per process, so the test app's own queue is put back afterwards."""
    made = []

    def make(**overrides):
        application = create_app({"TESTING": True, "RATELIMIT_STORAGE_URI": "memory://", **overrides})
        made.append(application)
        return application

    yield make
    for application in made:
        with application.app_context():
            _db.engine.dispose()
    jobs.init_app(app)


def statements_during(app, fn):
    seen = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(_db.engine, "before_cursor_execute", note)
    try:
        result = fn()
    finally:
        event.remove(_db.engine, "before_cursor_execute", note)
    return result, seen


def test_healthz_answers_without_the_database_or_a_cookie(app, client):
    # No account exists yet: every page leads to the first-run setup, the health checks do not.
    response, statements = statements_during(app, lambda: client.get("/healthz"))
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert statements == []
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_answers_while_the_database_is_down(other_app):
    broken = other_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://timehub:{PASSWORD_IN_URL}@127.0.0.1:{closed_port()}/x")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 200


def test_readyz_names_every_check_when_all_is_well(app, client):
    head, _previous = head_and_previous()
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "queue", "migrations"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["migrations"]["revision"] == head
    assert body["checks"]["queue"]["pending"] == 0
    assert "Set-Cookie" not in response.headers


def test_readyz_counts_waiting_jobs(app, client):
    jobs.sync_integration(123456)  # enqueued, never consumed here (the test's own queue)
    assert client.get("/readyz").get_json()["checks"]["queue"]["pending"] == 1


def test_readyz_refuses_a_database_behind_the_newest_migration(app, client, stamped):
    head, previous = head_and_previous()
    stamped(previous)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["migrations"]
    migrations = body["checks"]["migrations"]
    assert "behind" in migrations["reason"] and "timehub db upgrade" in migrations["reason"]
    assert (migrations["revision"], migrations["expected"]) == (previous, head)
    assert body["checks"]["database"]["ok"] and body["checks"]["queue"]["ok"]


def test_readyz_refuses_a_database_without_migrations(app, client, stamped):
    stamped(None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["migrations"]
    assert "no migrations applied" in response.get_json()["checks"]["migrations"]["reason"]


def test_readyz_accepts_a_database_ahead_of_this_code(app, client, stamped):
    """A newer release migrated the database while this process still runs: migrations
    are additive-first, so this process stays in the pool."""
    stamped("f00dfacecafe")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["migrations"]["note"] == "database is ahead of this code"


def test_readyz_refuses_an_unreachable_queue_without_saying_where_it_is(app, other_app):
    broken = other_app(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                       REDIS_URL=f"redis://:{PASSWORD_IN_URL}@127.0.0.1:{closed_port()}/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["queue"]
    assert body["checks"]["queue"]["reason"].startswith("job queue did not answer")
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]
    assert PASSWORD_IN_URL not in response.get_data(as_text=True)
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_readyz_refuses_an_unreachable_database_without_saying_where_it_is(other_app):
    broken = other_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://timehub:{PASSWORD_IN_URL}@127.0.0.1:{closed_port()}/x")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["database", "migrations"]
    assert body["checks"]["database"]["reason"] == "database did not answer (OperationalError)"
    assert body["checks"]["queue"]["ok"]
    assert PASSWORD_IN_URL not in response.get_data(as_text=True)
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_readyz_gives_up_on_a_queue_that_takes_the_connection_and_never_answers(app, other_app, silent_port,
                                                                              monkeypatch):
    monkeypatch.setattr(tuning, "QUEUE_REDIS_TIMEOUT_SECONDS", 1.0)
    hanging = other_app(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL=f"redis://127.0.0.1:{silent_port}/0")
    response = hanging.test_client().get("/readyz")    # without a timeout: no answer, ever
    assert response.status_code == 503 and response.get_json()["failed"] == ["queue"]
    assert response.get_json()["checks"]["queue"]["reason"] == "job queue did not answer (TimeoutError)"


def test_readyz_gives_up_on_a_database_that_takes_the_connection_and_never_answers(other_app, silent_port,
                                                                                 monkeypatch):
    monkeypatch.setattr(tuning, "DATABASE_CONNECT_TIMEOUT_SECONDS", 2)
    hanging = other_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://timehub@127.0.0.1:{silent_port}/x")
    response = hanging.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["failed"] == ["database", "migrations"]
    assert response.get_json()["checks"]["database"]["reason"] == "database did not answer (OperationalError)"


def test_health_checks_take_no_other_methods(client, admin):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405
