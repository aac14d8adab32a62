"""Health checks for load balancers and orchestrators (docs/deploy.md).

/healthz: the process answers (liveness); touches nothing else.
/readyz: this process can serve: the database answers, the job queue's storage
answers, and the database carries the newest migration this code knows. A database
*ahead* of the code (a newer release migrated it while this process still runs) is
ready: migrations are additive-first, so old code keeps working on the new schema.

Neither needs a session, CSRF token or sign-in, and neither sets a cookie. A failing
check answers 503 with its name and a short reason; details (hosts, errors) go to
the log, never into the answer.
"""
from __future__ import annotations

import functools
import logging

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
def readyz():
    checks: dict[str, dict] = {}
    scripts = migration_scripts(current_app.extensions["migrate"].directory)
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            checks["database"] = {"ok": True}
            checks["migrations"] = _migrations_check(connection, scripts)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database means "not ready"
        log.warning("readiness: database check failed: %s", exc)
        checks["database"] = {"ok": False, "reason": f"database did not answer ({type(exc).__name__})"}
        checks["migrations"] = {"ok": False, "reason": "not checked: the database did not answer"}
    checks["queue"] = _queue_check()
    failed = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "unavailable" if failed else "ok", "checks": checks}
    if failed:
        body["failed"] = failed
    return _no_store(jsonify(body)), 503 if failed else 200


def _queue_check() -> dict:
    try:
        pending = current_app.extensions["timehub.jobs"].storage.queue_size()
    except Exception as exc:  # noqa: BLE001 - Redis down, the queue file unreadable, ...
        log.warning("readiness: job queue check failed: %s", exc)
        return {"ok": False, "reason": f"job queue did not answer ({type(exc).__name__})"}
    return {"ok": True, "pending": pending}


def _migrations_check(connection, scripts: tuple[frozenset[str], frozenset[str]]) -> dict:
    heads, known = scripts
    current = set(MigrationContext.configure(connection).get_current_heads())
    if current == heads:
        return {"ok": True, "revision": ",".join(sorted(current))}
    if not current:
        return {"ok": False, "reason": "no migrations applied: run `timehub db upgrade`"}
    if current - known:
        # Revisions this code has never seen: a newer release's migrations (additive-first).
        return {"ok": True, "revision": ",".join(sorted(current)), "note": "database is ahead of this code"}
    return {"ok": False, "reason": "database is behind the newest migration: run `timehub db upgrade`",
            "revision": ",".join(sorted(current)), "expected": ",".join(sorted(heads))}


@functools.cache
def migration_scripts(directory: str) -> tuple[frozenset[str], frozenset[str]]:
    """The head revision(s) of migrations/ and every revision it holds; read once per process
    (the scripts do not change under a running process)."""
    script = ScriptDirectory(directory)
    return frozenset(script.get_heads()), frozenset(rev.revision for rev in script.walk_revisions())


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response
