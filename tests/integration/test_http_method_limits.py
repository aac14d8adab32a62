"""Per-method budgets (ProviderSpec.method_rate_limits, Slack's tiers) in ProviderClient,
over real loopback HTTP: a method's budget limits that method only, on top of the
account's, and a 429's Retry-After pauses the method that got it, not the others."""
from __future__ import annotations

import json

import pytest

from app.integrations.http import ProviderClient, RateLimitedError, RetryPolicy
from app.integrations.ratelimit import LocalLimiter, RateLimit
from tests.fakes.server import FakeServer


def _app(environ, start_response):
    if environ["PATH_INFO"].endswith("/limited"):
        start_response("429 Too Many Requests", [("Retry-After", "30"), ("Content-Type", "application/json")])
        return [json.dumps({"ok": False, "error": "ratelimited"}).encode()]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"ok": True}).encode()]


@pytest.fixture
def server():
    with FakeServer(_app) as fake:
        yield fake


def test_a_methods_budget_limits_that_method_alone(server):
    slow = LocalLimiter(RateLimit(1, 60.0))
    account = LocalLimiter(RateLimit(100, 60.0))
    with ProviderClient("Fake", server.base_url, limiter=account, method_limiters={"slow.method": slow},
                        max_limiter_wait=0.0) as client:
        client.get_json("slow.method")
        for _ in range(5):
            client.get_json("fast.method")  # another method is not held back
        with pytest.raises(RateLimitedError):
            client.get_json("slow.method")
    assert len(server.requests) == 6


def test_a_429_holds_the_method_that_got_it(server):
    limited = LocalLimiter(RateLimit(100, 60.0))
    account = LocalLimiter(RateLimit(100, 60.0))
    policy = RetryPolicy(max_attempts=2, max_rate_limit_wait=1.0)  # 30 s is too long: handed back
    with ProviderClient("Fake", server.base_url, limiter=account, method_limiters={"limited": limited},
                        retry=policy, max_limiter_wait=0.0) as client:
        with pytest.raises(RateLimitedError) as refused:
            client.get_json("limited")
        assert refused.value.retry_after == pytest.approx(30, abs=1)
        client.get_json("other")  # the account's budget is not paused
        with pytest.raises(RateLimitedError):
            client.get_json("limited")  # the method is, until its Retry-After passed
    assert [r.path for r in server.requests] == ["/limited", "/other"]
