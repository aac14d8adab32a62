"""The WSGI application gunicorn workers load for `webhook_ingest --server gunicorn`:
TimeHub on the benchmark's database, with the paged fake registered as a provider
(and the benchmark's empty baseline endpoints).

The benchmark passes everything through the environment: TIMEHUB_INSTANCE,
DATABASE_URL, TIMEHUB_QUEUE_NAME, the keys, and PAGED_API_BASE.
"""
from __future__ import annotations

import os

from app import create_app
from bench.harness import register_paged_fake
from bench.webhook_ingest import with_baselines

register_paged_fake(os.environ["PAGED_API_BASE"])
application = with_baselines(create_app())  # the benchmark's baseline endpoints beside the app
