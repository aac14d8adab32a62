"""Alembic: empty -> head -> base -> head, on SQLite and PostgreSQL."""
import json
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from tests.conftest import BACKENDS, POSTGRES_URL, _psycopg_url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = make_url(_psycopg_url(POSTGRES_URL))
    name = f"timehub_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    expected = set(db.metadata.tables)
    with app.app_context():
        upgrade()
        assert tables(db.engine) == expected
        downgrade(revision="base")
        assert tables(db.engine) == set()
        upgrade()
        assert tables(db.engine) == expected
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("integrations")}
        assert {"ux_integrations_global_provider", "ux_integrations_user_provider"} <= indexes
        db.engine.dispose()


def test_models_and_migrations_agree(empty_database_url, tmp_path, monkeypatch):
    """Autogenerate finds nothing to add: the migrations describe the models exactly."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert diff == []


def test_0003_skipped_outbox_status_down_and_up_keeps_every_row(empty_database_url, tmp_path, monkeypatch):
    """Downgrading past 0003 turns skipped changes into done ones (nothing to retry
    either way) and keeps every row; the old check then refuses "skipped" again."""
    from sqlalchemy.exc import IntegrityError

    from app.models import Integration, OutboxItem
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    statuses = ("pending", "done", "failed", "skipped")
    with app.app_context():
        upgrade()
        integration = Integration(provider="jira", is_global=True, status="active", settings={})
        db.session.add(integration)
        db.session.flush()
        db.session.add_all(OutboxItem(integration_id=integration.id, local_kind="time_entry", local_id=n,
                                      action="upsert", status=status, last_error=f"why {status}")
                           for n, status in enumerate(statuses))
        db.session.commit()
        integration_id = integration.id
        db.session.remove()

        def rows():
            with db.engine.connect() as conn:
                return conn.execute(text("SELECT local_id, status, last_error FROM outbox ORDER BY local_id")).all()

        downgrade(revision="0002")
        assert rows() == [(0, "pending", "why pending"), (1, "done", "why done"), (2, "failed", "why failed"),
                          (3, "done", "why skipped")]
        insert_skipped = text("INSERT INTO outbox (integration_id, local_kind, local_id, action, status, attempts,"
                              " next_attempt_at, created_at, updated_at) VALUES (:i, 'time_entry', 9, 'upsert',"
                              " 'skipped', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(insert_skipped, {"i": integration_id})
        upgrade()
        assert [status for _, status, _ in rows()] == ["pending", "done", "failed", "done"]
        with db.engine.begin() as conn:
            conn.execute(insert_skipped, {"i": integration_id})
        assert rows()[-1][1] == "skipped"
        db.engine.dispose()


def test_0004_splits_the_settings_bag_and_merges_it_back_keeping_every_value(empty_database_url, tmp_path,
                                                                              monkeypatch):
    """Up: preferences stay in settings, what connecting learnt, the connector's state and a
    pending choice move to their own columns. Down: merged back as they were. Up again: the same split."""
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    old_bag = {"sync_interval_minutes": 30, "allow_list": ["10001"], "updated_since": "2026-01-01",
               "push_worklogs": False, "status_map": {"3": "done"}, "user_map": {"acc-1": 7},
               "cloud_id": "c-1", "site_url": "https://acme.atlassian.net", "site_name": "Acme",
               "jira_webhooks": {"ids": [5], "expires": 123},
               "pending_choice": {"user_id": 1, "noun": "site", "options": []}}
    with app.app_context():
        upgrade(revision="0003")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO integrations (provider, is_global, status, settings, webhook_token,"
                              " created_at, updated_at) VALUES ('jira', :g, 'active', :bag, 'tok-1',"
                              " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                         {"g": True, "bag": json.dumps(old_bag)})

        def columns(*names):
            with db.engine.connect() as conn:
                row = conn.execute(text(f"SELECT {', '.join(names)} FROM integrations")).one()
            return [json.loads(value) if isinstance(value, str) else value for value in row]

        upgrade()
        preferences, facts, state, flow = columns("settings", "connection_facts", "connector_state", "flow_state")
        assert preferences == {key: old_bag[key] for key in ("sync_interval_minutes", "allow_list", "updated_since",
                                                             "push_worklogs", "status_map", "user_map")}
        assert facts == {"cloud_id": "c-1", "site_url": "https://acme.atlassian.net", "site_name": "Acme"}
        assert state == {"webhooks": {"ids": [5], "expires": 123}}
        assert flow == {"pending_choice": old_bag["pending_choice"]}
        downgrade(revision="0003")
        assert columns("settings") == [old_bag]
        upgrade()
        assert columns("settings", "connection_facts", "connector_state", "flow_state") == [
            preferences, facts, state, flow]


def test_0007_deactivated_at_down_and_up_keeps_every_user(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    insert = text("INSERT INTO users (email, name, password_hash, role, timezone, created_at, updated_at)"
                  " VALUES ('a@example.com', 'A', 'x', 'user', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(insert)
            conn.execute(text("UPDATE users SET deactivated_at = CURRENT_TIMESTAMP"))
        downgrade(revision="0003")
        assert "deactivated_at" not in {c["name"] for c in inspect(db.engine).get_columns("users")}
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT email, deactivated_at FROM users")).all() == [("a@example.com", None)]
        db.engine.dispose()


def test_0008_calendar_tables_up_down_up(empty_database_url, tmp_path, monkeypatch):
    """Up: the calendar tables exist and take an event with its person; down: they are gone and
    nothing else is touched; up again: they are back, empty."""
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    calendar_tables = {"calendar_events", "calendar_event_people", "calendar_series_choices"}
    with app.app_context():
        upgrade(revision="0004")
        assert not calendar_tables & set(inspect(db.engine).get_table_names())
        upgrade(revision="0008")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO users (email, name, password_hash, role, timezone, created_at,"
                              " updated_at) VALUES ('a@example.com', 'A', 'x', 'user', 'UTC', CURRENT_TIMESTAMP,"
                              " CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO calendar_events (title, starts_at, ends_at, suggestible, archived,"
                              " created_at, updated_at) VALUES ('Sync', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
                              " :t, :f, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"t": True, "f": False})
            conn.execute(text("INSERT INTO calendar_event_people (event_id, user_id) SELECT e.id, u.id"
                              " FROM calendar_events e, users u"))
        assert calendar_tables <= set(inspect(db.engine).get_table_names())
        downgrade(revision="0004")
        assert not calendar_tables & set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 1
        upgrade(revision="0008")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM calendar_events")).scalar() == 0
        db.engine.dispose()
