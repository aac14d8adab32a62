"""webhook_ingest: signed deliveries POSTed over real HTTP to TimeHub served by
a threaded WSGI server (werkzeug) on loopback.

`--server gunicorn` serves it with gunicorn worker processes instead. The
same server first answers EMPTY_PATH (202, nothing read, stored or queued) to the
same client for the same time: the rate and p99 against that baseline travel
between machines, where absolute rates do not. So does a view of the app that
answers 202 at once (FRAMEWORK_PATH): against it, the intake's own share. The
server's CPU time per answer is reported for all three, and the server is
warmed up first (gunicorn's workers load the app after the socket listens). The load comes from a separate process (bench/webhook_load.py), so
the client does not compete with the server for this process's GIL. Latency is
measured per request on the client side. Afterwards every accepted delivery
(202) is looked up in the database: `lost` counts the accepted ones that are
not stored exactly once. stderr also says how many stored deliveries the job
queue holds a process_webhook job for (intake enqueues ids in batches).
`--worker` runs a worker process beside the intake during the deliveries
(bench/webhook_worker.py): how far behind it was, how long it took to catch up.
"""
from __future__ import annotations

import argparse
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
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator

from bench.harness import bench_app, emit, make_paged_integration, register_paged_fake, say
from bench.profiling import ProfiledApp
from bench.webhook_load import SECRET, generate_load
from bench.webhook_worker import applied_figures, drain, waiting, worker_process

GUNICORN_APP = "bench.wsgi:application"
ACCEPTED = 202
EMPTY_PATH = "/bench/empty"  # the baseline: an endpoint of the same server that does nothing
FRAMEWORK_PATH = "/bench/flask-empty"  # a Flask view of the app that does nothing
WARM_UP_ANSWERS = 50  # new connections each, so that every gunicorn worker gets some


def with_baselines(app, served=None):
    """`served` (default: the Flask `app` itself) behind a WSGI layer answering EMPTY_PATH
    with 202 at once (the body is not even read): that baseline pays only for the server
    and the client. Also registers FRAMEWORK_PATH on `app`, a view answering 202 at once:
    what Flask and the app's request hooks cost a webhook before the intake does anything."""
    from app.extensions import csrf

    endpoint = "webhooks.bench_empty"  # under the webhook blueprint's name: the hooks treat it as one
    app.add_url_rule(FRAMEWORK_PATH, endpoint, lambda: ("", ACCEPTED), methods=["POST"])
    csrf.exempt(endpoint)

    def serve(environ, start_response):
        if environ.get("PATH_INFO") == EMPTY_PATH:
            start_response("202 Accepted", [("Content-Length", "0")])
            return [b""]
        return (served or app)(environ, start_response)
    return serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel connections (default 8)")
    parser.add_argument("--max-deliveries", type=int, default=200_000, help="stop after this many (default 200000)")
    parser.add_argument("--server", choices=("werkzeug", "gunicorn"), default="werkzeug",
                        help="werkzeug: a threaded server in this process (default); gunicorn: worker processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--worker", action="store_true",
                        help="a worker process applies the deliveries while they arrive: how far behind it was "
                             "when the load stopped, how long it took to catch up, in how many runs (the "
                             "intake's figures are then taken with the worker beside it on the same CPUs)")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="werkzeug only: profile the request handling (cProfile, every thread) into FILE")


# -- the benchmark ---------------------------------------------------------------


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (Linux /proc), all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        children.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return children


@contextmanager
def _werkzeug(app, served) -> Iterator[tuple[int, Callable[[], float]]]:
    server = _serve(app, served)
    try:
        yield server.server_port, time.process_time  # the server's threads are this process's
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _gunicorn(bench, workers: int, threads: int) -> Iterator[tuple[int, Callable[[], float]]]:
    """gunicorn (gthread workers) serving bench/wsgi.py on the benchmark's database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _process_env(bench)
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--threads", str(threads), "--worker-class", "gthread", "--log-level", "warning",
               GUNICORN_APP]
    server = subprocess.Popen(command, env=env)
    try:
        _wait_until_listening(port, server)
        yield port, lambda: sum(_process_cpu_seconds(pid) for pid in [server.pid, *_children_of(server.pid)])
    finally:
        server.terminate()
        server.wait(timeout=30)


def _process_env(bench) -> dict:
    """What a server or worker process needs to run on the benchmark's database and queue."""
    return {**os.environ, "DATABASE_URL": bench.database_url, "TIMEHUB_INSTANCE": str(bench.instance),
            "TIMEHUB_QUEUE_NAME": bench.app.config["TIMEHUB_QUEUE_NAME"]}


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


def _serve(app, served=None):
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    server = make_server("127.0.0.1", 0, with_baselines(app, served), threaded=True, request_handler=Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="timehub-web",
                     daemon=True).start()
    return server


def _warm_up(port: int, timeout: float = 60.0) -> None:
    """Until the app's empty view answers, then a few more: the first phase must not pay
    for workers still loading the app (or for Flask's first request)."""
    import http.client

    deadline, answered = time.monotonic() + timeout, 0
    while answered < WARM_UP_ANSWERS:
        if time.monotonic() > deadline:
            raise SystemExit("webhook_ingest: the server did not answer in time")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("POST", FRAMEWORK_PATH, body=b"{}")
            answered += connection.getresponse().status == ACCEPTED
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            connection.close()


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


def _load(url: str, args: argparse.Namespace, server_cpu: Callable[[], float]) -> dict:
    """`args.concurrency` connections POSTing signed deliveries to `url` for `args.seconds`,
    from a process of their own; the load generator's report, with the CPU seconds the
    server spent meanwhile (`server_cpu_s`)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    loader = context.Process(target=generate_load, args=(url, args.seconds, args.concurrency, args.max_deliveries,
                                                         results))
    loader.start()
    cpu_before = server_cpu()
    report = _wait_for_report(loader, results, args.seconds + 120)
    return {**report, "server_cpu_s": server_cpu() - cpu_before}


def _accepted_latencies(report: dict) -> list[float]:
    return sorted(ms for _, status, ms in report["outcomes"] if status == ACCEPTED)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _queue_coverage(integration_id: int) -> str:
    """How many stored deliveries the queue holds a process_webhook job for: intake
    enqueues ids in batches, and ids a server process held when it stopped are left
    to the scheduler's re-enqueue (nothing consumed the queue during the run)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.jobs import huey
    from app.models import WebhookDelivery

    jobs, queued = 0, set()
    for task in huey.pending():
        if task.name == "process_webhook":
            jobs += 1
            argument = task.args[0]
            queued.update([argument] if isinstance(argument, int) else argument)
    stored = set(db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.integration_id == integration_id)))
    return (f"queue: {jobs} process_webhook jobs for {len(stored & queued)} of {len(stored)} stored deliveries "
            f"({len(stored) / jobs if jobs else 0:.1f} a job); {len(stored - queued)} left to the scheduler's re-enqueue")


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import WebhookDelivery

    if args.profile and args.server != "werkzeug":
        raise SystemExit("webhook_ingest: --profile works with --server werkzeug only")
    with bench_app() as bench:
        register_paged_fake("http://127.0.0.1:9")  # deliveries only: the fake's API is never called
        integration = make_paged_integration(webhook_secret=SECRET)
        integration_id, token = integration.id, integration.webhook_token
        db.session.remove()  # the server's threads use their own sessions
        if args.server == "gunicorn":
            served, serving = None, _gunicorn(bench, args.workers, args.threads)
            how = f"gunicorn, {args.workers} workers x {args.threads} threads"
        else:
            served = ProfiledApp(bench.app) if args.profile else bench.app
            serving, how = _werkzeug(bench.app, served), "werkzeug, threaded, in this process"
        with serving as (port, server_cpu):
            say(f"serving on 127.0.0.1:{port} ({how}); {args.concurrency} connections for "
                f"{args.seconds:g} s (at most {args.max_deliveries} deliveries)")
            _warm_up(port)
            empty = _load(f"http://127.0.0.1:{port}{EMPTY_PATH}", args, server_cpu)
            framework = _load(f"http://127.0.0.1:{port}{FRAMEWORK_PATH}", args, server_cpu)
            with worker_process(bench, _process_env(bench)) if args.worker else nullcontext() as worker:
                report = _load(f"http://127.0.0.1:{port}/webhooks/paged/{token}", args, server_cpu)
                if worker:
                    behind = waiting(integration_id)
                    drain_s = drain(integration_id, *worker)

        if served is not None and args.profile:
            served.dump(args.profile)
        outcomes = report["outcomes"]
        statuses = Counter(status for _, status, _ in outcomes)
        accepted = {delivery for delivery, status, _ in outcomes if status == ACCEPTED}
        applying = applied_figures(integration_id, accepted, behind, drain_s, report["elapsed"]) if args.worker else {}
        stored_counts = Counter(db.session.scalars(
            select(WebhookDelivery.delivery_id).where(WebhookDelivery.integration_id == integration_id)))
        stored_once = sum(1 for delivery in accepted if stored_counts[delivery] == 1)
        if not args.worker:  # else the worker consumed the jobs
            say(_queue_coverage(integration_id))
        latencies = _accepted_latencies(report)
        empty_latencies = _accepted_latencies(empty)
        rate = len(accepted) / report["elapsed"]
        empty_rate = len(empty_latencies) / empty["elapsed"]
        p99, empty_p99 = _percentile(latencies, 0.99), _percentile(empty_latencies, 0.99)
        say(f"baseline (same server, same client, {EMPTY_PATH} answering 202 at once): "
            f"{empty_rate:.1f}/s, p99 {empty_p99:.2f} ms")
        say(f"{len(outcomes)} sent in {report['elapsed']:.2f} s; answers {dict(statuses)}; "
            f"{len(stored_counts)} rows stored, {stored_once} accepted deliveries stored exactly once; "
            f"mean latency {statistics.fmean(latencies) if latencies else 0:.1f} ms, "
            f"max {latencies[-1] if latencies else 0:.1f} ms")
        framework_latencies = _accepted_latencies(framework)
        framework_rate = len(framework_latencies) / framework["elapsed"]
        framework_p99 = _percentile(framework_latencies, 0.99)
        say(f"the app's empty view ({FRAMEWORK_PATH}, Flask and the request hooks only): "
            f"{framework_rate:.1f}/s, p99 {framework_p99:.2f} ms")
        emit({
            "deliveries_per_s": round(rate, 1),
            "p50_ms": round(_percentile(latencies, 0.50), 2),
            "p99_ms": round(p99, 2),
            "lost": len(accepted) - stored_once,
            "empty_per_s": round(empty_rate, 1),
            "empty_p99_ms": round(empty_p99, 2),
            "rate_vs_empty": round(rate / empty_rate, 3) if empty_rate else None,   # goal >= 0.5
            "p99_vs_empty": round(p99 / empty_p99, 2) if empty_p99 else None,      # goal <= 2
            "framework_per_s": round(framework_rate, 1),
            "framework_p99_ms": round(framework_p99, 2),
            "rate_vs_framework": round(rate / framework_rate, 3) if framework_rate else None,
            "p99_vs_framework": round(p99 / framework_p99, 2) if framework_p99 else None,
            # The server's CPU per answer (all its threads or processes), for each of the three.
            "server_cpu_ms": _cpu_ms_per_answer(report),
            "empty_server_cpu_ms": _cpu_ms_per_answer(empty),
            "framework_server_cpu_ms": _cpu_ms_per_answer(framework),
            **applying,
        })


def _cpu_ms_per_answer(report: dict) -> float:
    answers = len(report["outcomes"])
    return round(1000 * report["server_cpu_s"] / answers, 3) if answers else 0.0
