"""webhook_apply: stored webhook deliveries applied by the process_webhook job.

The job is handed the ids the intake enqueued together (`--batch` of them) and applies
each integration's as one run (the run lock, a connector, the records through their
external links, the run finished). The same number of deliveries is also applied one
job each, each delivery a run of its own: what a lone delivery costs. The baseline,
measured in the same run, is the same records applied by the sync engine in pages of
100 (apply_records, a commit a page): the ratios against it are what travel between
machines. The fake's API is never called; the CPU is this process's alone.
"""
from __future__ import annotations

import argparse
import json
import time

from bench.harness import bench_app, emit, make_paged_integration, register_paged_fake, say

PAGE = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deliveries", type=int, default=500,
                        help="deliveries applied in batches, and as many one by one (default 500)")
    parser.add_argument("--batch", type=int, default=20, help="deliveries a job is handed (default 20)")


def _stored(integration_id: int, numbers: range) -> list[int]:
    """Store a delivery for each number (a project of its own): their ids, in stored order."""
    from app.extensions import db
    from app.models import WebhookDelivery
    from app.models.base import utcnow

    rows = [WebhookDelivery(integration_id=integration_id, delivery_id=f"bench-{number}", event="item.updated",
                            body=_body(number, "Hooked"), received_at=utcnow()) for number in numbers]
    db.session.add_all(rows)
    db.session.commit()
    ids = [row.id for row in rows]
    db.session.remove()
    return ids


def _cpu_ms_each(jobs: list[list[int]]) -> float:
    """CPU per delivery of running process_webhook on each of `jobs`."""
    from app.jobs import process_webhook

    started = time.process_time()
    for ids in jobs:
        process_webhook.call_local(ids)
    return (time.process_time() - started) * 1000 / sum(map(len, jobs))


def _body(number: int, title: str) -> str:
    return json.dumps({"item": {"id": f"rec-{number:06d}", "title": f"{title} {number}",
                                "updated_at": 1_800_000_000 + number}})


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.integrations.exchange import RemoteRecord
    from app.models import Project, WebhookDelivery
    from app.services.sync_service import apply_records

    count = args.deliveries
    with bench_app():
        register_paged_fake("http://127.0.0.1:9")  # deliveries only: the fake's API is never called
        integration_id = make_paged_integration().id

        # The baseline's records have ids of their own: the deliveries then create as many again.
        records = [RemoteRecord("project", f"base-{number:06d}", str(1_800_000_000 + number),
                                {"name": f"Paged {number}"}, version_order=int) for number in range(count)]
        started = time.process_time()
        for first in range(0, count, PAGE):
            apply_records(db.session, integration_id, records[first:first + PAGE])
            db.session.commit()
        bulk_cpu = time.process_time() - started

        batched = _stored(integration_id, range(count))
        per_delivery = _cpu_ms_each([batched[first:first + args.batch] for first in range(0, count, args.batch)])
        alone = _stored(integration_id, range(count, 2 * count))
        per_delivery_alone = _cpu_ms_each([[delivery_id] for delivery_id in alone])

        applied = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.integration_id == integration_id, WebhookDelivery.processed_at.is_not(None),
            WebhookDelivery.error.is_(None)))
        projects = db.session.scalar(select(func.count()).select_from(Project))
        per_record = bulk_cpu * 1000 / count
        say(f"{applied} of {2 * count} deliveries applied: {per_delivery:.2f} ms of CPU each in jobs of "
            f"{args.batch}, {per_delivery_alone:.2f} ms a job each; the same records in pages of {PAGE}: "
            f"{per_record:.3f} ms each; {projects} projects in all")
        emit({"deliveries": 2 * count, "applied": applied, "projects": projects, "batch": args.batch,
              "cpu_ms_per_delivery": round(per_delivery, 3), "cpu_ms_per_delivery_alone": round(per_delivery_alone, 3),
              "bulk_cpu_ms_per_record": round(per_record, 3),
              "delivery_vs_bulk": round(per_delivery / per_record, 1) if per_record else None,
              "alone_vs_bulk": round(per_delivery_alone / per_record, 1) if per_record else None})
