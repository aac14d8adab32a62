"""The load generator of concurrent_writers, run in a process of its own.

Each client signs in as its own user over a keep-alive connection, then starts
and stops its timer in turn until `seconds` have passed. Each outcome is
(client, action, HTTP status or the exception's name, milliseconds).
"""
from __future__ import annotations

import http.client
import re
import threading
import time
from urllib.parse import urlencode

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class _Browser:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookie = ""
        self.connection = http.client.HTTPConnection(host, port, timeout=60)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int | str, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            return type(exc).__name__, ""
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, text


def _client(host, port, number, email, password, deadline, out, ready):
    browser = _Browser(host, port)
    _, page = browser.request("GET", "/login")
    token = CSRF_RE.search(page).group(1)
    status, _ = browser.request("POST", "/login", {"email": email, "password": password, "csrf_token": token})
    ready.wait()
    if status != 302:
        out.append((number, "login", status, 0.0))
        return
    _, page = browser.request("GET", "/")
    token = CSRF_RE.search(page).group(1)
    action = "start"
    while time.perf_counter() < deadline[0]:
        started = time.perf_counter()
        status, _ = browser.request("POST", f"/timer/{action}", {"csrf_token": token, "timer-description": "load"})
        out.append((number, action, status, (time.perf_counter() - started) * 1000))
        action = "stop" if action == "start" else "start"


def generate_load(host: str, port: int, users: list[tuple[str, str]], seconds: float, results) -> None:
    out: list = []
    deadline = [float("inf")]
    ready = threading.Event()
    threads = [threading.Thread(target=_client, args=(host, port, number, email, password, deadline, out, ready))
               for number, (email, password) in enumerate(users)]
    for thread in threads:
        thread.start()
    time.sleep(min(10.0, 0.2 * len(users)))  # let every client sign in before the clock starts
    began = time.perf_counter()
    deadline[0] = began + seconds
    ready.set()
    for thread in threads:
        thread.join()
    results.put({"outcomes": out, "elapsed": time.perf_counter() - began})
