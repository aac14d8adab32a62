"""The errors the integration services raise for routes, the API and the CLI to translate."""
from __future__ import annotations


class IntegrationError(Exception):
    """A user-facing failure; `field_errors` maps setup field names to messages."""

    def __init__(self, message: str, field_errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class Forbidden(Exception):
    """The actor may see this integration but not change it (403)."""


class NotFound(Exception):
    """Unknown provider, or an integration the actor may not see (404)."""


class SyncRefused(IntegrationError):
    """A manual sync that cannot be queued; `reason` is not_connected, nothing_to_sync or running."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason
