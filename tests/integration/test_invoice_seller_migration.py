"""Migration 0019 (invoice period, grouping and seller copy; seller details; account links):
up keeps every invoice as a per-project one, down drops only what it added, up again works."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from tests.integration.test_migrations import empty_database_url  # noqa: F401 - a fixture

NEW_COLUMNS = {"period_start", "period_end", "timezone", "line_grouping", "seller_name", "seller_address",
               "seller_tax_id", "seller_payment_terms"}


def columns(table: str) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns(table)}


def test_0019_down_and_up_keeps_every_invoice_and_its_lines(empty_database_url, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0013")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO clients (name, currency, archived, created_at, updated_at)"
                              " VALUES ('Acme', 'EUR', :f, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"f": False})
            conn.execute(text("INSERT INTO invoices (number, client_id, currency, status, issue_date, tax_rate, notes,"
                              " created_at, updated_at) SELECT 'INV-2026-0001', id, 'EUR', 'issued', '2026-11-02',"
                              " 19, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM clients"))
            conn.execute(text("INSERT INTO invoice_lines (invoice_id, description, hours, unit_price)"
                              " SELECT id, 'Website', 2.5, 80 FROM invoices"))
        upgrade(revision="0019")
        assert NEW_COLUMNS <= columns("invoices")
        assert {"seller_details", "account_tokens"} <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT number, line_grouping, period_start, seller_name FROM invoices")).all() \
                == [("INV-2026-0001", "project", None, None)]
        downgrade(revision="0013")
        assert not NEW_COLUMNS & columns("invoices")
        assert not {"seller_details", "account_tokens"} & set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM invoice_lines")).scalar() == 1
            assert conn.execute(text("SELECT number FROM invoices")).scalar() == "INV-2026-0001"
        upgrade(revision="0019")
        assert NEW_COLUMNS <= columns("invoices")
        db.engine.dispose()
