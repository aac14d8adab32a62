"""Structured logs (app/logging_setup.py, TIMEHUB_LOG_FORMAT=json): one JSON object per
line on stderr, a request id on every record of a request (echoed in X-Request-ID),
the job's name and id on records of a job, and no secrets (OAuth codes, link tokens).
The last tests start the real processes (gunicorn, `timehub serve`, `timehub worker`)
and read what they write. Runs on SQLite and PostgreSQL (with Redis when set)."""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx2
import pytest
from werkzeug.serving import make_server

from app import jobs
from app.logging_setup import MAX_REQUEST_ID_LENGTH, JsonFormatter, StderrHandler, configure, job_var
from app.web_security import QuietRequestHandler

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
REPOSITORY = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def json_logs(monkeypatch):
    """The app is created with TIMEHUB_LOG_FORMAT=json (autouse: before `app`); the root
    logger's JSON handler and levels are put back afterwards, for the tests that follow."""
    monkeypatch.setenv("TIMEHUB_LOG_FORMAT", "json")
    root, werkzeug = logging.getLogger(), logging.getLogger("werkzeug")
    levels = root.level, werkzeug.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    root.setLevel(levels[0])
    werkzeug.setLevel(levels[1])


def json_lines(text: str) -> list[dict]:
    """Every line written is one JSON object (the point of the format)."""
    entries = []
    for line in text.splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}")
    return entries


def request_entries(entries: list[dict]) -> list[dict]:
    return [entry for entry in entries if entry["logger"] == "timehub.request"]


@pytest.fixture
def log_and_enqueue(app):
    """A page of the test app that logs and enqueues a job, as a real view would."""
    def view():
        logging.getLogger("tests.view").warning("inside the view")
        jobs.sync_integration(987654)
        return "done"

    app.add_url_rule("/test-logs", "test_logs", view)
    return "/test-logs"


def test_a_request_is_one_json_line_with_its_request_id(app, user_client, user, capsys):
    capsys.readouterr()
    response = user_client.get("/")
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(request_id)
    [entry] = request_entries(json_lines(capsys.readouterr().err))
    assert entry["request_id"] == request_id
    assert (entry["level"], entry["method"], entry["path"], entry["status"]) == ("INFO", "GET", "/", 200)
    assert entry["user_id"] == user.id
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert entry["message"] == "GET / 200"


def test_every_request_gets_a_new_id(app, client, capsys):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    entries = request_entries(json_lines(capsys.readouterr().err))
    assert [entry["request_id"] for entry in entries] == [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all("user_id" not in entry for entry in entries)  # nobody signed in


@pytest.mark.parametrize("incoming", ["abc-123.DEF_4", "x" * MAX_REQUEST_ID_LENGTH])
def test_a_sane_incoming_request_id_is_kept(app, client, capsys, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    [entry] = request_entries(json_lines(capsys.readouterr().err))
    assert entry["request_id"] == incoming


@pytest.mark.parametrize("incoming", ["x" * (MAX_REQUEST_ID_LENGTH + 1), "has space", "semi;colon", "quote\"d",
                                      "ünïcode", "{\"json\":1}", ""])
def test_an_insane_incoming_request_id_is_replaced(app, client, capsys, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
    [entry] = request_entries(json_lines(capsys.readouterr().err))
    assert entry["request_id"] == response.headers["X-Request-ID"]


def test_records_made_during_a_request_carry_its_id_and_so_does_the_enqueued_job(
        app, log_and_enqueue, user_client, capsys):
    capsys.readouterr()
    response = user_client.get(log_and_enqueue, headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 200
    entries = json_lines(capsys.readouterr().err)
    [inside] = [entry for entry in entries if entry["message"] == "inside the view"]
    assert (inside["request_id"], inside["level"], inside["logger"]) == ("trace-42", "WARNING", "tests.view")
    [enqueued] = [entry for entry in entries if entry["logger"] == "timehub.jobs"]
    assert enqueued["request_id"] == "trace-42"
    assert enqueued["enqueued_job"] == "sync_integration" and "job" not in enqueued

    # A worker thread runs the job: its records name the job (the id the enqueue line gave), not the request.
    task = jobs.huey.dequeue()
    assert task.id == enqueued["enqueued_job_id"]
    worker = threading.Thread(target=jobs.huey.execute, args=(task,))
    worker.start()
    worker.join(30)
    job_entries = [entry for entry in json_lines(capsys.readouterr().err) if entry.get("job_id") == task.id]
    failure = [entry for entry in job_entries if entry["message"].startswith("Unhandled exception in task")]
    assert failure and "LookupError: 987654" in failure[0]["exception"]  # no such integration
    assert all(entry["job"] == "sync_integration" and "request_id" not in entry for entry in job_entries)


def test_a_job_that_enqueues_a_job_names_both(app, capsys):
    """As push_outbox's caller, the sync job, does inside a worker."""
    task = jobs.push_outbox.s(424242)
    token = job_var.set(("sync_integration", "running-job-1"))
    try:
        jobs.huey.enqueue(task)
    finally:
        job_var.reset(token)
    [enqueued] = [entry for entry in json_lines(capsys.readouterr().err) if entry["logger"] == "timehub.jobs"]
    assert (enqueued["job"], enqueued["job_id"]) == ("sync_integration", "running-job-1")
    assert (enqueued["enqueued_job"], enqueued["enqueued_job_id"]) == ("push_outbox", task.id)


def test_an_oauth_callbacks_code_and_state_are_not_logged(app, user_client, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    response = user_client.get("/integrations/google_calendar/callback?code=SECRETCODE1234&state=SECRETSTATE5678")
    assert response.status_code < 500
    written = capsys.readouterr().err
    [entry] = request_entries(json_lines(written))
    assert entry["path"] == "/integrations/google_calendar/callback"
    everything = written + "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "SECRETCODE1234" not in everything and "SECRETSTATE5678" not in everything


@pytest.mark.parametrize("path, logged", [
    ("/invite/7.Kj3secretInvitationToken", "/invite/<link_token>"),
    ("/password/reset/7.Kj3secretResetToken", "/password/reset/<link_token>"),
])
def test_secret_parts_of_a_path_are_logged_by_name(app, client, capsys, path, logged):
    client.get(path)
    written = capsys.readouterr().err
    [entry] = request_entries(json_lines(written))
    assert entry["path"] == logged
    assert "Kj3secret" not in written


def test_the_embedded_servers_text_access_lines_name_secret_parts_too(app, caplog):
    """`make run` (text format): werkzeug's access line is printed by QuietRequestHandler,
    from the path the app logged, so an invitation's or a reset's token never reaches it."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    caplog.set_level(logging.INFO, logger="werkzeug")
    try:
        for path in ("/invite/7.Kj3secretInvitationToken", "/password/reset/7.Kj3secretResetToken"):
            assert httpx2.get(f"http://127.0.0.1:{server.server_port}{path}", timeout=10).status_code < 500
    finally:
        server.shutdown()
    access_lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any('"GET /invite/<link_token>"' in line for line in access_lines), access_lines
    assert any('"GET /password/reset/<link_token>"' in line for line in access_lines), access_lines
    assert "Kj3secret" not in caplog.text


def test_text_format_adds_no_handler(app):
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    configure("text")
    assert not [h for h in root.handlers if isinstance(h, StderrHandler)]
    configure("json")
    configure("json")  # once per process, however many apps are made
    assert len([h for h in root.handlers if isinstance(h, StderrHandler)]) == 1


# -- the real processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(app) -> dict[str, str]:
    env = {**os.environ, "TIMEHUB_LOG_FORMAT": "json", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "TIMEHUB_INSTANCE": app.config["INSTANCE_PATH"], "TIMEHUB_QUEUE_NAME": app.config["TIMEHUB_QUEUE_NAME"],
           "TIMEHUB_INPROCESS_WORKER": "0"}
    env.pop("REDIS_URL", None)
    if app.config.get("REDIS_URL"):
        env["REDIS_URL"] = app.config["REDIS_URL"]
    return env


def run_until(argv: list[str], env: dict, tmp_path: Path, ready, timeout: float = 60) -> str:
    """Start a process, wait until `ready(stderr so far)` holds, stop it (SIGTERM); its stderr."""
    errors = tmp_path / f"{Path(argv[0]).name}.stderr"
    with errors.open("w") as sink:
        process = subprocess.Popen(argv, cwd=REPOSITORY, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        deadline = time.monotonic() + timeout
        while not ready(errors.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{argv[0]} did not get ready (exit {process.poll()}):\n{errors.read_text()[-3000:]}")
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return errors.read_text()


def answers(port: int, request_id: str):
    def ready(_stderr: str) -> bool:
        try:
            return httpx2.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": request_id},
                              timeout=2).status_code == 200
        except httpx2.HTTPError:
            return False
    return ready


@pytest.mark.slow
def test_gunicorn_writes_its_own_log_and_the_requests_in_json(app, tmp_path):
    port = free_port()
    written = run_until([str(VENV_BIN / "gunicorn"), "-c", "python:app.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
                         "--workers", "1", "app.wsgi:app"], process_env(app), tmp_path, answers(port, "probe-1"))
    entries = json_lines(written)
    assert any(entry["logger"] == "gunicorn.error" and entry["message"].startswith("Booting worker")
               for entry in entries)
    assert any(entry.get("request_id") == "probe-1" and entry["path"] == "/healthz" for entry in request_entries(entries))


@pytest.mark.slow
def test_timehub_serve_writes_json_lines_only(app, tmp_path):
    port = free_port()
    written = run_until([str(VENV_BIN / "timehub"), "serve", "--port", str(port)], process_env(app), tmp_path,
                        answers(port, "probe-2"))
    entries = json_lines(written)
    assert any(entry.get("request_id") == "probe-2" and entry["status"] == 200 for entry in request_entries(entries))


@pytest.mark.slow
def test_timehub_worker_writes_json_lines(app, tmp_path):
    written = run_until([str(VENV_BIN / "timehub"), "worker", "--workers", "1", "--no-scheduler"],
                        process_env(app), tmp_path, lambda text: "consumer started" in text.lower())
    entries = json_lines(written)
    assert any(entry["logger"].startswith("huey") for entry in entries)
