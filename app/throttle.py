"""Sign-in throttling (Flask-Limiter): failed attempts are counted per account and per
client address; past the limit the login answers 429 with Retry-After, and says so in
the log. The pages around signing in are throttled alike: asking for a password reset
(every request counts: each may send a mail), and the invitation and reset links
(failed attempts count, so guessing links is as slow as guessing passwords).

Counters live in Redis when REDIS_URL is set, so every web process shares them, and
in memory otherwise (the embedded default runs one process). Only failed attempts
count: a person who signs in at the first try never gets near the limit. Each app
gets a Limiter of its own, with its keys under the app's queue name, so two
installations (or two test runs) on one Redis never share counters.
"""
from __future__ import annotations

import logging
from functools import wraps

from flask import Flask, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

log = logging.getLogger(__name__)

# Generous for a person who mistypes, far too slow for guessing (NIST 800-63B 5.2.2
# asks for at most 100 failures per account before more is required).
PER_ACCOUNT = "5 per minute; 30 per hour"
PER_ADDRESS = "20 per minute; 100 per hour"
LOGIN_ENDPOINT = "auth.login"
# Per account and per address, as sign-in: a mailbox is not flooded with reset mails.
RESET_REQUEST_ENDPOINT = "password_reset.forgot"
RESET_REQUESTS_PER_ACCOUNT = "3 per minute; 10 per hour"
LINK_ENDPOINTS = ("invitations.accept", "password_reset.reset")


def _account_key() -> str:
    return f"{request.endpoint}:account:" + (request.form.get("email") or "").strip().lower()[:254]


def _address_key() -> str:
    return f"{request.endpoint}:address:" + (get_remote_address() or "unknown")


def _failed(response) -> bool:
    return response.status_code != 302  # a successful sign-in redirects


def _always(_response) -> bool:
    return True


def _link_refused(response) -> bool:
    return response.status_code == 404  # an unknown, used or expired link, opened or posted to


def _log_breach(limit: RequestLimit) -> None:
    log.warning("sign-in throttled: %s over %s (%s)", limit.key.rsplit("/", 1)[-1] if limit.key else "?",
                limit.limit, get_remote_address())


_HOOK_LISTS = ("before_request_funcs", "after_request_funcs", "teardown_request_funcs")


def _request_hooks(app: Flask) -> dict[str, list]:
    return {name: list(getattr(app, name).get(None, ())) for name in _HOOK_LISTS}


def _run_added_hooks_only_for(app: Flask, hooks_before: dict[str, list], endpoints: frozenset) -> None:
    """The limiter's request hooks (added since `hooks_before`) run for the throttled
    endpoints alone: nothing else has a limit, and they cost every other request (webhooks
    and pages alike) about a quarter of what Flask and the app's hooks take for an empty view."""
    for name, earlier in hooks_before.items():
        hooks = getattr(app, name).setdefault(None, [])
        hooks[len(earlier):] = [_only_for(endpoints, hook, passes_response_on=name == "after_request_funcs")
                                for hook in hooks[len(earlier):]]


def _only_for(endpoints: frozenset, hook, passes_response_on: bool):
    @wraps(hook)
    def guarded(*args):
        if request.endpoint in endpoints:
            return hook(*args)
        return args[0] if passes_response_on else None  # an after_request hook hands the response on
    return guarded


def init_app(app: Flask) -> Limiter:
    """Call after the blueprints are registered: it wraps the login view."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", f"{app.config.get('TIMEHUB_QUEUE_NAME', 'timehub')}-signin")
    limiter = Limiter(key_func=get_remote_address, on_breach=_log_breach)
    hooks_before = _request_hooks(app)
    limiter.init_app(app)
    message = "Too many attempts; wait a little and try again."
    throttled = {
        LOGIN_ENDPOINT: (((PER_ACCOUNT, _account_key), (PER_ADDRESS, _address_key)), _failed),
        RESET_REQUEST_ENDPOINT: (((RESET_REQUESTS_PER_ACCOUNT, _account_key), (PER_ADDRESS, _address_key)), _always),
        **{endpoint: (((PER_ADDRESS, _address_key),), _link_refused) for endpoint in LINK_ENDPOINTS},
    }
    _run_added_hooks_only_for(app, hooks_before, frozenset(throttled))
    for endpoint, (limits, deduct_when) in throttled.items():
        methods = None if endpoint in LINK_ENDPOINTS else ["POST"]
        if endpoint not in app.view_functions:
            continue
        view = app.view_functions[endpoint]
        for limit, key in limits:
            view = limiter.limit(limit, key_func=key, methods=methods, deduct_when=deduct_when,
                                 error_message=message)(view)
        app.view_functions[endpoint] = view
    app.extensions["timehub.signin_limiter"] = limiter
    return limiter
