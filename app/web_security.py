"""Security headers on every response, and the embedded server's quiet banner and access log.

Pages load scripts and styles from this site only (static/app.js replaced every
inline script and on* attribute, utility classes in style.css every style
attribute), so the policy needs no 'unsafe-inline'. Pages of a signed-in user
are never stored by a browser or proxy cache: after signing out, Back must not
show them again.
"""
from __future__ import annotations

from flask import Flask, request, session
from flask_login import current_user
from werkzeug.serving import WSGIRequestHandler

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    # No form-action: Chrome applies it to the redirect after a POST, and connecting an
    # integration posts here and is redirected on to the provider's authorize page.
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"
# The embedded server's banner: no product versions for scanners to match. (gunicorn,
# from version 22, sends a bare "gunicorn"; a reverse proxy usually sets its own.)
SERVER_BANNER = "TimeHub"
# What the access log shows for a request, when the path itself holds a secret (webhook tokens).
LOG_PATH_KEY = "timehub.log_path"


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")  # for browsers without frame-ancestors
        headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint != "static" and _signed_in():
            headers["Cache-Control"] = "no-store"
        return response


def _signed_in() -> bool:
    if "_user_id" not in session:
        return False  # no user to load (a webhook, a signed-out page): Flask-Login keeps the id there
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # noqa: BLE001  (no user loader context, e.g. an error page before the session)
        return False


class QuietRequestHandler(WSGIRequestHandler):
    """The embedded server (`timehub serve`): no version banner, and an access log of
    paths without query strings (OAuth callbacks carry codes there) or secrets: the app
    leaves the path it logs under LOG_PATH_KEY (a webhook's integration instead of its
    token, "<link_token>" instead of an invitation's)."""

    def version_string(self) -> str:
        return SERVER_BANNER

    def log_request(self, code="-", size="-"):
        environ = getattr(self, "environ", None) or {}
        path = environ.get(LOG_PATH_KEY) or self.path.split("?", 1)[0]
        if LOG_PATH_KEY not in environ and path.startswith("/webhooks/"):
            path = "/".join(path.split("/")[:3]) + "/…"  # an unknown address: its token is still a guess
        self.log("info", '"%s %s" %s', self.command, path, code)
