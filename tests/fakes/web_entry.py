"""The WSGI app gunicorn serves in multi-process tests: TimeHub, configured from the
environment exactly as `app.wsgi` is (DATABASE_URL, REDIS_URL, TIMEHUB_QUEUE_NAME,
TIMEHUB_INSTANCE, TIMEHUB_ENCRYPTION_KEYS, TIMEHUB_SECRET_KEY), with the paged fake's
connector plugged into the provider registry, as tests/fakes/worker_entry.py does for
the workers (its webhooks are verified by that connector):

    gunicorn 'tests.fakes.web_entry:application'
"""
from __future__ import annotations

from app import create_app
from app.integrations import registry
from tests.fakes.paged_connector import PAGED_CONNECTORS

registry._CONNECTORS.update(PAGED_CONNECTORS)
application = create_app()
