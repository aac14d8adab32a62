"""Rate limiters: window and concurrency rules on a hand-moved clock, real threads,
and the Redis limiter on a real Redis (when REDIS_URL is set)."""
from __future__ import annotations

import logging
import os
import threading
import uuid

import pytest

from app import tuning
from app.integrations import ratelimit
from app.integrations.ratelimit import (
    LocalLimiter,
    RateLimit,
    RedisLimiter,
    SlotUnavailable,
    limit_for,
    limiter_for,
)

REDIS_URL = os.environ.get("REDIS_URL")


class ManualClock:
    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def local(limit: RateLimit, clock: ManualClock) -> LocalLimiter:
    return LocalLimiter(limit, clock=clock, sleep=clock.sleep)


def test_window_counts_from_when_each_request_finished():
    clock = ManualClock()
    limiter = local(RateLimit(2, 10.0), clock)
    for finish_after in (1.0, 3.0):
        ticket, _ = limiter.try_acquire()
        clock.now += finish_after
        limiter.release(ticket)
    # Finished at 1001 and 1004: the first one leaves the window at 1011.
    ticket, wait = limiter.try_acquire()
    assert ticket is None and wait == pytest.approx(7.0)
    with limiter.slot():
        assert clock.now == pytest.approx(1011.0)
    assert clock.slept == [pytest.approx(7.0)]


def test_requests_still_running_use_up_the_window():
    clock = ManualClock()
    limiter = local(RateLimit(2, 10.0), clock)
    first, _ = limiter.try_acquire()
    second, _ = limiter.try_acquire()
    assert first and second
    ticket, wait = limiter.try_acquire()
    assert ticket is None and wait == tuning.LIMITER_POLL_SECONDS
    limiter.release(first)
    ticket, wait = limiter.try_acquire()
    assert ticket is None and wait == pytest.approx(10.0)


def test_concurrency_cap_frees_a_slot_on_release():
    clock = ManualClock()
    limiter = local(RateLimit(100, 1.0, max_concurrent=2), clock)
    a, _ = limiter.try_acquire()
    b, _ = limiter.try_acquire()
    assert limiter.try_acquire()[0] is None
    limiter.release(a)
    assert limiter.try_acquire()[0] is not None


def test_releasing_twice_counts_once():
    clock = ManualClock()
    limiter = local(RateLimit(2, 10.0), clock)
    ticket, _ = limiter.try_acquire()
    limiter.release(ticket)
    limiter.release(ticket)
    assert limiter.try_acquire()[0] is not None


def test_hold_pauses_everyone_and_the_longer_hold_wins():
    clock = ManualClock()
    limiter = local(RateLimit(100, 1.0), clock)
    limiter.hold(5.0)
    limiter.hold(2.0)
    ticket, wait = limiter.try_acquire()
    assert ticket is None and wait == pytest.approx(5.0)
    clock.now += 5.0
    assert limiter.try_acquire()[0] is not None


def test_no_slot_within_the_allowed_wait_raises_with_the_expected_wait():
    clock = ManualClock()
    limiter = local(RateLimit(1, 60.0), clock)
    with limiter.slot():
        pass
    with pytest.raises(SlotUnavailable) as caught:
        limiter.acquire(max_wait=10.0)
    assert caught.value.retry_after == pytest.approx(60.0)
    assert clock.slept == []


def test_threads_sharing_a_limiter_never_exceed_its_concurrency():
    limiter = LocalLimiter(RateLimit(10_000, 1.0, max_concurrent=2))
    lock = threading.Lock()
    running, peak, done = [0], [0], []

    def work():
        for _ in range(25):
            with limiter.slot():
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                threading.Event().wait(0.001)
                with lock:
                    running[0] -= 1
                    done.append(1)

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == 125 and peak[0] == 2


def test_limits_come_from_each_providers_spec_unless_overridden(monkeypatch):
    from app.integrations import xero
    from app.integrations.spec import DEFAULT_RATE_LIMIT
    from tests.fakes.paged_connector import SPEC as PAGED_SPEC
    assert limit_for(xero.SPEC) == RateLimit(58, 60.0, 5)
    assert limit_for(PAGED_SPEC) == DEFAULT_RATE_LIMIT  # a spec that states none
    monkeypatch.setitem(ratelimit.overrides, "xero", RateLimit(1, 1.0))
    assert limit_for(xero.SPEC) == RateLimit(1, 1.0)
    with pytest.raises(ValueError):
        RateLimit(0, 1.0)


def test_limiter_for_shares_one_local_limiter_per_key():
    key = f"test-{uuid.uuid4().hex}"
    limit = RateLimit(5, 1.0)
    assert limiter_for(key, limit) is limiter_for(key, limit)
    assert limiter_for(key, limit) is not limiter_for(key + "-other", limit)


# -- Redis ---------------------------------------------------------------------

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set: the Redis limiter needs a Redis server")


@pytest.fixture
def redis_key():
    import redis

    key = f"test-{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(*[f"timehub:ratelimit:{key}:{part}" for part in ("finished", "in_flight", "hold")])
    client.close()


def test_a_hold_says_why_to_whoever_it_refuses_until_it_ends():
    clock = ManualClock()
    limiter = local(RateLimit(100, 1.0), clock)
    limiter.hold(3600.0, "the day's calls are used up")
    with pytest.raises(SlotUnavailable) as refused:
        limiter.acquire(max_wait=1.0)
    assert refused.value.reason == "the day's calls are used up" and refused.value.retry_after == pytest.approx(3600)
    clock.now += 3600.0
    assert limiter.held_reason() == ""


def redis_limiter(limit: RateLimit, key: str) -> RedisLimiter:
    import redis

    return RedisLimiter(limit, redis.Redis.from_url(REDIS_URL), key)


@needs_redis
def test_redis_limiter_shares_the_window_between_instances(redis_key):
    one = redis_limiter(RateLimit(2, 30.0), redis_key)
    two = redis_limiter(RateLimit(2, 30.0), redis_key)
    with one.slot():
        pass
    ticket, _ = two.try_acquire()
    assert ticket is not None
    two.release(ticket)
    ticket, wait = one.try_acquire()
    assert ticket is None and 29.0 < wait <= 30.0


@needs_redis
def test_redis_limiter_caps_concurrency_and_holds_across_instances(redis_key):
    one = redis_limiter(RateLimit(100, 30.0, max_concurrent=1), redis_key)
    two = redis_limiter(RateLimit(100, 30.0, max_concurrent=1), redis_key)
    ticket, _ = one.try_acquire()
    assert two.try_acquire() == (None, tuning.LIMITER_POLL_SECONDS)
    one.release(ticket)
    ticket, _ = two.try_acquire()
    assert ticket is not None
    two.release(ticket)
    one.hold(20.0, "the day's calls are used up")
    ticket, wait = two.try_acquire()
    assert ticket is None and 19.0 < wait <= 20.0
    assert two.held_reason() == "the day's calls are used up"


def test_redis_limiter_falls_back_to_this_process_when_redis_is_down(caplog):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limiter = RedisLimiter(RateLimit(1, 30.0), unreachable, f"test-{uuid.uuid4().hex}")
    with caplog.at_level(logging.WARNING):
        with limiter.slot():
            pass
    assert "Redis unavailable" in caplog.text
    ticket, wait = limiter.try_acquire()
    assert ticket is None and wait > 29.0
