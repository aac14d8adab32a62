"""app/flask_app.py: the two per-request costs it caches must not cache what changes."""
from __future__ import annotations

import pytest

from app.flask_app import TimeHubFlask


def _app(secret_key: str, fallbacks=None) -> TimeHubFlask:
    app = TimeHubFlask(__name__)
    app.config.update(SECRET_KEY=secret_key, SECRET_KEY_FALLBACKS=fallbacks)

    @app.post("/remember")
    def remember():
        from flask import session
        session["seen"] = "yes"
        return ""

    @app.get("/recall")
    def recall():
        from flask import session
        return session.get("seen", "nothing")

    return app


def _cookie_of(app) -> str:
    client = app.test_client()
    client.post("/remember")
    return client.get_cookie("session").value


def _recalled(app, cookie: str) -> str:
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.get("/recall").get_data(as_text=True)


def test_a_session_signed_with_a_key_is_read_only_while_that_key_or_a_fallback_holds():
    app = _app("first-key")
    cookie = _cookie_of(app)
    assert _recalled(app, cookie) == "yes"
    app.config["SECRET_KEY"] = "second-key"  # rotated: the serializer built for the first key is not used
    assert _recalled(app, cookie) == "nothing"
    app.config["SECRET_KEY_FALLBACKS"] = ["first-key"]
    assert _recalled(app, cookie) == "yes"
    other = _app("another-app's-key")  # apps in one process share the interface, not each other's keys
    assert _recalled(other, cookie) == "nothing"


def test_plain_functions_run_as_they_are_and_coroutine_functions_are_still_told_apart():
    app = _app("key")

    def plain():
        return "now"

    async def coroutine():
        return "later"

    assert app.ensure_sync(plain) is plain and app.ensure_sync(plain) is plain  # asked twice: the cached answer
    # Flask runs a coroutine function through asgiref, which TimeHub does not install: it says so.
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(coroutine)
