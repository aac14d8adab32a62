"""End-to-end fixtures: the real app served over loopback, driven by Debian's Chromium.

- `live_server`: `create_app()` served by werkzeug in a thread on 127.0.0.1
  (OS-chosen port), with its own instance folder and a migrated SQLite
  database. It runs in this process, so environment variables a test sets
  (e.g. `TRELLO_API_BASE` with monkeypatch) are what the app reads.
- `page`: a fresh browser context and page in headless Chromium, through
  Playwright for Python. Browsers are never downloaded: without a `chromium`
  binary the tests skip. A failing test leaves a screenshot in test-artifacts/.

These tests run on SQLite only: they check what a browser sees, not the
database backend, so they do not use the `app` fixture of tests/conftest.py.
"""
from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import User
from app.services.user_service import create_user
from tests.fakes.server import QuietRequestHandler

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PAGE_TIMEOUT_MS = 15_000  # generous for a 2-core machine; a passing step takes milliseconds
# Playwright's expect() waits 5 s by default, whatever the context's timeout: a form posted
# while the other test process loads both cores took longer (a calendar suggestion's flash).
expect.set_options(timeout=PAGE_TIMEOUT_MS)


@dataclass
class LiveServer:
    app: Flask
    url: str

    def create_user(self, *, email: str, password: str, admin: bool = False, name: str | None = None) -> User:
        with self.app.app_context():
            user = create_user(email=email, password=password, admin=admin, name=name)
            db.session.refresh(user)  # load its columns before it leaves the session
            db.session.expunge(user)
            return user

    def query(self, fn):
        """Run `fn()` inside the app's context (to look at the database) and return its result."""
        with self.app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()


@pytest.fixture
def live_server(tmp_path, monkeypatch):
    from flask_migrate import upgrade

    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("TIMEHUB_INSTANCE", str(instance))
    monkeypatch.setenv("TIMEHUB_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    # The embedded defaults (SQLite database and queue under instance/), whatever CI exports.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'timehub.db'}"})
    with app.app_context():
        upgrade()

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def chromium_executable() -> str | None:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).exists() else None


@pytest.fixture(scope="session")
def browser():
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no Chromium: install Debian's `chromium` package (.ci/run does); "
                    "Playwright's own browser downloads are not used")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so `page` can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request):
    context = browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    current = context.new_page()
    try:
        yield current
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            try:
                current.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            except Exception as exc:  # a screenshot is a bonus; never hide the real failure
                print(f"screenshot failed: {exc}")
        context.close()


def add_entry(page, base_url: str, *, start: str, end: str, project: str, task: str, description: str) -> None:
    """Log time on the time page's manual form, as a person would (times as HH:MM today)."""
    page.goto(base_url + "/")
    page.locator("details", has=page.locator('input[name="entry-start"]')).locator("summary").click()
    page.fill('input[name="entry-start"]', start)
    page.fill('input[name="entry-end"]', end)
    page.select_option('select[name="entry-project"]', label=project)
    page.select_option('select[name="entry-task"]', label=task)
    page.fill('input[name="entry-description"]', description)
    page.get_by_role("button", name="Add entry").click()


def sign_in(page, base_url: str, email: str, password: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(base_url + "/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
