"""Tuning constants of the sync engine, together in one place."""
from datetime import timedelta

DEFAULT_SYNC_INTERVAL_MINUTES = 15
MIN_SYNC_INTERVAL_MINUTES = 5
# A running sync whose heartbeat is older than this is taken as dead (worker killed).
SYNC_STALE_AFTER_SECONDS = 600
PUSH_MAX_ATTEMPTS = 6
# Deliveries stored but not processed after this long are enqueued again by the scheduler.
WEBHOOK_REENQUEUE_AFTER_SECONDS = 60
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024


def push_backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, 8, ... capped at 1 hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))
