"""webhook_ingest: signed deliveries POSTed over real HTTP to TimeHub served by
a threaded WSGI server (werkzeug) on loopback.

The load comes from a separate process (so the client does not compete with
the server for this process's GIL): `--concurrency` keep-alive connections,
each sending one delivery after the other, every delivery with its own id,
until `--seconds` have passed or `--max-deliveries` were sent. Latency is
measured per request on the client side. Afterwards every accepted delivery
(202) is looked up in the database: `lost` counts the accepted ones that are
not stored exactly once.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

from bench.harness import bench_app, emit, make_paged_integration, register_paged_fake, say

SECRET = "whsec-bench"
GUNICORN_APP = "bench.wsgi:application"
ACCEPTED = 202


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel connections (default 8)")
    parser.add_argument("--max-deliveries", type=int, default=200_000, help="stop after this many (default 200000)")
    parser.add_argument("--server", choices=("werkzeug", "gunicorn"), default="werkzeug",
                        help="werkzeug: a threaded server in this process (default); gunicorn: worker processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="werkzeug only: profile the request handling (cProfile, every thread) into FILE")


# -- the load generator (runs in its own process) --------------------------------


def _delivery(worker: int, number: int) -> tuple[bytes, dict]:
    from tests.fakes.paged_connector import sign

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


def _load(url: str, seconds: float, concurrency: int, max_deliveries: int, results) -> None:
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


# -- the benchmark ---------------------------------------------------------------


@contextmanager
def _werkzeug(app) -> Iterator[int]:
    server = _serve(app)
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _gunicorn(bench, workers: int, threads: int) -> Iterator[int]:
    """gunicorn (gthread workers) serving bench/wsgi.py on the benchmark's database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": bench.database_url, "TIMEHUB_INSTANCE": str(bench.instance),
           "TIMEHUB_QUEUE_NAME": bench.app.config["TIMEHUB_QUEUE_NAME"]}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--threads", str(threads), "--worker-class", "gthread", "--log-level", "warning",
               GUNICORN_APP]
    server = subprocess.Popen(command, env=env)
    try:
        _wait_until_listening(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_listening(port: int, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"webhook_ingest: gunicorn exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("webhook_ingest: gunicorn did not start listening")


def _serve(app):
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="timehub-web",
                     daemon=True).start()
    return server


class _ProfiledApp:
    """WSGI middleware: cProfile around each request in its own thread, merged at the end.
    It slows every request down; use it to see where time goes, not for the figures."""

    def __init__(self, app):
        self.app = app
        self._profiles = []
        self._local = threading.local()

    def __call__(self, environ, start_response):
        import cProfile

        profile = getattr(self._local, "profile", None)
        if profile is None:
            profile = self._local.profile = cProfile.Profile()
            self._profiles.append(profile)
        profile.enable()
        try:
            return list(self.app(environ, start_response))
        finally:
            profile.disable()

    def dump(self, path: str) -> None:
        import pstats
        import io

        if not self._profiles:
            return
        stats = pstats.Stats(self._profiles[0])
        for profile in self._profiles[1:]:
            stats.add(profile)
        stats.dump_stats(path)
        text = io.StringIO()
        pstats.Stats(path, stream=text).sort_stats("cumulative").print_stats(40)
        say(f"profile written to {path}; the top of it:\n{text.getvalue()}")


def _wait_for_report(loader, results, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            report = results.get(timeout=0.5)
        except queue.Empty:
            if not loader.is_alive():
                raise SystemExit(f"webhook_ingest: the load generator exited with {loader.exitcode}") from None
            continue
        loader.join(timeout=30)
        return report
    loader.terminate()
    raise SystemExit("webhook_ingest: the load generator did not report in time")


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import WebhookDelivery

    with bench_app() as bench:
        register_paged_fake("http://127.0.0.1:9")  # deliveries only: the fake's API is never called
        integration = make_paged_integration(webhook_secret=SECRET)
        token = integration.webhook_token
        db.session.remove()  # the server's threads use their own sessions
        if args.server == "gunicorn":
            served, serving = None, _gunicorn(bench, args.workers, args.threads)
            how = f"gunicorn, {args.workers} workers x {args.threads} threads"
        else:
            served = _ProfiledApp(bench.app) if args.profile else bench.app
            serving, how = _werkzeug(served), "werkzeug, threaded, in this process"
        with serving as port:
            say(f"serving on 127.0.0.1:{port} ({how}); {args.concurrency} connections for "
                f"{args.seconds:g} s (at most {args.max_deliveries} deliveries)")
            context = multiprocessing.get_context("spawn")
            results = context.Queue()
            loader = context.Process(target=_load, args=(f"http://127.0.0.1:{port}/webhooks/paged/{token}",
                                                         args.seconds, args.concurrency, args.max_deliveries,
                                                         results))
            loader.start()
            report = _wait_for_report(loader, results, args.seconds + 120)

        if served is not None and args.profile:
            served.dump(args.profile)
        outcomes = report["outcomes"]
        statuses = Counter(status for _, status, _ in outcomes)
        accepted = {delivery for delivery, status, _ in outcomes if status == ACCEPTED}
        stored_counts = Counter(db.session.scalars(
            select(WebhookDelivery.delivery_id).where(WebhookDelivery.integration_id == integration.id)))
        stored_once = sum(1 for delivery in accepted if stored_counts[delivery] == 1)
        latencies = sorted(ms for _, status, ms in outcomes if status == ACCEPTED)
        say(f"{len(outcomes)} sent in {report['elapsed']:.2f} s; answers {dict(statuses)}; "
            f"{len(stored_counts)} rows stored, {stored_once} accepted deliveries stored exactly once; "
            f"mean latency {statistics.fmean(latencies) if latencies else 0:.1f} ms, "
            f"max {latencies[-1] if latencies else 0:.1f} ms")
        emit({
            "deliveries_per_s": round(len(accepted) / report["elapsed"], 1),
            "p50_ms": round(_percentile(latencies, 0.50), 2),
            "p99_ms": round(_percentile(latencies, 0.99), 2),
            "lost": len(accepted) - stored_once,
        })
