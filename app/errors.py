"""Error answers: pages in the app's layout for people, RFC 9457 problem details for the API.

Under /api/v1 every error is `application/problem+json` (type, title, status, detail);
elsewhere 4xx/5xx are the app's own pages with its navigation, so a wrong link or a
refused page is never a dead end.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, json, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

API_PREFIX = "/api/v1"
PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

# What each page tells a person, beyond the status line.
PAGE_HINTS = {
    403: "Your account cannot open this page. If you need it, ask an administrator.",
    404: "There is nothing at this address. It may have been deleted, or the link is mistyped.",
    500: "Something went wrong on our side. Nothing you did caused it; please try again in a moment.",
}


def wants_problem_json() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def problem(status: int, title: str, detail: str | None = None, **extensions) -> Response:
    """An RFC 9457 problem details answer; `type` is about:blank, so `title` is the status phrase."""
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extensions)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)


def _page(status: int, title: str, description: str | None) -> tuple[str, int]:
    # Our own words where we have them; otherwise werkzeug's description (e.g. a CSRF failure).
    return render_template("errors/error.html", status=status, title=title,
                           hint=PAGE_HINTS.get(status) or description), status


def handle_http_exception(exc: HTTPException):
    if exc.code is None or exc.code < 400:
        return exc  # redirects raised as exceptions (e.g. RequestRedirect) keep their own answer
    if wants_problem_json():
        response = problem(exc.code, exc.name, exc.description)
        for name, value in exc.get_headers():
            if name in ("Allow", "WWW-Authenticate", "Retry-After"):
                response.headers[name] = value
        return response
    response = exc.get_response()
    try:
        body, status = _page(exc.code, exc.name, exc.description)
    except Exception:  # the layout itself failed (e.g. the database is down): keep the plain page
        log.exception("could not render the error page for %s", exc.code)
        return response
    response.set_data(body)
    response.status_code = status
    response.mimetype = "text/html"
    return response


def handle_server_error(exc: InternalServerError):
    """A bug reached the top (Flask logged it already): answer 500 without any of its details."""
    if wants_problem_json():
        return problem(500, exc.name, "The server failed to answer this request.")
    try:
        from app.extensions import db
        db.session.rollback()  # a failed transaction must not break the page that explains it
        return _page(500, exc.name, None)
    except Exception:
        log.exception("could not render the error page for 500")
        return InternalServerError().get_response()


def register_error_handlers(app: Flask) -> None:
    # 500 is Flask's answer to an unhandled exception; with TESTING it propagates instead.
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(HTTPException, handle_http_exception)
