"""webhook_apply: stored webhook deliveries applied by the process_webhook job.

A backlog: N deliveries stored, then their jobs run, each handed `--batch` ids as the
intake enqueues them. A job applies its integration's deliveries as one run (the run lock,
a connector, the records through their external links, the run finished), taking the
other waiting ones along (tuning.WEBHOOK_APPLY_BATCH_MAX in all); the later jobs find
theirs done. Then as many deliveries arriving one at a time, each applied by its own job
before the next is stored: a run for each, what a lone delivery costs. The baseline,
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
                        help="deliveries applied from a backlog, and as many arriving one by one (default 500)")
    parser.add_argument("--batch", type=int, default=20, help="ids a backlog's job is handed (default 20)")


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


def _job_cpu_seconds(ids: list[int]) -> float:
    from app.jobs import process_webhook

    started = time.process_time()
    process_webhook.call_local(ids)
    return time.process_time() - started


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

        backlog = _stored(integration_id, range(count))
        per_delivery = sum(_job_cpu_seconds(backlog[first:first + args.batch])
                           for first in range(0, count, args.batch)) * 1000 / count
        per_delivery_alone = sum(_job_cpu_seconds(_stored(integration_id, range(number, number + 1)))
                                 for number in range(count, 2 * count)) * 1000 / count

        applied = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.integration_id == integration_id, WebhookDelivery.processed_at.is_not(None),
            WebhookDelivery.error.is_(None)))
        projects = db.session.scalar(select(func.count()).select_from(Project))
        per_record = bulk_cpu * 1000 / count
        say(f"{applied} of {2 * count} deliveries applied: {per_delivery:.2f} ms of CPU each from a backlog "
            f"(jobs of {args.batch} ids), {per_delivery_alone:.2f} ms each arriving alone; the same records in pages of {PAGE}: "
            f"{per_record:.3f} ms each; {projects} projects in all")
        emit({"deliveries": 2 * count, "applied": applied, "projects": projects, "batch": args.batch,
              "cpu_ms_per_delivery": round(per_delivery, 3), "cpu_ms_per_delivery_alone": round(per_delivery_alone, 3),
              "bulk_cpu_ms_per_record": round(per_record, 3),
              "delivery_vs_bulk": round(per_delivery / per_record, 1) if per_record else None,
              "alone_vs_bulk": round(per_delivery_alone / per_record, 1) if per_record else None})
