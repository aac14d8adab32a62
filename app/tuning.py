"""Every tuning constant of the integration system, in one place.

Change a number here, not in the code that uses it. Per-provider limits are
deliberately a little below what each provider documents, so that several
workers sharing one limiter never reach the provider's own ceiling.
"""
from __future__ import annotations

from datetime import timedelta

import httpx2

# -- provider HTTP client (app.integrations.http) ----------------------------------
# Retries (RetryPolicy defaults).
MAX_ATTEMPTS = 5                  # first try included
BACKOFF_BASE_SECONDS = 0.5        # first retry waits about this long, doubling after
BACKOFF_CAP_SECONDS = 30.0        # no single backoff is longer than this
MAX_TOTAL_WAIT_SECONDS = 120.0    # all waits of one request together; beyond it the job retries later
MAX_RATE_LIMIT_WAIT_SECONDS = 60.0  # a longer Retry-After is handed back to the caller instead

# Timeouts of one HTTP attempt.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0

# Rate limiters (app.integrations.ratelimit).
MAX_LIMITER_WAIT_SECONDS = 120.0  # waiting longer than this for a slot raises RateLimitedError
LIMITER_POLL_SECONDS = 0.01       # re-check interval while every concurrent slot is taken
LIMITER_LEASE_SECONDS = 120.0     # a slot held by a crashed worker frees itself after this

# (requests, per seconds, max concurrent requests); None means "no limit of that kind".
DEFAULT_LIMIT = (10, 1.0, 4)
PROVIDER_LIMITS: dict[str, tuple[int, float, int | None]] = {
    "jira": (10, 1.0, 4),               # cost-based; a steady 10/s stays clear of it
    "github": (4_500, 3_600.0, 4),      # 5,000 per hour per token; secondary limits dislike concurrency
    "gitlab": (25, 1.0, 4),             # gitlab.com: 2,000 per minute per user
    "asana": (140, 60.0, 10),           # 150 per minute (free), 50 concurrent GETs
    "trello": (90, 10.0, 4),            # 100 per 10 s per token
    "slack": (45, 60.0, 2),             # Tier 3 methods: about 50 per minute
    "microsoft_teams": (8, 1.0, 4),     # Graph: per app and tenant, varies by workload
    "outlook_calendar": (8, 1.0, 4),    # Graph: 10,000 per 10 min per mailbox, 4 concurrent
    "quickbooks": (450, 60.0, 10),      # 500 per minute per realm, 10 concurrent
    "xero": (55, 60.0, 5),              # 60 per minute per tenant, 5 concurrent
    "google_calendar": (8, 1.0, 4),     # per-user quota of the Calendar API
}


# -- OAuth (app.integrations.oauth, app.services.token_service) ---------------------

STATE_TTL_SECONDS = 10 * 60          # an authorization must come back within this
MAX_PENDING_AUTHORIZATIONS = 5       # per browser session; keeps the session cookie small
TOKEN_ENDPOINT_TIMEOUT = httpx2.Timeout(10.0, connect=5.0)
REFRESH_MARGIN_SECONDS = 5 * 60      # refresh this long before the access token expires
TOKEN_ENDPOINT_ATTEMPTS = 3          # transient failures (5xx, timeouts) are retried this often in all
RETRY_BACKOFF_SECONDS = 0.5          # first pause between attempts; doubles each time
LOCK_WAIT_SECONDS = 30               # how long a worker waits for another one's refresh


# -- sync engine (app.services.sync_service, webhooks) ------------------------------
DEFAULT_SYNC_INTERVAL_MINUTES = 15
MIN_SYNC_INTERVAL_MINUTES = 5
MAX_SYNC_INTERVAL_MINUTES = 24 * 60
# A running sync whose heartbeat is older than this is taken as dead (worker killed).
SYNC_STALE_AFTER_SECONDS = 600
PUSH_MAX_ATTEMPTS = 6
# A run keeps pushing changes queued while it pushes, this many rounds at most.
PUSH_ROUNDS_PER_RUN = 5
# A sync that finds a push holding its integration runs again this much later.
SYNC_AFTER_PUSH_DELAY_SECONDS = 2
# Deliveries stored but not processed after this long are enqueued again by the scheduler.
WEBHOOK_REENQUEUE_AFTER_SECONDS = 60
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
# Decrypted webhook signing secrets kept per process, keyed by their ciphertext (a rotated
# secret is a new ciphertext, so a new key); the cache is emptied when it holds this many.
WEBHOOK_SECRET_CACHE_SIZE = 1024
# Accepted webhook deliveries reach the queue in batches (app.jobs.WebhookEnqueuer): the
# request that finds no enqueue in progress enqueues its own delivery before its 2xx;
# ids accepted meanwhile are enqueued together by a background thread, which waits this
# long first so that a burst becomes one job, and puts at most this many ids in one job.
WEBHOOK_ENQUEUE_LINGER_SECONDS = 0.01
WEBHOOK_ENQUEUE_BATCH_MAX = 200


def push_backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, 8, ... capped at 1 hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


# -- Jira (app.integrations.jira) -----------------------------------------------------
JIRA_PROJECT_PAGE_SIZE = 100        # the most /project/search returns per page
JIRA_ISSUE_PAGE_SIZE = 100          # the most /search/jql returns per page with the fields we ask for
JIRA_USER_PAGE_SIZE = 100
# JQL compares `updated` at minute precision in the account's time zone: look back this far.
JIRA_JQL_OVERLAP_MINUTES = 2
# An incremental import cannot see deletions; a whole listing this often archives what vanished.
JIRA_WHOLE_LISTING_EVERY_HOURS = 24
# Dynamic webhooks expire after 30 days; refresh them when fewer days than this are left.
JIRA_WEBHOOK_REFRESH_BEFORE_DAYS = 10
JIRA_MIN_WORKLOG_SECONDS = 60       # Jira refuses shorter worklogs
# How old a webhook's JWT may be (its exp, with this leeway for clock skew).
JIRA_WEBHOOK_JWT_LEEWAY_SECONDS = 60
