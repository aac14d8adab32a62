"""webhook_apply: stored webhook deliveries applied one by one, as the process_webhook job does.

Each delivery is a run of its own (process_delivery: the run lock, a connector, the
record applied through its external link, the run finished), so its cost is TimeHub's
bookkeeping around one record. The baseline, measured in the same run, is the same
records applied by the sync engine in pages of 100 (apply_records, a commit a page):
the ratio of the two is what travels between machines. The fake's API is never called;
the CPU is this process's alone.
"""
from __future__ import annotations

import argparse
import json
import time

from bench.harness import bench_app, emit, make_paged_integration, register_paged_fake, say

PAGE = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deliveries", type=int, default=500, help="deliveries stored, then applied (default 500)")


def _body(number: int, title: str) -> str:
    return json.dumps({"item": {"id": f"rec-{number:06d}", "title": f"{title} {number}",
                                "updated_at": 1_800_000_000 + number}})


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.integrations.exchange import RemoteRecord
    from app.models import Project, WebhookDelivery
    from app.models.base import utcnow
    from app.services.sync_service import apply_records
    from app.services.webhook_service import process_delivery

    count = args.deliveries
    with bench_app():
        register_paged_fake("http://127.0.0.1:9")  # deliveries only: the fake's API is never called
        integration = make_paged_integration()

        # The baseline's records have ids of their own: the deliveries then create as many again.
        records = [RemoteRecord("project", f"base-{number:06d}", str(1_800_000_000 + number),
                                {"name": f"Paged {number}"}, version_order=int) for number in range(count)]
        started = time.process_time()
        for first in range(0, count, PAGE):
            apply_records(db.session, integration.id, records[first:first + PAGE])
            db.session.commit()
        bulk_cpu = time.process_time() - started

        db.session.add_all(WebhookDelivery(integration_id=integration.id, delivery_id=f"bench-{number}",
                                           event="item.updated", body=_body(number, "Hooked"), received_at=utcnow())
                           for number in range(count))
        db.session.commit()
        ids = list(db.session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.integration_id == integration.id).order_by(WebhookDelivery.id)))
        db.session.remove()
        started = time.process_time()
        for delivery_id in ids:
            process_delivery(delivery_id)
        delivery_cpu = time.process_time() - started

        applied = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.integration_id == integration.id, WebhookDelivery.processed_at.is_not(None),
            WebhookDelivery.error.is_(None)))
        projects = db.session.scalar(select(func.count()).select_from(Project))
        per_delivery, per_record = delivery_cpu * 1000 / count, bulk_cpu * 1000 / count
        say(f"{applied} of {count} deliveries applied at {per_delivery:.2f} ms of CPU each; the same records "
            f"in pages of {PAGE}: {per_record:.3f} ms each; {projects} projects in all")
        emit({"deliveries": count, "applied": applied, "projects": projects,
              "cpu_ms_per_delivery": round(per_delivery, 3), "bulk_cpu_ms_per_record": round(per_record, 3),
              "delivery_vs_bulk": round(per_delivery / per_record, 1) if per_record else None})
