"""A loopback HTTP server for fake providers.

`FakeServer` serves any WSGI application on 127.0.0.1 with a port the OS
chooses, in a background thread (one thread per request, like a real
server under concurrent clients), and records every exchange so tests can
assert what the app really sent. The app under test reaches it through
httpx2 exactly as it would reach the real provider.

    with FakeServer(my_wsgi_app) as server:
        call_the_app(api_base=server.base_url)
        assert server.requests[0].path == "/1/members/me"

Request validation: a fake that passes `description=` (tests.contract.Description) has
every request it receives checked against its provider's API description as it
arrives, an unknown query parameter included. Problems are kept in
`server.violations` and in `CHECKS` (process-wide), and fail the test that caused
them: `stop()` raises when the fake stops normally, and the autouse fixture in
tests/conftest.py fails any test that leaves one unreported. The fake still
answers as it would, so the app under test meets the provider's own behaviour; the
failure comes with the violation's text. A test that sends off-description
requests on purpose says why with `@pytest.mark.off_description("reason")`.
"""
from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

from werkzeug.serving import WSGIRequestHandler, make_server

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class RequestChecks:
    """The running test's view of request validation (set by tests/conftest.py)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waived: str | None = None          # the test's stated reason to send off-description requests
        self.unreported: list[str] = []         # violations no fake has raised yet

    def found(self, lines: list[str]) -> None:
        with self.lock:
            if self.waived is None:
                self.unreported.extend(lines)

    def take(self, lines: list[str] | None = None) -> list[str]:
        """Remove and return `lines` (or every unreported violation)."""
        with self.lock:
            taken = list(self.unreported) if lines is None else [x for x in lines if x in self.unreported]
            for line in taken:
                self.unreported.remove(line)
            return taken


CHECKS = RequestChecks()


class DescriptionViolation(AssertionError):
    """A fake received a request its provider's API description does not allow."""

    @classmethod
    def of(cls, lines: list[str]) -> "DescriptionViolation":
        shown = "\n  ".join(lines[:20]) + (f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else "")
        return cls(f"{len(lines)} request(s) broke the provider's API description:\n  {shown}")


@dataclass
class RecordedRequest:
    """One request the fake received, and what it answered."""

    method: str
    path: str
    query: list[tuple[str, str]]          # in order, repeated keys kept
    headers: dict[str, str]               # header names lower-cased
    body: bytes
    status: int | None = None             # filled once the fake has answered
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def args(self) -> dict[str, str]:
        """Query parameters as a plain dict (the last value wins for repeated keys)."""
        return dict(self.query)

    def json(self) -> Any:
        return json.loads(self.body)

    def response_json(self) -> Any:
        return json.loads(self.response_body)


class QuietRequestHandler(WSGIRequestHandler):
    """No access log: request lines carry query strings, and Trello's carry key and token."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class _Recorder:
    """WSGI middleware: copy each request before the fake sees it, and the answer after."""

    def __init__(self, app: WSGIApp, sink: Callable[[RecordedRequest], None]):
        self.app = app
        self.sink = sink
        self.check: Callable[[RecordedRequest], None] = lambda record: None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # the fake reads the same bytes again
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        record = RecordedRequest(
            method=environ["REQUEST_METHOD"],
            path=environ.get("PATH_INFO", ""),
            query=parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            headers=headers,
            body=body,
        )
        self.sink(record)
        self.check(record)

        def recording_start_response(status: str, response_headers: list, exc_info=None):
            record.status = int(status.split(" ", 1)[0])
            record.response_headers = {name.lower(): value for name, value in response_headers}
            return start_response(status, response_headers, exc_info)

        chunks = self.app(environ, recording_start_response)
        try:
            record.response_body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return [record.response_body]


class FakeServer:
    """Serve a WSGI app on loopback in a background thread; record what it receives."""

    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", *, description=None):
        """`description`: a tests.contract.Description every received request is checked against."""
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.description = description
        recorder = _Recorder(app, self._record)
        if description is not None:
            recorder.check = self._check
        self._server = make_server(host, 0, recorder, threaded=True, request_handler=QuietRequestHandler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://{self._server.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _check(self, record: RecordedRequest) -> None:
        try:
            lines = self.description.violations(record)
        except Exception as error:  # a broken check must fail loudly, not pass quietly
            lines = [f"{record.method} {record.path}: the check itself failed: {error!r}"]
        if lines:
            with self._lock:
                self.violations.extend(lines)
            CHECKS.found(lines)

    def raise_violations(self) -> None:
        """Raise DescriptionViolation for what this fake received and nobody reported yet."""
        with self._lock:
            mine = list(self.violations)
        lines = CHECKS.take(mine)
        if lines:
            raise DescriptionViolation.of(lines)

    def start(self) -> "FakeServer":
        if self._thread is None:
            # A short poll interval keeps stop() fast; the loop is idle otherwise.
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                            name=f"fake-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if exc[0] is None:
            self.raise_violations()
