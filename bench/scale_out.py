"""scale_out: the same first import run by 1 and by N worker processes (`timehub worker`
with the paged fake's connectors plugged in) on PostgreSQL + Redis.

One integration's sync is single-flight by design (one running run per integration,
app/services/sync_service.start_run), so workers scale across integrations: the
records are split over `--integrations` providers (the paged fake under the slugs
paged_1 ... paged_K, each its own fake server, its own request budget, lifted here),
and every worker process runs one job at a time. Reports, for each worker count, the
records per second from the moment the syncs are queued to the moment the last run
finished, and each worker's peak RSS (VmHWM of /proc/<pid>/status, read before it
stops); then the ratio of the rates.

    python -m bench scale_out --records 100000 [--integrations 3] [--workers 1,3]

Worker processes: `python -m bench.scale_out --serve-worker K` (what this benchmark starts).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import UNREACHED_REQUESTS_PER_SECOND, bench_app, emit, say

REPOSITORY = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_SECONDS = 3600
WORKER_START_TIMEOUT_SECONDS = 180


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=100_000, help="records over all integrations, split evenly (default 100000)")
    parser.add_argument("--integrations", type=int, default=3, help="providers the records are split over (default 3)")
    parser.add_argument("--workers", default="1,3", help="worker process counts to compare (default 1,3)")


def scale_connectors(count: int) -> dict:
    """The paged fake's connector under `count` slugs (paged_1 ...): one global integration
    per provider is allowed, so K integrations need K providers."""
    from tests.fakes.paged_connector import SPEC, PagedConnector

    return {f"paged_{n}": type(f"ScalePagedConnector{n}", (PagedConnector,),
                               {"spec": dataclasses.replace(SPEC, slug=f"paged_{n}", name=f"Paged fake {n}")})
            for n in range(1, count + 1)}


def register(count: int) -> dict:
    """Plug the connectors in, with a request budget the fakes never reach (the engine is measured)."""
    from app.integrations import ratelimit, registry

    connectors = scale_connectors(count)
    registry._CONNECTORS.update(connectors)
    for slug in connectors:
        ratelimit.overrides[slug] = ratelimit.RateLimit(UNREACHED_REQUESTS_PER_SECOND, 1.0)
    return connectors


def serve_worker(count: int) -> None:
    """One worker process: one job at a time, no scheduler (the benchmark queues the syncs)."""
    from app import create_app
    from app.jobs import run_worker

    # The consumer's INFO lines say when it is up (the benchmark waits for "Huey consumer started").
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    register(count)
    create_app()
    run_worker(1, scheduler=False)


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for process {pid}")


def measure(records: int, integrations: int, workers: int) -> dict:
    """A fresh database, K fakes, `workers` processes: seconds from queueing the K syncs to the last one done."""
    from sqlalchemy import func, select

    from app import jobs
    from app.extensions import db
    from app.models import Integration, IntegrationCredential, SyncRun
    from app.models.base import utcnow
    from tests.fakes.paged_provider import PagedProvider

    per_integration = records // integrations
    with bench_app() as bench:
        connectors = register(integrations)
        fakes = [PagedProvider(records=per_integration, seed=n, max_page_size=100).start() for n in range(integrations)]
        started: list[subprocess.Popen] = []
        try:
            for slug, fake in zip(connectors, fakes):
                os.environ[f"{slug.upper()}_API_BASE"] = fake.url
                integration = Integration(provider=slug, is_global=True, status="active", settings={},
                                          last_sync_at=utcnow())  # only the queued import, no scheduled one
                integration.credential = IntegrationCredential(kind="api_key")
                integration.credential.payload = {"token": "paged-token", "webhook_secret": "whsec-bench"}
                db.session.add(integration)
            db.session.commit()
            env = {**os.environ, "DATABASE_URL": bench.database_url, "TIMEHUB_INSTANCE": str(bench.instance),
                   "TIMEHUB_QUEUE_NAME": bench.app.config["TIMEHUB_QUEUE_NAME"]}
            logs = [bench.instance / f"worker-{n}.log" for n in range(workers)]
            for log in logs:
                with log.open("wb") as out:
                    started.append(subprocess.Popen(
                        [sys.executable, "-m", "bench.scale_out", "--serve-worker", str(integrations)],
                        cwd=REPOSITORY, env=env, stdout=out, stderr=subprocess.STDOUT))
            wait_for_consumers(started, logs)

            say(f"{workers} worker process(es) up; queueing {integrations} imports of {per_integration} records")
            begin = time.perf_counter()
            for integration_id in db.session.scalars(select(Integration.id)):
                jobs.sync_integration(integration_id, trigger="manual")
            deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
            while True:
                db.session.rollback()
                done = db.session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.status != "running"))
                if done == integrations:
                    break
                if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                    raise SystemExit(f"scale_out: the imports did not finish\n{tails(logs)}")
                time.sleep(0.1)
            seconds = time.perf_counter() - begin
            sync_runs = list(db.session.scalars(select(SyncRun)))
            created = sum(r.created for r in sync_runs)
            if any(r.status != "succeeded" for r in sync_runs) or created != per_integration * integrations:
                raise SystemExit(f"scale_out: runs {[(r.status, r.created, r.error) for r in sync_runs]}")
            peaks = [vm_hwm_mb(p.pid) for p in started]
        finally:
            for process in started:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            for process in started:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            for fake in fakes:
                fake.stop()
    result = {"workers": workers, "records": created, "seconds": round(seconds, 3),
              "records_per_s": round(created / seconds, 1), "peak_rss_mb_per_worker": peaks,
              "load_average": round(os.getloadavg()[0], 2)}
    say(f"{workers} worker(s): {result}")
    return result


def wait_for_consumers(processes: list[subprocess.Popen], logs: list[Path]) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
    while not all("Huey consumer started" in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise SystemExit(f"scale_out: the workers did not start\n{tails(logs)}")
        time.sleep(0.2)


def tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in logs)


def run(args: argparse.Namespace) -> None:
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL")
    if not database_url.startswith("postgresql") or not redis_url:
        raise SystemExit("scale_out: set DATABASE_URL (PostgreSQL) and REDIS_URL: worker processes share "
                         "one database and one queue")
    counts = [int(n) for n in args.workers.split(",")]
    say(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.records} records over "
        f"{args.integrations} integrations; worker counts {counts}")
    results = [measure(args.records, args.integrations, n) for n in counts]
    base = results[0]["records_per_s"]
    emit({"records": results[0]["records"], "integrations": args.integrations, "runs": results,
          "scaling_ratio": round(results[-1]["records_per_s"] / base, 2),
          "load_average": [round(x, 2) for x in os.getloadavg()]})


if __name__ == "__main__":
    worker = argparse.ArgumentParser(prog="python -m bench.scale_out")
    worker.add_argument("--serve-worker", type=int, required=True, metavar="K",
                        help="run one worker process for K integrations (started by the benchmark)")
    serve_worker(worker.parse_args().serve_worker)
