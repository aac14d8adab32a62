"""The load generator of webhook_ingest, run in a process of its own.

`concurrency` keep-alive connections, each sending one signed delivery after
the other (every delivery with its own id), until `seconds` have passed or
`max_deliveries` were sent in all. Each outcome is (delivery id, HTTP status
or the exception's name, milliseconds from sending to the full answer).
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

from tests.fakes.paged_connector import sign

SECRET = "whsec-bench"  # the webhook secret of the benchmark's integration


def _delivery(worker: int, number: int) -> tuple[bytes, dict]:
    delivery_id = f"bench-{worker}-{number}"
    body = json.dumps({"item": {"id": f"rec-{worker}-{number}", "title": f"Delivery {delivery_id}",
                                "updated_at": 1_800_000_000 + number}}).encode()
    return body, {"Content-Type": "application/json", "X-Paged-Event": "item.updated",
                  "X-Paged-Delivery": delivery_id, "X-Paged-Signature": sign(SECRET, body)}


def _send_until(url: str, worker: int, deadline: float, budget: "_Budget", out: list) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    number = 0
    while time.perf_counter() < deadline and budget.take():
        body, headers = _delivery(worker, number)
        started = time.perf_counter()
        try:
            connection.request("POST", parts.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = f"{type(exc).__name__}"
            connection.close()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        out.append((headers["X-Paged-Delivery"], status, (time.perf_counter() - started) * 1000))
        number += 1
    connection.close()


class _Budget:
    """At most `left` deliveries across all threads."""

    def __init__(self, left: int):
        self._left = left
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


def generate_load(url: str, seconds: float, concurrency: int, max_deliveries: int, results) -> None:
    budget = _Budget(max_deliveries)
    outcomes: list[list] = [[] for _ in range(concurrency)]
    started = time.perf_counter()
    deadline = started + seconds
    threads = [threading.Thread(target=_send_until, args=(url, worker, deadline, budget, outcomes[worker]))
               for worker in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put({"elapsed": time.perf_counter() - started,
                 "outcomes": [outcome for per_thread in outcomes for outcome in per_thread]})
