"""ProviderClient: the one way connectors talk HTTP to a provider.

It owns the base URL, authentication, timeouts and the mapping of failures
to a small typed hierarchy that every caller understands the same way.
Messages never contain URLs or query strings, because some providers
(Trello) authenticate with query parameters.
"""
from __future__ import annotations

from typing import Any

import httpx2

DEFAULT_TIMEOUT = httpx2.Timeout(10.0, connect=5.0)


class ProviderError(Exception):
    """A provider call failed. `message` is safe to show to users."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class AuthError(ProviderError):
    """401/403: the credentials are wrong, expired or revoked."""


class NotFoundError(ProviderError):
    pass


class RateLimitedError(ProviderError):
    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """Connection failures, timeouts and 5xx: worth retrying later."""


class PermanentError(ProviderError):
    """Any other 4xx: retrying the same request will not help."""


def provider_message(response: httpx2.Response, limit: int = 300) -> str:
    """The provider's own explanation, from a JSON error body or plain text."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:limit] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("errorMessages", "errors", "message", "error_description", "error", "detail"):
            value = body.get(key)
            if value:
                if isinstance(value, list):
                    value = "; ".join(str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in value)
                return str(value)[:limit]
    return response.reason_phrase


def classify(response: httpx2.Response, provider_name: str) -> ProviderError:
    status = response.status_code
    detail = provider_message(response)
    message = f"{provider_name} answered {status}: {detail}"
    if status in (401, 403):
        return AuthError(message, status)
    if status == 404:
        return NotFoundError(message, status)
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        return RateLimitedError(message, status, float(retry_after) if retry_after and retry_after.isdigit() else None)
    if status >= 500:
        return TransientError(message, status)
    return PermanentError(message, status)


class ProviderClient:
    """HTTP to one provider's API base, with authentication applied per request."""

    def __init__(
        self,
        provider_name: str,
        base_url: str,
        *,
        auth_params: dict[str, str] | None = None,
        auth_headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout = DEFAULT_TIMEOUT,
        transport: httpx2.BaseTransport | None = None,
    ):
        self.provider_name = provider_name
        self._auth_params = auth_params or {}
        self._http = httpx2.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Accept": "application/json", "User-Agent": "TimeHub", **(auth_headers or {})},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> "ProviderClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None) -> httpx2.Response:
        try:
            response = self._http.request(
                method, path.lstrip("/"), params={**(params or {}), **self._auth_params}, json=json
            )
        except httpx2.TimeoutException:
            raise TransientError(f"{self.provider_name} did not answer in time") from None
        except httpx2.TransportError as exc:
            raise TransientError(f"could not reach {self.provider_name} ({type(exc).__name__})") from None
        if response.is_success:
            return response
        raise classify(response, self.provider_name)

    def get_json(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs).json()


