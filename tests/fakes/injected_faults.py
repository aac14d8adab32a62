"""Injected faults and rate limits as the provider fakes built on FakeServer answer them
(GitHub, GitLab, Jira; Asana's window too): faults drawn per call before it is handled, each
answered with the provider's own error body and rate-limit status; a sliding window of calls
for a rate limit. (The generic paged fake has its own: it does the work before a timeout.)"""
from __future__ import annotations

import math
import socket
import time
from collections import deque

from tests.fakes.paged_provider import Faults


def draw_fault(faults: Faults | None, rng) -> tuple[str | None, int]:
    """Whether this call is struck (the caller holds its lock): the fault's kind or None, and
    the 5xx status an "error" fault answers."""
    if faults is None or not faults.rate or rng.random() >= faults.rate:
        return None, 500
    return rng.choice(faults.kinds), rng.choice((500, 502, 503))


def fault_answer(fault: str | None, error_status: int, faults: Faults, environ, *, error_body: dict,
                 rate_limited: tuple[int, dict | None]) -> tuple[int, dict | None, dict] | None:
    """The (status, body, headers) a drawn fault answers with, or None to handle the call
    (after a latency fault's wait). `rate_limited`: the provider's own status and body."""
    if fault == "latency":
        time.sleep(faults.latency)
    elif fault == "error":
        return error_status, error_body, {}
    elif fault == "rate_limit":
        return rate_limited[0], rate_limited[1], {"Retry-After": faults.retry_after}
    elif fault == "timeout":
        time.sleep(faults.hang)
        return 504, None, {}
    elif fault == "reset":
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        return 500, None, {}
    return None


def window_wait(accepted: deque, rate_limit: tuple[int, float] | None) -> int | None:
    """A sliding-window rate limit of `rate_limit` = (calls, seconds) over the `accepted` call
    times (the caller holds its lock): None lets this call through (and counts it), else the
    whole seconds until the window frees a call, for `Retry-After`."""
    if rate_limit is None:
        return None
    limit, window = rate_limit
    now = time.monotonic()
    while accepted and now - accepted[0] >= window:
        accepted.popleft()
    if len(accepted) >= limit:
        return max(1, math.ceil(window - (now - accepted[0])))
    accepted.append(now)
    return None

