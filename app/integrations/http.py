"""ProviderClient: the one way connectors talk HTTP to a provider.

It owns the base URL, authentication, timeouts, retries, the provider's rate
limit and the mapping of failures to a small typed hierarchy that every
caller understands the same way. Messages never contain URLs or query
strings, because some providers (Trello) authenticate with query parameters;
for the same reason httpx2's own request log is stripped of query strings.

Retries: connection failures, timeouts and 5xx are retried with jittered
exponential backoff, but only when repeating the request cannot do harm
(an idempotent method, or an idempotency key) or when it never left us
(connect errors). A 429 is always retried after the wait the provider asks
for (Retry-After, X-RateLimit-Reset), unless that wait is too long; then
RateLimitedError carries `retry_after` so a job can come back later.
"""
from __future__ import annotations

import email.utils
import functools
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import httpx2

from app import tuning
from app.integrations.ratelimit import Limiter, SlotUnavailable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx2.Timeout(tuning.READ_TIMEOUT_SECONDS, connect=tuning.CONNECT_TIMEOUT_SECONDS)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Failures that happen before the request was sent: safe to repeat for any method.
NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
# The connection dropped after the request went out: its answer was lost on the way, and
# nothing asked us to slow down (a struggling provider answers 5xx or 429, which back off).
# The first repeat of a repeatable request goes at once, so a sequential push does not sit
# idle while its budget goes unused; later ones back off as usual.
ANSWER_LOST_ERRORS = (httpx2.RemoteProtocolError, httpx2.ReadError)
RESET_HEADERS = ("X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset")
EPOCH_THRESHOLD = 1_000_000_000  # a reset value above this is a Unix time, below it a number of seconds


class ProviderError(Exception):
    """A provider call failed. `message` is safe to show to users."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.attempts = 1
        # The provider's JSON error body, when it carries more than a message (Asana's
        # 412 names the new sync token).
        self.body: Any = None


class AuthError(ProviderError):
    """401/403: the credentials are wrong, expired or revoked."""


class NotFoundError(ProviderError):
    pass


class RateLimitedError(ProviderError):
    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """Connection failures, timeouts and 5xx: worth retrying later. `unanswered`: the
    request was sent and no answer came (a read timeout, a dropped connection), so the
    provider may have acted on it; a caller that cannot look must not simply repeat it."""

    unanswered = False


class PermanentError(ProviderError):
    """Any other 4xx: retrying the same request will not help."""


@dataclass(frozen=True)
class ErrorShape:
    """Where a provider's error answers say what went wrong (`ProviderSpec.errors`).

    `message_keys` are tried in order on a JSON body; a list value is joined.
    `rate_limit_as_403`: the provider answers 403, not 429, when a rate limit is used
    up, and says so with `X-RateLimit-Remaining: 0` or `Retry-After`."""

    message_keys: tuple[str, ...] = ("errors", "message", "error_description", "error", "detail")
    rate_limit_as_403: bool = False
    # The provider's explanation from a JSON body whose message sits deeper than one key
    # (QuickBooks' Fault.Error[].Detail, Xero's Elements[].ValidationErrors[].Message);
    # None or an empty answer falls back to `message_keys`.
    describe: Callable[[Any], str | None] | None = None
    # The provider's remaining-budget headers, read on every answer (Xero's X-DayLimit-Remaining):
    # (seconds every client of the account should pause, why in words) when TimeHub should stop
    # before the provider refuses, or when a 429 says which limit it was; None to go on.
    pause: Callable[[Mapping[str, str], int], tuple[float, str] | None] | None = None


def provider_message(response: httpx2.Response, limit: int = 300, shape: ErrorShape = ErrorShape()) -> str:
    """The provider's own explanation, from a JSON error body or plain text."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:limit] or response.reason_phrase
    if shape.describe is not None:
        try:
            described = shape.describe(body)
        except (AttributeError, KeyError, TypeError, IndexError):
            described = None  # an error body of another shape than the provider's usual one
        if described:
            return str(described)[:limit]
    if isinstance(body, dict):
        for key in shape.message_keys:
            value = body.get(key)
            if isinstance(value, dict):  # {"error": {"code": ..., "message": ...}} (Google, Microsoft Graph)
                value = value.get("message") or value
            if value:
                if isinstance(value, list):
                    value = "; ".join(str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in value)
                return str(value)[:limit]
    return response.reason_phrase


def wait_from_headers(headers: Mapping[str, str], now: float, *, reset_headers: bool = True) -> float | None:
    """Seconds the provider asks us to wait: `Retry-After` (seconds or an HTTP date),
    else a reset header (a Unix time, or seconds when the number is small)."""
    value = (headers.get("Retry-After") or "").strip()
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            return max(email.utils.parsedate_to_datetime(value).timestamp() - now, 0.0)
        except (TypeError, ValueError, IndexError):
            pass
    if not reset_headers:
        return None
    for name in RESET_HEADERS:
        try:
            number = float(headers.get(name) or "")
        except ValueError:
            continue
        return max(number - now if number > EPOCH_THRESHOLD else number, 0.0)
    return None


def _is_rate_limit(response: httpx2.Response, shape: ErrorShape) -> bool:
    if response.status_code == 429:
        return True
    return shape.rate_limit_as_403 and response.status_code == 403 and (
        response.headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in response.headers
    )


def classify(response: httpx2.Response, provider_name: str, *, now: float | None = None,
             shape: ErrorShape = ErrorShape()) -> ProviderError:
    status = response.status_code
    message = f"{provider_name} answered {status}: {provider_message(response, shape=shape)}"
    if _is_rate_limit(response, shape):
        return RateLimitedError(message, status, wait_from_headers(response.headers, time.time() if now is None else now))
    if status in (401, 403):
        return AuthError(message, status)
    if status == 404:
        return NotFoundError(message, status)
    if status >= 500:
        return TransientError(message, status)
    error = PermanentError(message, status)
    try:
        error.body = response.json()
    except ValueError:
        pass
    return error


CONDITIONAL_HEADERS = ("If-None-Match", "If-Modified-Since")


def _conditional(headers: Mapping[str, str]) -> bool:
    """Whether a request asked "only if changed" (an ETag or date it already has)."""
    return any(name.lower() in {h.lower() for h in headers} for name in CONDITIONAL_HEADERS)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = tuning.MAX_ATTEMPTS
    backoff_base: float = tuning.BACKOFF_BASE_SECONDS
    backoff_cap: float = tuning.BACKOFF_CAP_SECONDS
    max_total_wait: float = tuning.MAX_TOTAL_WAIT_SECONDS
    max_rate_limit_wait: float = tuning.MAX_RATE_LIMIT_WAIT_SECONDS

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Half fixed, half random, so the retries of many workers spread out."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


# For calls a person is waiting on (a "test connection" button): fail fast.
INTERACTIVE_RETRY = RetryPolicy(max_attempts=2, max_total_wait=2.0, max_rate_limit_wait=2.0)


class RequestAuth(Protocol):
    """Authentication decided per request (a fresh OAuth bearer token each time)."""

    def headers(self) -> dict[str, str]: ...

    def on_unauthorized(self) -> bool:
        """Called after a 401: refresh the credentials; True to retry the request once."""
        ...


class BearerAuth:
    """`Authorization: Bearer <token()>`; after a 401, `refresh()` decides about one retry."""

    def __init__(self, token: Callable[[], str], refresh: Callable[[], bool] | None = None):
        self._token = token
        self._refresh = refresh

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}"}

    def on_unauthorized(self) -> bool:
        return bool(self._refresh and self._refresh())


class _HeadersFromCallable:
    def __init__(self, make_headers: Callable[[], dict[str, str]]):
        self.headers = make_headers

    def on_unauthorized(self) -> bool:
        return False


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of this process, shared by every ProviderClient (an SSLContext is
    safe to share between threads): building one loads the CA certificates, about 35 ms of
    CPU, which a client made for each sync run or webhook delivery would pay each time.
    As httpx2 builds it by default (SSL_CERT_FILE / SSL_CERT_DIR honoured)."""
    return httpx2.create_ssl_context()


class ProviderClient:
    """HTTP to one provider's API base, with authentication applied per request."""

    def __init__(
        self,
        provider_name: str,
        base_url: str,
        *,
        auth_params: dict[str, str] | None = None,
        auth_headers: dict[str, str] | None = None,
        auth: RequestAuth | Callable[[], dict[str, str]] | None = None,
        timeout: httpx2.Timeout = DEFAULT_TIMEOUT,
        transport: httpx2.BaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),
        limiter: Limiter | None = None,
        method_limiters: Mapping[str, Limiter] | None = None,
        max_limiter_wait: float = tuning.MAX_LIMITER_WAIT_SECONDS,
        idempotency_header: str = "Idempotency-Key",
        errors: ErrorShape = ErrorShape(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ):
        self.provider_name = provider_name
        self.retry = retry
        self._auth_params = auth_params or {}
        self._auth = _HeadersFromCallable(auth) if callable(auth) and not hasattr(auth, "headers") else auth
        self._limiter = limiter
        # Per-method budgets (ProviderSpec.method_rate_limits), by the path's first segment.
        self._method_limiters = dict(method_limiters or {})
        self._max_limiter_wait = max_limiter_wait
        self._idempotency_header = idempotency_header
        self._errors = errors
        self._sleep = sleep
        self._clock = clock  # wall clock: Retry-After dates and reset times are absolute
        self._rng = rng or random.Random()
        self._http = httpx2.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Accept": "application/json", "User-Agent": "TimeHub", **(auth_headers or {})},
            timeout=timeout,
            transport=transport,
            verify=tls_context(),
        )

    def __enter__(self) -> "ProviderClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def base_url(self) -> str:
        """The API base requests are relative to (with a trailing slash): for a provider
        whose second API sits next to it on the same host (GitLab's GraphQL)."""
        return str(self._http.base_url)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        read_only: bool = False,
    ) -> httpx2.Response:
        """Send, retrying what is safe to retry; return a 2xx response or raise ProviderError.

        `path` is relative to the base URL, or an absolute URL on the same
        origin (a `Link: rel="next"` target). `read_only` marks a POST that only
        reads (a search with its query in the body), which is as safe to repeat as a GET."""
        method = method.upper()
        target, path_query = self._target(path)
        extra = dict(headers or {})
        if idempotency_key is not None:
            extra[self._idempotency_header] = idempotency_key
        repeatable = read_only or method in IDEMPOTENT_METHODS or idempotency_key is not None
        attempt, waited, reauthenticated = 0, 0.0, False
        while True:
            attempt += 1
            try:
                response = self._send(method, target, path_query.merge(params or {}), json, extra)
            except httpx2.TransportError as exc:
                error = self._transport_error(exc)
                may_repeat = repeatable or isinstance(exc, NOT_SENT_ERRORS)
                delay = 0.0 if attempt == 1 and isinstance(exc, ANSWER_LOST_ERRORS) \
                    else self.retry.backoff(attempt, self._rng)
            else:
                pause = self._pause_after(response, target)
                if response.is_success or (response.status_code == 304 and _conditional(extra)):
                    return response  # a 304 answers a conditional GET: "what you have is current"
                if response.status_code == 401 and self._auth is not None and not reauthenticated:
                    reauthenticated = True
                    if self._auth.on_unauthorized():
                        attempt -= 1  # the retry with fresh credentials is not a failure to count
                        continue
                error = classify(response, self.provider_name, now=self._clock(), shape=self._errors)
                if pause is not None and isinstance(error, RateLimitedError):
                    error.message, error.retry_after = pause[1], max(error.retry_after or 0.0, pause[0])
                may_repeat, delay = self._retry_plan(error, response, repeatable, attempt,
                                                     self._limiters_for(target)[:1])
            error.attempts = attempt
            if not may_repeat or attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_wait:
                raise error
            log.info("%s %s failed (%s, attempt %d of %d); retrying in %.2f s", self.provider_name, method,
                     error.status or "no answer", attempt, self.retry.max_attempts, delay)
            self._sleep(delay)
            waited += delay

    def get_json(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs).json()

    def _retry_plan(self, error: ProviderError, response: httpx2.Response, repeatable: bool,
                    attempt: int, held: list[Limiter] = ()) -> tuple[bool, float]:
        """(whether to repeat, after how long) for an error answer. `held`: the limiter a
        429's wait applies to (the method's own when it has one, else the account's)."""
        backoff = self.retry.backoff(attempt, self._rng)
        if isinstance(error, RateLimitedError):
            # The provider did not act on the request, so any method may be repeated.
            if error.retry_after is None:
                return True, backoff
            for limiter in held:
                limiter.hold(error.retry_after, error.message)  # every client sharing the limiter pauses too
            return error.retry_after <= self.retry.max_rate_limit_wait, error.retry_after
        if isinstance(error, TransientError):
            hinted = wait_from_headers(response.headers, self._clock(), reset_headers=False) or 0.0
            return repeatable, max(backoff, min(hinted, self.retry.max_rate_limit_wait))
        return False, 0.0

    def _pause_after(self, response: httpx2.Response, target) -> tuple[float, str] | None:
        """The provider's budget headers say stop: every client sharing the account's limiter
        pauses (the answer itself is still used)."""
        if self._errors.pause is None:
            return None
        pause = self._errors.pause(response.headers, response.status_code)
        if pause is not None:
            for limiter in self._limiters_for(target)[-1:]:  # the account's budget
                limiter.hold(pause[0], pause[1])
        return pause

    def _limiters_for(self, target) -> list[Limiter]:
        """The budgets a call to `target` uses: its method's (if any) first, then the account's."""
        method = target.split("/", 1)[0] if isinstance(target, str) else None
        return [limiter for limiter in (self._method_limiters.get(method), self._limiter) if limiter is not None]

    def _send(self, method: str, target, params: httpx2.QueryParams, json: Any, headers: dict) -> httpx2.Response:
        if self._auth is not None:
            headers = {**headers, **self._auth.headers()}
        query = params.merge(self._auth_params)
        taken: list[tuple[Limiter, str]] = []
        try:
            for limiter in self._limiters_for(target):
                taken.append((limiter, limiter.acquire(self._max_limiter_wait)))
        except SlotUnavailable as exc:
            for limiter, ticket in taken:
                limiter.release(ticket)
            raise RateLimitedError(
                exc.reason or f"TimeHub's request budget for {self.provider_name} is used up for now", None,
                exc.retry_after) from None
        try:
            return self._http.request(method, target, params=query, json=json, headers=headers)
        finally:
            for limiter, ticket in taken:
                limiter.release(ticket)

    def _target(self, path: str) -> tuple[httpx2.URL | str, httpx2.QueryParams]:
        """(where to send, the query already in `path`); httpx2 would replace that query
        with `params` rather than merge them, so the caller merges."""
        url = httpx2.URL(path)
        if not url.is_absolute_url:
            return path.split("?", 1)[0].lstrip("/"), url.params
        base = self._http.base_url
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            # Credentials go with every request: never to a host the provider's answer names.
            raise PermanentError(f"{self.provider_name} pointed to another host; not followed")
        return url.copy_with(query=None), url.params

    def _transport_error(self, exc: httpx2.TransportError) -> TransientError:
        if isinstance(exc, httpx2.TimeoutException):
            error = TransientError(f"{self.provider_name} did not answer in time")
        else:
            error = TransientError(f"could not reach {self.provider_name} ({type(exc).__name__})")
        error.unanswered = not isinstance(exc, NOT_SENT_ERRORS)
        return error


class _HideQueryStrings(logging.Filter):
    """httpx2 logs every request URL; query strings may hold credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(str(a).split("?", 1)[0] if isinstance(a, httpx2.URL) else a for a in record.args)
        return True


logging.getLogger("httpx2").addFilter(_HideQueryStrings())
