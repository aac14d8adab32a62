"""The daily job that keeps idle OAuth connections alive.

Some providers (Xero, QuickBooks, Atlassian) let a refresh token lapse when it
goes unused for weeks; a connection nobody synced in that time would silently
need a reconnect. Once a day the token service refreshes every connection
whose refresh token is halfway to that limit.
"""
from __future__ import annotations

import logging

from huey import crontab

from app.jobs import huey, in_app_context

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="23", hour="3"), name="refresh_idle_tokens")
@in_app_context
def refresh_idle_tokens() -> dict[int, str]:
    from app.services.token_service import refresh_idle_connections
    outcomes = refresh_idle_connections()
    failed = {integration_id: outcome for integration_id, outcome in outcomes.items() if outcome != "refreshed"}
    if outcomes:
        log.info("Idle token refresh: %s refreshed, %s failed", len(outcomes) - len(failed), len(failed))
    for integration_id, outcome in failed.items():
        log.warning("Idle token refresh of integration %s failed: %s", integration_id, outcome)
    return outcomes
