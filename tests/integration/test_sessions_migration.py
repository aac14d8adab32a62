"""Migration 0013: user_sessions appears and users.session_token goes, down and up again,
without losing an account or anything that references one (a time entry)."""
from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from tests.integration.test_migrations import empty_database_url  # noqa: F401


def _count(table: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def _user_columns() -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns("users")}


def test_0013_down_and_up_keeps_accounts_and_their_time_entries(empty_database_url, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO users (email, name, password_hash, role, timezone, session_token, created_at, updated_at)"
                " VALUES ('a@example.com', 'A', 'hash', 'user', 'UTC', 'old', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO time_entries (user_id, started_at, ended_at, billable, description, created_at,"
                " updated_at) SELECT id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false, 'kept', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP FROM users"))

        upgrade()
        assert (_count("users"), _count("time_entries")) == (1, 1)
        assert "session_token" not in _user_columns()
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO user_sessions (user_id, token_digest, created_at, last_seen_at)"
                " SELECT id, 'digest', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM users"))
        assert _count("user_sessions") == 1

        downgrade(revision="0007")
        assert "user_sessions" not in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            (token,) = connection.execute(text("SELECT session_token FROM users")).scalars().all()
        assert len(token) == 32, "each account gets a fresh token again, as 0005 gave it"
        assert (_count("users"), _count("time_entries")) == (1, 1)

        upgrade()
        assert (_count("users"), _count("time_entries"), _count("user_sessions")) == (1, 1, 0)
        assert "session_token" not in _user_columns()
        db.engine.dispose()
