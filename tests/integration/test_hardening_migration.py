"""Migration 0005: every existing account gets its own session token; down and up again keep the accounts."""
from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db
from tests.integration.test_migrations import empty_database_url  # noqa: F401


def test_0005_gives_each_account_its_own_session_token(empty_database_url, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0003")
        with db.engine.begin() as connection:
            for number in range(3):
                connection.execute(text(
                    "INSERT INTO users (email, name, password_hash, role, timezone, created_at, updated_at) "
                    "VALUES (:email, 'x', 'hash', 'user', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                    {"email": f"u{number}@example.com"})
            connection.execute(text(
                "INSERT INTO time_entries (user_id, started_at, ended_at, billable, description, created_at,"
                " updated_at) SELECT id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false, 'kept', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP FROM users"))

        def entries() -> int:
            with db.engine.connect() as connection:
                return connection.execute(text("SELECT count(*) FROM time_entries")).scalar()

        upgrade(revision="0005")  # 0013 drops the column again (sessions are rows of user_sessions)
        assert entries() == 3  # altering users cascade-deleted nothing that references them
        with db.engine.connect() as connection:
            tokens = connection.execute(text("SELECT session_token FROM users")).scalars().all()
        assert len(tokens) == 3 and len(set(tokens)) == 3 and all(len(token) == 32 for token in tokens)
        downgrade(revision="0003")
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 3
        assert entries() == 3
        upgrade()
        assert entries() == 3
        db.engine.dispose()
