"""Put a sandbox together without serving it: the fakes running, a fresh instance folder
with a migrated SQLite database, the demo data, every provider configured. `python -m
tests.sandbox` serves the result; tests/integration/test_sandbox.py checks it."""
from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

from flask import Flask

from app import create_app
from app.extensions import db
from tests.fakes.server import CHECKS
from tests.sandbox import providers as sandbox_providers
from tests.sandbox import seed
from tests.sandbox.people import ADMIN
from tests.sandbox.providers import SandboxProvider

# Written into every instance folder the sandbox makes: only such a folder is ever wiped.
MARKER = ".timehub-sandbox"
ENDPOINTS_FILE = "endpoints.env"


@dataclass
class Sandbox:
    app: Flask
    base_url: str
    instance: Path
    providers: dict[str, SandboxProvider]
    passwords: dict[str, str]           # e-mail -> password, printed once at start
    entries: int
    _fakes: contextlib.ExitStack

    def close(self) -> list[str]:
        """Stop every fake; returns the requests they received that broke their provider's
        API description (a sandbox has no test to fail, so it reports them)."""
        with self.app.app_context():
            db.engine.dispose()
        self._fakes.close()
        return CHECKS.take()


def fresh_instance(path: Path) -> Path:
    """An empty instance folder: made when missing, emptied when it is an earlier sandbox's,
    refused otherwise (the path might hold someone's real data)."""
    if path.exists():
        if not (path / MARKER).exists() and any(path.iterdir()):
            raise SystemExit(f"{path} exists and is not a sandbox's instance folder; not touching it")
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    (path / MARKER).write_text("made by `make sandbox`; emptied at its next start\n")
    return path.resolve()


def endpoint_settings(providers: dict[str, SandboxProvider]) -> dict[str, str]:
    return {name: value for provider in providers.values() for name, value in provider.endpoints.items()}


def build(instance: Path, base_url: str, *, setenv: Callable[[str, str], None],
          config: dict | None = None, today: date | None = None) -> Sandbox:
    """`setenv` sets an environment variable (os.environ's, or a test's monkeypatch): the
    sandbox is configured the way an operator configures TimeHub."""
    today = today or date.today()
    instance = fresh_instance(instance)
    stack = contextlib.ExitStack()
    try:
        providers = sandbox_providers.start_all(stack, base_url, today)
        settings = {"TIMEHUB_INSTANCE": str(instance), "TIMEHUB_SANDBOX": "1", "TIMEHUB_EXTERNAL_URL": base_url,
                    **endpoint_settings(providers)}
        for name, value in settings.items():
            setenv(name, value)
        (instance / ENDPOINTS_FILE).write_text(
            "# What the sandbox set in its environment, as an operator's .env would\n"
            + "".join(f"{name}={value}\n" for name, value in sorted(settings.items())))
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'timehub.db'}", "REDIS_URL": None,
                          **(config or {})})
        with app.app_context():
            from flask_migrate import upgrade
            upgrade()
            passwords = seed.team()
            entries = seed.week_of_entries(seed.catalog(), today)
            seed.provider_apps(providers, ADMIN.email)
            db.session.remove()
    except BaseException:
        stack.close()
        raise
    return Sandbox(app, base_url, instance, providers, passwords, entries, stack)
