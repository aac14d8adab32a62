"""Alembic: empty -> head -> base -> head, on SQLite and PostgreSQL."""
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
