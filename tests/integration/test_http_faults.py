"""The provider HTTP client against the paged fake provider over real loopback HTTP:
faults, rate limits (in-process and through Redis) and the pagination helpers."""
from __future__ import annotations

import os
import threading
import uuid

import httpx2
import pytest

from app.integrations.http import ProviderClient, RetryPolicy, TransientError
from app.integrations.pagination import Page, cursor_pages, link_header_pages, offset_pages
from app.integrations.ratelimit import LocalLimiter, RateLimit, RedisLimiter
from tests.fakes.paged_provider import Faults, PagedProvider

REDIS_URL = os.environ.get("REDIS_URL")
# Short waits keep the suite fast; the fake hangs past the read timeout to cause timeouts.
FAST_RETRY = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_cap=0.1, max_total_wait=10.0)
TIMEOUT = httpx2.Timeout(0.2, connect=1.0)
FAULTS_20 = Faults(rate=0.2, hang=0.4, latency=0.01, retry_after="0.02")
PAGE = 100


def client_for(fake: PagedProvider, **kwargs) -> ProviderClient:
    kwargs.setdefault("auth_headers", {"Authorization": f"Bearer {fake.token}"})
    return ProviderClient("Fake", fake.url, timeout=TIMEOUT, retry=FAST_RETRY, **kwargs)


def pages_of(style: str, client: ProviderClient, start=None):
    if style == "link":
        return link_header_pages(client, "link/items", params={"per_page": PAGE}, start=start)
    if style == "cursor":
        return cursor_pages(client, "cursor/items", params={"limit": PAGE}, records="data", start=start)
    return offset_pages(client, "offset/items", page_size=PAGE, records="items", total="total", start=start or 0)


@pytest.mark.parametrize("style", ["link", "cursor", "offset"])
def test_import_of_5000_records_with_20_percent_faults_has_every_record_once(style):
    with PagedProvider(5_000, seed=8, max_page_size=PAGE, faults=FAULTS_20) as fake, client_for(fake) as client:
        ids = [record["id"] for page in pages_of(style, client) for record in page]
    assert ids == [record["id"] for record in fake.records]
    assert sum(fake.stats.faults.values()) >= 10
    assert set(fake.stats.faults) == {"latency", "error", "rate_limit", "timeout", "reset"}


def test_creates_with_idempotency_keys_under_faults_happen_exactly_once():
    with PagedProvider(0, seed=9, faults=FAULTS_20) as fake, client_for(fake) as client:
        for number in range(100):
            client.request("POST", "items", json={"n": number}, idempotency_key=f"entry-{number}")
    assert sorted(record["n"] for record in fake.created) == list(range(100))
    assert fake.stats.faults["reset"] + fake.stats.faults["timeout"] > 0  # some answers were lost


def test_a_create_whose_answer_was_lost_is_not_repeated_without_a_key():
    with PagedProvider(0, faults=Faults(rate=1.0, kinds=("reset",))) as fake, client_for(fake) as client:
        with pytest.raises(TransientError):
            client.request("POST", "items", json={"n": 1})
    assert len(fake.created) == 1  # the provider did create it: a blind retry would have doubled it


def fetch_in_threads(make_client, threads: int, pages_each: int) -> list[str]:
    """Each thread reads `pages_each` pages of 10 through its own client."""
    seen, lock = [], threading.Lock()

    def work(number: int):
        with make_client() as client:
            for page in range(pages_each):
                body = client.get_json("offset/items", params={"offset": (number * pages_each + page) * 10, "limit": 10})
                with lock:
                    seen.extend(record["id"] for record in body["items"])

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return seen


def test_the_fake_enforces_its_rate_limit_and_the_client_waits_it_out():
    # The control for the next test: without a limiter this burst meets 429s,
    # which the client survives by honouring Retry-After.
    with PagedProvider(400, rate_limit=(10, 0.25)) as fake:
        seen = fetch_in_threads(lambda: client_for(fake), threads=4, pages_each=10)
    assert sorted(seen) == [record["id"] for record in fake.records]
    assert fake.stats.rate_limited > 0


def test_a_shared_limiter_keeps_the_client_under_the_providers_limit():
    # A little under the provider's 10 per 0.25 s, as app.tuning sets real limits: the limiter
    # times a request when it lets it go, the provider when it arrives, and loopback latency
    # can bunch arrivals enough for one over at exactly the same rate.
    limiter = LocalLimiter(RateLimit(9, 0.25, max_concurrent=2))
    with PagedProvider(400, rate_limit=(10, 0.25)) as fake:
        seen = fetch_in_threads(lambda: client_for(fake, limiter=limiter), threads=4, pages_each=10)
    assert sorted(seen) == [record["id"] for record in fake.records]
    assert fake.stats.rate_limited == 0
    assert fake.stats.max_in_flight <= 2


@pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set: the shared limiter needs a Redis server")
def test_a_redis_limiter_keeps_two_clients_together_under_the_limit():
    import redis

    key = f"test-{uuid.uuid4().hex}"
    limit = RateLimit(9, 0.25, max_concurrent=2)  # under the provider's 10, as above

    def make_client():
        # Its own Redis connection and limiter object: only Redis is shared.
        return client_for(fake, limiter=RedisLimiter(limit, redis.Redis.from_url(REDIS_URL), key))

    try:
        with PagedProvider(400, rate_limit=(10, 0.25)) as fake:
            seen = fetch_in_threads(make_client, threads=2, pages_each=20)
        assert sorted(seen) == [record["id"] for record in fake.records]
        assert fake.stats.rate_limited == 0
        assert fake.stats.max_in_flight <= 2
    finally:
        cleanup = redis.Redis.from_url(REDIS_URL)
        cleanup.delete(*[f"timehub:ratelimit:{key}:{part}" for part in ("finished", "in_flight", "hold")])
        cleanup.close()


@pytest.mark.parametrize("style", ["link", "cursor", "offset"])
def test_a_listing_resumes_after_any_page(style):
    with PagedProvider(450, max_page_size=PAGE) as fake, client_for(fake) as client:
        pages = list(pages_of(style, client))
        assert [len(page) for page in pages] == [100, 100, 100, 100, 50]
        assert all(isinstance(page, Page) for page in pages) and pages[-1].resume is None
        resumed = list(pages_of(style, client, start=pages[1].resume))
        requests_before = fake.stats.requests
    assert [record["id"] for page in resumed for record in page] == [r["id"] for r in fake.records[200:]]
    assert requests_before == 5 + 3  # no extra request to discover the end


def test_the_providers_page_cap_is_respected_by_the_link_and_cursor_helpers():
    with PagedProvider(250, max_page_size=50) as fake, client_for(fake) as client:
        link = list(link_header_pages(client, "link/items", params={"per_page": 500}))
        cursor = list(cursor_pages(client, "cursor/items", params={"limit": 500}, records="data"))
    assert [len(page) for page in link] == [len(page) for page in cursor] == [50] * 5
