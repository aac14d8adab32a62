"""Migration 0017 down and up keeps every user, project and time entry (plain ADD / DROP COLUMN,
no batch copy that would cascade-delete), on SQLite and PostgreSQL."""
from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from tests.integration.test_migrations import empty_database_url  # noqa: F401 (the fixture)

NOW = "CURRENT_TIMESTAMP"


def test_0017_down_and_up_keeps_users_projects_and_entries(empty_database_url, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(text(f"INSERT INTO users (email, name, password_hash, role, timezone, created_at, updated_at,"
                              f" hourly_rate) VALUES ('a@example.com', 'A', 'x', 'user', 'UTC', {NOW}, {NOW}, 70)"))
            conn.execute(text(f"INSERT INTO projects (name, hourly_rate, archived, billable_by_default, budget_kind,"
                              f" budget_amount, created_at, updated_at) VALUES ('P', 0, :f, :f, 'hours', 10, {NOW},"
                              f" {NOW})"), {"f": False})
            conn.execute(text(f"INSERT INTO time_entries (user_id, project_id, description, started_at, ended_at,"
                              f" billable, created_at, updated_at) SELECT u.id, p.id, 'work', {NOW}, {NOW}, :f,"
                              f" {NOW}, {NOW} FROM users u, projects p"), {"f": False})
            conn.execute(text(f"INSERT INTO tags (name, name_key, created_at, updated_at) VALUES ('T', 't', {NOW},"
                              f" {NOW})"))
            conn.execute(text("INSERT INTO time_entry_tags (time_entry_id, tag_id) SELECT e.id, t.id"
                              " FROM time_entries e, tags t"))
        downgrade(revision="0013")
        tables = set(inspect(db.engine).get_table_names())
        assert not {"tags", "time_entry_tags", "rate_settings"} & tables
        assert "hourly_rate" not in {c["name"] for c in inspect(db.engine).get_columns("users")}
        assert "budget_kind" not in {c["name"] for c in inspect(db.engine).get_columns("projects")}
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT email, hourly_rate FROM users")).all() == [("a@example.com", None)]
            # Back up, a project is billable by default and has no budget; its entries are all there.
            assert conn.execute(text("SELECT name, billable_by_default, budget_kind FROM projects")).all() == [
                ("P", True, None)]
            assert conn.execute(text("SELECT description FROM time_entries")).all() == [("work",)]
        db.engine.dispose()
