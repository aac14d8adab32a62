"""Every tuning constant of the integration system, in one place.

Change a number here, not in the code that uses it. What belongs to one
provider (its rate limit, its page sizes) lives in that provider's module.
"""
from __future__ import annotations

import os
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
# A running sync whose heartbeat is older than this is taken as dead (worker killed): the
# next sync closes it, and the scheduler queues the integration again (due_work). A live run
# beats with every page and every push, so this must exceed the longest silence between two
# (a page's retries and rate-limit waits, MAX_TOTAL_WAIT_SECONDS, plus its write). An
# installation whose providers never make it wait that long may shorten how long a killed
# worker's import stalls with TIMEHUB_SYNC_STALE_AFTER_SECONDS (at least 10).
def _stale_after_seconds() -> int:
    value = (os.environ.get("TIMEHUB_SYNC_STALE_AFTER_SECONDS") or "600").strip()
    if not value.isdigit() or int(value) < 10:
        raise SystemExit(f"TIMEHUB_SYNC_STALE_AFTER_SECONDS must be a whole number of seconds, at least 10, not {value!r}")
    return int(value)


SYNC_STALE_AFTER_SECONDS = _stale_after_seconds()
PUSH_MAX_ATTEMPTS = 6
# A run keeps pushing changes queued while it pushes, this many rounds at most.
PUSH_ROUNDS_PER_RUN = 5
# A sync that finds a push holding its integration runs again this much later.
SYNC_AFTER_PUSH_DELAY_SECONDS = 2
# A sync asked for after a settings change looks again this often while a pull holds the integration.
SYNC_AFTER_RUNNING_RETRY_SECONDS = 5
# Deliveries stored but not processed after this long are enqueued again by the scheduler.
WEBHOOK_REENQUEUE_AFTER_SECONDS = 60
# A webhook job meeting another delivery or a push on its integration (they hold it for
# milliseconds) waits for it in place, up to this long, polling this often ...
WEBHOOK_BRIEF_WAIT_SECONDS = 5.0
WEBHOOK_BRIEF_POLL_SECONDS = 0.05
# ... and meeting a pull (minutes, for a big import) it comes back later: after 2 s, then
# doubling up to 30 s, so that the batches waiting behind one import do not fill the queue
# with attempts (issue 17: 1,000 deliveries during an import were 2,500 attempts in 2 min).
WEBHOOK_RETRY_BASE_SECONDS = 2.0
WEBHOOK_RETRY_CAP_SECONDS = 30.0
# A sync meeting a delivery or a push waits for it in place too, looking more often.
SYNC_BRIEF_WAIT_SECONDS = 10.0
SYNC_BRIEF_POLL_SECONDS = 0.01
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
# No listing of one stream runs past this many pages in one go (app.integrations.pagination):
# 10 million records at 100 a page. A provider that keeps answering is stopped with a reason.
MAX_PAGES_PER_LISTING = 100_000
# Decrypted webhook signing secrets kept per process, keyed by their ciphertext (a rotated
# secret is a new ciphertext, so a new key); the cache is emptied when it holds this many.
WEBHOOK_SECRET_CACHE_SIZE = 1024
# Accepted webhook deliveries reach the queue in batches (app.jobs.WebhookEnqueuer): the
# request that finds no enqueue in progress enqueues its own delivery once its answer is sent;
# ids accepted meanwhile are enqueued together by a background thread, which waits this
# long first so that a burst becomes one job, and puts at most this many ids in one job.
WEBHOOK_ENQUEUE_LINGER_SECONDS = 0.01
WEBHOOK_ENQUEUE_BATCH_MAX = 200
# At most this many deliveries are stored by one INSERT and commit (app.services.group_commit).
WEBHOOK_STORE_BATCH_MAX = 100
# A webhook job applies its integration's other waiting deliveries with its own, oldest
# first, up to this many: a backlog (a burst, a worker that was down) drains in big runs
# instead of one small run per job (the later jobs find theirs done). A run holds its
# deliveries' bodies in memory: at most this many characters of them (8 of the biggest).
WEBHOOK_APPLY_BATCH_MAX = 500
WEBHOOK_APPLY_BATCH_CHARACTERS = 8 * WEBHOOK_MAX_BODY_BYTES
# Processed deliveries are kept this long, then deleted by a daily job in chunks of this
# many (one short write each): a provider replaying a delivery within that time is told it
# is a duplicate; after it, the replay is applied again, which changes nothing that is newer.
WEBHOOK_KEEP_DAYS = 14
WEBHOOK_PURGE_CHUNK = 1000
# A pull fetches its next page while the current one is written (app.services.pull_ahead).
# Off: pages are fetched and written in turn, in the engine's thread.
PULL_AHEAD = True
PULL_AHEAD_POLL_SECONDS = 0.1
# How long a run that stops waits for its fetching thread's request in flight to end.
PULL_AHEAD_JOIN_SECONDS = 30.0


def push_backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, 8, ... capped at 1 hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


# -- the database and the job queue's Redis (app/__init__.py, app.jobs) --------------
# A host that takes the connection but never answers would hold a request, a job or /readyz
# for ever: connecting to PostgreSQL, and each Redis command of the queue, give up after these.
DATABASE_CONNECT_TIMEOUT_SECONDS = 10   # libpq's connect_timeout (it counts 2 at the least)
QUEUE_REDIS_TIMEOUT_SECONDS = 5.0       # redis-py 8's default, said here (5.x had none); above huey's 1 s blocking read
# psycopg prepares a statement run 5 times; PostgreSQL then reuses a generic plan made while the
# tables were small (a first import's link look-ups became sequential scans: a 100,000-record
# import took 170 s instead of 15). Each execution is planned for its own values instead.
DATABASE_SESSION_OPTIONS = "-c plan_cache_mode=force_custom_plan"
