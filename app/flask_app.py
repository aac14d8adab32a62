"""The Flask class TimeHub runs on: Flask's own, minus two costs it pays on every request
for features TimeHub does not use in a way that needs them (measured: about a tenth of
what an answer to a webhook costs the app)."""
from __future__ import annotations

from functools import lru_cache
from inspect import iscoroutinefunction

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

# Hooks, views and error handlers (after_this_request adds closures per request: bounded).
_KNOWN_FUNCTIONS = 1024


@lru_cache(maxsize=_KNOWN_FUNCTIONS)
def _is_coroutine_function(func) -> bool:
    return iscoroutinefunction(func)


class CachedSerializerSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, with the signing serializer built once per set of keys rather
    than on every request (Flask builds it before it even looks for a cookie)."""

    def get_signing_serializer(self, app):
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = getattr(self, "_serializer", None)
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]


class TimeHubFlask(Flask):
    session_interface = CachedSerializerSessions()

    def ensure_sync(self, func):
        """Flask asks inspect on every hook of every request (about sixteen times an answer)
        whether it is a coroutine function; the answer for a function never changes."""
        return self.async_to_sync(func) if _is_coroutine_function(func) else func
