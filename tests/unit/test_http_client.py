"""ProviderClient: retries, waits, auth hook and error mapping, served by httpx2.MockTransport.

Sleeps go to a recorder and the wall clock is fixed, so nothing here really waits.
"""
from __future__ import annotations

import email.utils
import logging
import random

import httpx2
import pytest

from app.integrations.http import (
    AuthError,
    BearerAuth,
    NotFoundError,
    PermanentError,
    ProviderClient,
    RateLimitedError,
    RetryPolicy,
    TransientError,
    wait_from_headers,
)
from app.integrations.ratelimit import LocalLimiter, RateLimit

NOW = 1_800_000_000.0
BASE = "https://api.example.test/1"
POLICY = RetryPolicy(max_attempts=4, backoff_base=1.0, backoff_cap=8.0, max_total_wait=60.0, max_rate_limit_wait=30.0)


class Script:
    """A transport answering from a list: a Response, an exception to raise, or a function of the request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def answer(status: int, body=None, headers: dict | None = None) -> httpx2.Response:
    return httpx2.Response(status, json=body if body is not None else {}, headers=headers)


def make_client(script: Script, *, policy: RetryPolicy = POLICY, **kwargs) -> tuple[ProviderClient, list[float]]:
    slept: list[float] = []
    client = ProviderClient("Example", BASE, transport=httpx2.MockTransport(script), retry=policy,
                            sleep=slept.append, clock=lambda: NOW, rng=random.Random(7), **kwargs)
    return client, slept


def test_get_is_retried_on_5xx_with_growing_jittered_backoff():
    script = Script(answer(503), answer(502), answer(500), answer(200, {"ok": True}))
    client, slept = make_client(script)
    assert client.get_json("things") == {"ok": True}
    assert len(script.requests) == 4
    for number, delay in enumerate(slept, start=1):
        ceiling = POLICY.backoff_base * 2 ** (number - 1)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(slept)) == 3


def test_backoff_stops_growing_at_the_cap():
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=4.0)
    rng = random.Random(1)
    assert all(2.0 <= policy.backoff(n, rng) <= 4.0 for n in range(3, 12))


def test_gives_up_after_the_attempt_budget_with_the_last_error():
    script = Script(answer(503, {"message": "down for maintenance"}))
    client, slept = make_client(script)
    with pytest.raises(TransientError) as caught:
        client.get_json("things")
    assert len(script.requests) == POLICY.max_attempts
    assert len(slept) == POLICY.max_attempts - 1
    assert caught.value.attempts == POLICY.max_attempts
    assert caught.value.message == "Example answered 503: down for maintenance"


def test_total_wait_budget_ends_retries_early():
    policy = RetryPolicy(max_attempts=10, backoff_base=4.0, backoff_cap=100.0, max_total_wait=10.0)
    script = Script(answer(503))
    client, slept = make_client(script, policy=policy)
    with pytest.raises(TransientError):
        client.get_json("things")
    assert sum(slept) <= 10.0
    assert len(script.requests) < 10


def test_post_without_idempotency_key_is_not_repeated_after_a_5xx():
    script = Script(answer(503), answer(201))
    client, slept = make_client(script)
    with pytest.raises(TransientError):
        client.request("POST", "things", json={"a": 1})
    assert len(script.requests) == 1 and slept == []


def test_post_with_idempotency_key_is_repeated_with_the_same_key():
    script = Script(answer(503), httpx2.ReadError("reset"), answer(201, {"id": "x"}))
    client, _ = make_client(script)
    response = client.request("POST", "things", json={"a": 1}, idempotency_key="entry-42")
    assert response.status_code == 201
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["entry-42"] * 3


def test_a_lost_answer_is_repeated_at_once_the_first_time_and_backs_off_after():
    script = Script(httpx2.RemoteProtocolError("disconnected"), httpx2.ReadError("reset"), answer(201))
    client, slept = make_client(script)
    assert client.request("POST", "things", json={}, idempotency_key="k").status_code == 201
    assert len(script.requests) == 3
    assert len(slept) == 2 and slept[0] == 0.0 and slept[1] > 0


def test_post_is_repeated_after_a_connect_error_but_not_after_a_lost_answer():
    connect = Script(httpx2.ConnectError("refused"), answer(201))
    client, _ = make_client(connect)
    assert client.request("POST", "things", json={}).status_code == 201

    lost = Script(httpx2.ReadError("reset"), answer(201))
    client, _ = make_client(lost)
    with pytest.raises(TransientError) as caught:
        client.request("POST", "things", json={})
    assert len(lost.requests) == 1
    assert caught.value.message == "could not reach Example (ReadError)"


def test_timeouts_are_retried_for_idempotent_methods():
    script = Script(httpx2.ReadTimeout("slow"), httpx2.ConnectTimeout("slow"), answer(204))
    client, slept = make_client(script)
    assert client.request("DELETE", "things/1").status_code == 204
    assert len(slept) == 2


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"Retry-After": email.utils.formatdate(NOW + 12, usegmt=True)}, 12.0),
    ({"X-RateLimit-Reset": str(int(NOW + 20))}, 20.0),
    ({"RateLimit-Reset": "3"}, 3.0),
])
def test_429_waits_as_the_provider_says_then_retries_any_method(headers, expected):
    script = Script(answer(429, {"message": "slow down"}, headers), answer(201))
    client, slept = make_client(script)
    assert client.request("POST", "things", json={}).status_code == 201
    assert slept == [pytest.approx(expected, abs=1.0)]


def test_429_without_a_hint_backs_off():
    script = Script(answer(429), answer(200, []))
    client, slept = make_client(script)
    client.get_json("things")
    assert 0.5 <= slept[0] <= 1.0


def test_429_asking_for_too_long_a_wait_is_handed_back_to_the_caller():
    script = Script(answer(429, {"message": "hourly quota used"}, {"Retry-After": "600"}))
    client, slept = make_client(script)
    with pytest.raises(RateLimitedError) as caught:
        client.get_json("things")
    assert caught.value.retry_after == 600 and slept == []
    assert len(script.requests) == 1


def test_github_style_403_with_no_remaining_requests_is_a_rate_limit():
    from app.integrations import github
    script = Script(answer(403, {"message": "API rate limit exceeded"},
                           {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW + 5))}), answer(200, {}))
    client, slept = make_client(script, errors=github.SPEC.errors)
    assert client.get_json("things") == {}
    assert slept == [5.0]


def test_a_403_is_refused_access_for_providers_that_rate_limit_with_429():
    script = Script(answer(403, {"message": "not yours"}, {"X-RateLimit-Remaining": "0"}))
    client, slept = make_client(script)
    with pytest.raises(AuthError):
        client.get_json("things")
    assert slept == []


def test_503_retry_after_hint_lengthens_the_backoff():
    script = Script(answer(503, {}, {"Retry-After": "9"}), answer(200, {}))
    client, slept = make_client(script)
    client.get_json("things")
    assert slept == [9.0]


def test_429_holds_a_shared_limiter_for_every_client():
    now, limiter_slept = [50.0], []

    def limiter_sleep(seconds):
        limiter_slept.append(seconds)
        now[0] += seconds

    limiter = LocalLimiter(RateLimit(100, 1.0), clock=lambda: now[0], sleep=limiter_sleep)
    script = Script(answer(429, {}, {"Retry-After": "4"}), answer(200, {}))
    client, _ = make_client(script, limiter=limiter)
    client.get_json("things")
    # The client's own sleep is only recorded here, so the limiter's clock has not moved:
    # the retry (like any request of another client sharing it) had to wait out the hold.
    assert limiter_slept == [pytest.approx(4.0)]
    assert len(script.requests) == 2


def test_an_exhausted_limiter_raises_rate_limited_without_calling():
    limiter = LocalLimiter(RateLimit(1, 3600.0))
    script = Script(answer(200, {}))
    client, _ = make_client(script, limiter=limiter, max_limiter_wait=0.0)
    client.get_json("things")
    with pytest.raises(RateLimitedError) as caught:
        client.get_json("things")
    assert len(script.requests) == 1
    assert caught.value.retry_after == pytest.approx(3600.0, abs=5)


@pytest.mark.parametrize("status, kind", [(401, AuthError), (403, AuthError), (404, NotFoundError),
                                          (400, PermanentError), (422, PermanentError)])
def test_client_errors_are_classified_and_never_retried(status, kind):
    from app.integrations import jira  # its error shape: {"errorMessages": [...]}
    script = Script(answer(status, {"errorMessages": ["Issue does not exist", "or you lack permission"]}))
    client, slept = make_client(script, errors=jira.SPEC.errors)
    with pytest.raises(kind) as caught:
        client.get_json("issue/1")
    assert type(caught.value) is kind
    assert caught.value.message == f"Example answered {status}: Issue does not exist; or you lack permission"
    assert len(script.requests) == 1 and slept == []


class RotatingToken:
    def __init__(self, can_refresh: bool):
        self.token, self.refreshes, self.can_refresh = "old", 0, can_refresh

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def on_unauthorized(self):
        self.refreshes += 1
        if self.can_refresh:
            self.token = "fresh"
        return self.can_refresh


def test_401_refreshes_the_token_and_retries_once():
    auth = RotatingToken(can_refresh=True)
    script = Script(answer(401), lambda r: answer(200 if r.headers["Authorization"] == "Bearer fresh" else 401))
    client, slept = make_client(script, auth=auth)
    assert client.request("POST", "things", json={}).status_code == 200
    assert [r.headers["Authorization"] for r in script.requests] == ["Bearer old", "Bearer fresh"]
    assert auth.refreshes == 1 and slept == []


def test_a_second_401_is_an_auth_error():
    auth = RotatingToken(can_refresh=True)
    script = Script(answer(401, {"message": "token revoked"}))
    client, _ = make_client(script, auth=auth)
    with pytest.raises(AuthError, match="token revoked"):
        client.get_json("things")
    assert auth.refreshes == 1 and len(script.requests) == 2


def test_401_without_a_refresh_is_an_auth_error_at_once():
    auth = RotatingToken(can_refresh=False)
    script = Script(answer(401))
    client, _ = make_client(script, auth=auth)
    with pytest.raises(AuthError):
        client.get_json("things")
    assert len(script.requests) == 1


def test_auth_from_a_callable_and_bearer_auth_are_asked_per_request():
    tokens = iter(["one", "two"])
    script = Script(answer(200, {}))
    client, _ = make_client(script, auth=lambda: {"Authorization": f"Token {next(tokens)}"})
    client.get_json("a")
    client.get_json("b")
    assert [r.headers["Authorization"] for r in script.requests] == ["Token one", "Token two"]

    refreshed = []
    bearer = BearerAuth(lambda: "t1", refresh=lambda: refreshed.append(1) or False)
    assert bearer.headers() == {"Authorization": "Bearer t1"}
    assert bearer.on_unauthorized() is False and refreshed == [1]


def test_query_credentials_never_reach_messages_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx2")  # the app quiets it; the filter must work regardless
    script = Script(answer(500, {"message": "boom"}), httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow"))
    client, _ = make_client(script, auth_params={"key": "KEY-SECRET", "token": "TOKEN-SECRET"})
    errors = []
    for _ in range(3):
        with pytest.raises(TransientError) as caught:
            client.get_json("members/me", params={"fields": "fullName"})
        errors.append(caught.value)
    assert script.requests[0].url.params["token"] == "TOKEN-SECRET"  # it was sent ...
    messages = " ".join([str(e) for e in errors] + [e.message for e in errors])
    assert "SECRET" not in messages and "api.example.test" not in messages  # ... and never shown
    assert "SECRET" not in caplog.text and "/1/members/me" in caplog.text  # logged without its query
    assert any(r.name == "httpx2" for r in caplog.records)


def test_next_links_keep_their_query_and_stay_on_the_providers_host():
    script = Script(answer(200, []))
    client, _ = make_client(script, auth_params={"token": "t"})
    client.get_json(f"{BASE}/things?page=2&per_page=50")
    sent = script.requests[0].url
    assert sent.path == "/1/things" and dict(sent.params) == {"page": "2", "per_page": "50", "token": "t"}

    with pytest.raises(PermanentError, match="another host"):
        client.get_json("https://evil.example.test/things?page=3")
    assert len(script.requests) == 1


def test_wait_from_headers_ignores_garbage():
    assert wait_from_headers({"Retry-After": "soon"}, NOW) is None
    assert wait_from_headers({"Retry-After": "-3"}, NOW) == 0.0
    assert wait_from_headers({"X-RateLimit-Reset": str(int(NOW - 10))}, NOW) == 0.0
    assert wait_from_headers({}, NOW) is None


def test_an_error_object_with_a_message_is_read_as_that_message():
    """Google and Microsoft Graph answer {"error": {"code": ..., "message": ...}}."""
    import httpx2 as _httpx2

    from app.integrations.http import provider_message

    response = _httpx2.Response(403, json={"error": {"code": 403, "message": "Insufficient scopes."}})
    assert provider_message(response) == "Insufficient scopes."
