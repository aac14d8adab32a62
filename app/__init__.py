"""TimeHub: create_app() wires configuration, extensions, blueprints and the CLI."""
from __future__ import annotations

import logging
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from app import inputs, logging_setup, sqlite_writes, tuning
from app.config import load_config
from app.extensions import csrf, db, login_manager, migrate
from app.flask_app import TimeHubFlask

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(overrides: dict | None = None) -> Flask:
    load_dotenv()
    app = TimeHubFlask(__name__)
    app.config.update(load_config())
    app.config.update(overrides or {})
    if hops := app.config.get("TIMEHUB_PROXY_HOPS"):
        # Behind reverse proxies: the client's address (sign-in limits, logs), scheme and host.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # The first request hooks (before CSRF's): every answer, refusals too, gets its request id and log record.
    logging_setup.init_app(app)

    # httpx2 logs full request URLs at INFO; Trello's carry key and token.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from app.encryption import load_keyring
    app.extensions["timehub.keyring"] = load_keyring(app.config["TIMEHUB_ENCRYPTION_KEYS"], app.config["INSTANCE_PATH"])

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A server's connections can drop (a restart, a pooler): each checkout pings first. A
        # SQLite file's never do, and the ping was a statement on every request.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
            "connect_args": {"connect_timeout": tuning.DATABASE_CONNECT_TIMEOUT_SECONDS,
                             "options": tuning.DATABASE_SESSION_OPTIONS}}
    db.init_app(app)
    from app import jobs
    jobs.init_app(app)
    logging_setup.init_jobs(jobs.huey)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    from app import models  # noqa: F401  (registers every table)
    from app.routes import register_blueprints
    inputs.init_app(app)
    sqlite_writes.init_app(app)
    register_blueprints(app)
    from app import throttle, web_security
    throttle.init_app(app)
    web_security.init_app(app)
    from app.errors import register_error_handlers
    register_error_handlers(app)

    from app.services import session_service
    login_manager.user_loader(session_service.find)

    @app.before_request
    def first_run_setup():
        """Until an account exists, every page leads to the one-time admin set-up."""
        if request.endpoint in ("auth.setup", "static") or request.blueprint in ("api", "webhooks", "health") \
                or app.config.get("_HAS_USERS"):
            return None
        if db.session.scalar(select(func.count(models.User.id))):
            app.config["_HAS_USERS"] = True
            return None
        return redirect(url_for("auth.setup"))

    @app.context_processor
    def inject_user():
        return {"current_user": current_user}

    session_service.init_app(app)  # after the other before_request hooks: its commit carries nothing of theirs
    from app.cli import register_cli
    register_cli(app)
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite enforces foreign keys only when asked, per connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={sqlite_writes.BUSY_TIMEOUT_MS}")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    """SQLite transactions start here, not in the driver: IMMEDIATE for a request that
    writes, so writers queue on the busy timeout up front (see app.sqlite_writes)."""
    if connection.dialect.name == "sqlite":
        sqlite_writes.begin(connection)
