"""Per-provider rate limits: requests per window and concurrent requests.

A limiter hands out slots. A slot counts against the window from the moment
it is taken until `window` seconds after its request *finished*: the
provider saw the request somewhere in between, so spacing starts from the
finish keeps us under the provider's own sliding window even when requests
are delayed on the way. `LocalLimiter` shares slots between the threads of
one process; `RedisLimiter` between every process that uses the same Redis
(with Redis' clock, so machines' clocks need not agree).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import redis

from app import tuning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimit:
    requests: int                  # at most this many requests ...
    per_seconds: float             # ... in any window of this length
    max_concurrent: int | None = None

    def __post_init__(self):
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive window")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")


# Limits that replace a provider's own for this process, by slug: benchmarks lift a
# budget with it to measure the engine rather than the budget. Empty in production.
overrides: dict[str, RateLimit] = {}


def limit_for(spec) -> RateLimit:
    """TimeHub's budget for one connected account of `spec`'s provider (`ProviderSpec.rate_limit`)."""
    return overrides.get(spec.slug, spec.rate_limit)


class SlotUnavailable(Exception):
    """No slot within the allowed wait; `retry_after` says when one is expected."""

    def __init__(self, retry_after: float, reason: str = ""):
        super().__init__(f"no rate-limit slot within the allowed wait (next in {retry_after:.1f} s)")
        self.retry_after = retry_after
        self.reason = reason  # why the limiter is held, when a provider said so


class Limiter:
    """Shared behaviour: blocking `slot()` on top of `try_acquire()` / `release()`."""

    def __init__(self, limit: RateLimit, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._sleep = sleep
        self._clock = clock

    def try_acquire(self) -> tuple[str | None, float]:
        """(ticket, 0) when a slot was taken; (None, seconds to wait) otherwise."""
        raise NotImplementedError

    def release(self, ticket: str) -> None:
        raise NotImplementedError

    def hold(self, seconds: float, reason: str = "") -> None:
        """Hand out no slot for `seconds` (the provider said so with a 429, or its budget
        headers did); `reason` names the limit for whoever is refused meanwhile."""
        raise NotImplementedError

    def held_reason(self) -> str:
        """The reason of a hold in force, or ""."""
        return ""

    @contextmanager
    def slot(self, max_wait: float = tuning.MAX_LIMITER_WAIT_SECONDS) -> Iterator[None]:
        ticket = self.acquire(max_wait)
        try:
            yield
        finally:
            self.release(ticket)

    def acquire(self, max_wait: float = tuning.MAX_LIMITER_WAIT_SECONDS) -> str:
        """Wait for a slot and return its ticket; raise SlotUnavailable past `max_wait`."""
        deadline = self._clock() + max_wait
        while True:
            ticket, wait = self.try_acquire()
            if ticket is not None:
                return ticket
            remaining = deadline - self._clock()
            if wait > remaining:
                raise SlotUnavailable(wait, self.held_reason())
            self._sleep(wait)


class LocalLimiter(Limiter):
    """Slots shared by the threads of one process."""

    def __init__(self, limit: RateLimit, **kwargs):
        super().__init__(limit, **kwargs)
        self._lock = threading.Lock()
        self._finished: deque[float] = deque()   # finish times still inside the window
        self._in_flight: set[str] = set()
        self._held_until = 0.0
        self._held_reason = ""

    def try_acquire(self) -> tuple[str | None, float]:
        with self._lock:
            now = self._clock()
            if now < self._held_until:
                return None, self._held_until - now
            window_start = now - self.limit.per_seconds
            while self._finished and self._finished[0] <= window_start:
                self._finished.popleft()
            wait = _wait_for(self.limit, len(self._in_flight), len(self._finished),
                             self._finished[0] - window_start if self._finished else None)
            if wait:
                return None, wait
            ticket = uuid.uuid4().hex
            self._in_flight.add(ticket)
            return ticket, 0.0

    def release(self, ticket: str) -> None:
        with self._lock:
            if ticket in self._in_flight:
                self._in_flight.discard(ticket)
                self._finished.append(self._clock())

    def hold(self, seconds: float, reason: str = "") -> None:
        with self._lock:
            until = self._clock() + seconds
            if until >= self._held_until:
                self._held_until, self._held_reason = until, reason

    def held_reason(self) -> str:
        with self._lock:
            return self._held_reason if self._clock() < self._held_until else ""


def _wait_for(limit: RateLimit, in_flight: int, finished: int, oldest_expires_in: float | None) -> float:
    """0 when a new slot may start now, else how long to wait before asking again."""
    if limit.max_concurrent is not None and in_flight >= limit.max_concurrent:
        return tuning.LIMITER_POLL_SECONDS
    if in_flight + finished < limit.requests:
        return 0.0
    if oldest_expires_in is None:      # the window is full of requests still running
        return tuning.LIMITER_POLL_SECONDS
    return max(oldest_expires_in, 0.001)


# KEYS: finished zset, in-flight zset, hold key.
# ARGV: requests, window ms, max concurrent (0 = none), lease ms, ticket, poll ms.
# Returns 0 when the slot was taken, else milliseconds to wait. Mirrors _wait_for.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('PTTL', KEYS[3])
if held > 0 then return held end
local requests, window, concurrent = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, poll = tonumber(ARGV[4]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local in_flight = redis.call('ZCARD', KEYS[2])
local finished = redis.call('ZCARD', KEYS[1])
if concurrent > 0 and in_flight >= concurrent then return poll end
if in_flight + finished >= requests then
  if finished == 0 then return poll end
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
redis.call('ZADD', KEYS[2], now + lease, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window + lease)
redis.call('PEXPIRE', KEYS[2], window + lease)
return 0
"""

# KEYS: finished zset, in-flight zset. ARGV: ticket, window ms, lease ms.
_RELEASE = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]))
end
return 0
"""


class RedisLimiter(Limiter):
    """Slots shared by every process using the same Redis and key (Redis >= 5).

    If Redis cannot be reached the limiter falls back to a process-local one
    and says so in the log, rather than failing every provider call.
    """

    def __init__(self, limit: RateLimit, redis_client, key: str, **kwargs):
        super().__init__(limit, **kwargs)
        self._redis = redis_client
        self._keys = [f"timehub:ratelimit:{key}:finished", f"timehub:ratelimit:{key}:in_flight"]
        self._hold_key = f"timehub:ratelimit:{key}:hold"
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._release = redis_client.register_script(_RELEASE)
        self._fallback: LocalLimiter | None = None
        self._lease_ms = int(tuning.LIMITER_LEASE_SECONDS * 1000)

    def try_acquire(self) -> tuple[str | None, float]:
        if self._fallback is not None:
            return self._fallback.try_acquire()
        ticket = uuid.uuid4().hex
        try:
            wait_ms = self._acquire(keys=[*self._keys, self._hold_key], args=[
                self.limit.requests, int(self.limit.per_seconds * 1000), self.limit.max_concurrent or 0,
                self._lease_ms, ticket, max(int(tuning.LIMITER_POLL_SECONDS * 1000), 1),
            ])
        except redis.RedisError as exc:
            log.warning("Rate limiter: Redis unavailable (%s); limiting this process only", type(exc).__name__)
            self._fallback = LocalLimiter(self.limit, sleep=self._sleep, clock=self._clock)
            return self._fallback.try_acquire()
        if int(wait_ms) == 0:
            return ticket, 0.0
        return None, int(wait_ms) / 1000

    def release(self, ticket: str) -> None:
        if self._fallback is not None:
            self._fallback.release(ticket)
            return
        try:
            self._release(keys=self._keys, args=[ticket, int(self.limit.per_seconds * 1000), self._lease_ms])
        except redis.RedisError:
            pass  # the lease expires by itself

    def hold(self, seconds: float, reason: str = "") -> None:
        if self._fallback is not None:
            self._fallback.hold(seconds, reason)
            return
        try:
            current = self._redis.pttl(self._hold_key)
            if int(seconds * 1000) > max(int(current or 0), 0):
                # The key's value is the reason, so every process refused meanwhile can say why.
                self._redis.set(self._hold_key, reason or "1", px=max(int(seconds * 1000), 1))
        except redis.RedisError:
            pass

    def held_reason(self) -> str:
        if self._fallback is not None:
            return self._fallback.held_reason()
        try:
            value = self._redis.get(self._hold_key)
        except redis.RedisError:
            return ""
        reason = value.decode() if isinstance(value, bytes) else (value or "")
        return "" if reason == "1" else reason


_local_limiters: dict[str, LocalLimiter] = {}
_local_lock = threading.Lock()


def limiter_for(key: str, limit: RateLimit, *, redis_url: str | None = None) -> Limiter:
    """The limiter every client of `key` (e.g. "<queue>:<slug>:<integration id>") shares:
    through Redis when `redis_url` is given (REDIS_URL), else within this process."""
    if redis_url:
        return RedisLimiter(limit, _redis_client(redis_url), key)
    with _local_lock:
        limiter = _local_limiters.get(key)
        if limiter is None or limiter.limit != limit:
            limiter = _local_limiters[key] = LocalLimiter(limit)
        return limiter


_redis_clients: dict[str, object] = {}


def _redis_client(url: str):
    with _local_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return client
