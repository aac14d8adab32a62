"""Logs for running at scale: one JSON object per line (TIMEHUB_LOG_FORMAT=json), a
request id on every record made while a request or a job runs, and one record per
request (method, path, status, duration, user).

The ids live in context variables set by a LogRecord factory, so every handler sees
them (the JSON one, gunicorn's, a test's), and each thread of the embedded server or
of a worker keeps its own. Paths are logged without query strings (OAuth callbacks
carry the code and state there) and with secret URL parts (invitation and reset
links, webhook tokens) replaced by their names.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

from flask import Flask, g, request

from app.web_security import LOG_PATH_KEY  # set by app.routes.webhooks: the path without its token

REQUEST_ID_HEADER = "X-Request-ID"
# What an incoming id may look like: a proxy's or a client's id is kept only when it
# cannot break a log line or a header (and cannot be used to flood either).
MAX_REQUEST_ID_LENGTH = 128
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_REQUEST_ID_LENGTH)
# URL variables whose values are secrets: logged as "<name>".
SECRET_URL_ARGUMENT = re.compile(r"token|secret", re.IGNORECASE)
REQUEST_LOGGER = "timehub.request"
# Record attributes that go into the JSON object when set (extra= or the factory).
EXTRA_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id", "job", "job_id",
                "enqueued_job", "enqueued_job_id")

request_id_var: ContextVar[str | None] = ContextVar("timehub_request_id", default=None)
job_var: ContextVar[tuple[str, str] | None] = ContextVar("timehub_job", default=None)

log = logging.getLogger(REQUEST_LOGGER)


def sane_request_id(value: str | None) -> str | None:
    return value if value and SANE_REQUEST_ID.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


# -- records and their format ---------------------------------------------------------------------


def _install_record_factory() -> None:
    """Once per process: every record gets the request id and job of its context."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "timehub", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get()
        if job := job_var.get():
            record.job, record.job_id = job
        return record

    factory.timehub = True
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (a test's capture, or a redirected stream)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure(log_format: str) -> None:
    """JSON on stderr for every logger at INFO, once per process; "text" leaves logging
    as it was (the embedded server's own access lines, warnings on stderr)."""
    _install_record_factory()
    if log_format != "json":
        return
    root = logging.getLogger()
    if not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        root.addHandler(StderrHandler())
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    # The embedded server's access lines repeat the request records (in text, not JSON).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def gunicorn_logconfig(log_format: str) -> dict:
    """gunicorn's logconfig_dict: its error log (starts, worker deaths) in the same JSON;
    no access log of its own (the app's request records are it, without query strings)."""
    if log_format != "json":
        return {}
    handler = {"class": "app.logging_setup.StderrHandler"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
        "handlers": {"json": handler},
        "formatters": {},
    }


# -- requests ---------------------------------------------------------------------------------------


def loggable_path() -> str:
    if LOG_PATH_KEY in request.environ:
        return request.environ[LOG_PATH_KEY]
    path = request.path  # never the query string
    for name, value in (request.view_args or {}).items():
        if SECRET_URL_ARGUMENT.search(name) and isinstance(value, str) and value:
            path = path.replace(value, f"<{name}>")
    if request.url_rule is None and path.startswith("/webhooks/"):
        path = "/".join(path.split("/")[:3]) + "/…"  # an unknown address: its token may still be a guess
    return path


def _signed_in_user_id():
    user = g.get("_login_user")  # only if this request loaded it: never a query of its own
    return user.id if user is not None and getattr(user, "is_authenticated", False) else None


def init_app(app: Flask) -> None:
    """Call before every other before_request hook: an early answer (a redirect, a 400)
    still gets its id and its record."""
    configure(app.config.get("TIMEHUB_LOG_FORMAT", "text"))

    @app.before_request
    def start_request_log():
        g.request_started = time.perf_counter()
        g.request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        g.request_id_token = request_id_var.set(g.request_id)

    @app.after_request
    def log_request(response):
        started = g.get("request_started")
        if started is None:  # before_request never ran (an error while matching the URL)
            return response
        response.headers[REQUEST_ID_HEADER] = g.request_id
        path = loggable_path()
        # The embedded server's own access line (text format) prints this too, not the raw path.
        request.environ[LOG_PATH_KEY] = path
        log.info("%s %s %s", request.method, path, response.status_code, extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "user_id": _signed_in_user_id(),
        })
        return response

    @app.teardown_request
    def forget_request_id(_exc=None):
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:  # torn down in another context (a streamed response): just clear it
                request_id_var.set(None)


# -- jobs ---------------------------------------------------------------------------------------------


def init_jobs(huey) -> None:
    """Records made while a job runs name the job; enqueueing logs the job's id with the
    request id, which ties a request to the jobs it started."""
    from huey.signals import SIGNAL_ENQUEUED

    if getattr(huey, "_timehub_logging", False):
        return
    huey._timehub_logging = True
    job_log = logging.getLogger("timehub.jobs")

    @huey.signal(SIGNAL_ENQUEUED)
    def note_enqueued(signal, task, *_args, **_kwargs):
        # Not "job"/"job_id": those name the running job, when a job enqueues another.
        job_log.info("enqueued job %s %s", task.name, task.id,
                     extra={"enqueued_job": task.name, "enqueued_job_id": task.id})

    # A worker thread has no request id; a job run inside a request (huey's immediate
    # mode) keeps that request's.
    @huey.pre_execute(name="timehub_log_context")
    def enter_job(task):
        task.timehub_log_token = job_var.set((task.name, task.id))

    @huey.post_execute(name="timehub_log_context")
    def leave_job(task, _value, _exception):
        if token := getattr(task, "timehub_log_token", None):
            job_var.reset(token)
