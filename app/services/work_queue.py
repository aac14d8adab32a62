"""The port through which services ask for background work.

Services decide *that* a sync or a push should happen; the job queue decides
how. `app.jobs` installs the real queue when the app is created, so no service
imports the jobs module (which imports the services).
"""
from __future__ import annotations

from typing import Protocol


class WorkQueue(Protocol):
    def sync(self, integration_id: int, trigger: str, after_running: bool = False) -> None:
        """Pull every stream of the integration, then push its outbox."""

    def push(self, integration_id: int) -> None:
        """Send what waits in the integration's outbox."""

    def notify(self, integration_id: int) -> None:
        """Post the integration's waiting notifications."""

    def preview(self, integration_id: int) -> None:
        """Compute what the integration's next sync would change, writing nothing."""

    def password_reset(self, email: str, base_url: str) -> None:
        """Mail a password reset link to `email` if it has an active account."""

    def command(self, integration_id: int, remote_user_id: str, text: str, reply_url: str) -> None:
        """Run a chat command and post its answer to the reply URL."""


_installed: WorkQueue | None = None


def install(queue: WorkQueue) -> None:
    global _installed
    _installed = queue


def _queue() -> WorkQueue:
    if _installed is None:
        raise RuntimeError("no work queue installed: app.jobs.init_app() has not run in this process")
    return _installed


def queue_sync(integration_id: int, trigger: str, *, after_running: bool = False) -> None:
    """`after_running`: the sync must see something that just changed (the settings), so one
    already running (which read them before) does not make it unnecessary: it runs after."""
    _queue().sync(integration_id, trigger, after_running)


def queue_push(integration_id: int) -> None:
    _queue().push(integration_id)


def queue_notify(integration_id: int) -> None:
    _queue().notify(integration_id)


def queue_preview(integration_id: int) -> None:
    _queue().preview(integration_id)


def queue_password_reset(email: str, base_url: str) -> None:
    _queue().password_reset(email, base_url)


def queue_command(integration_id: int, remote_user_id: str, text: str, reply_url: str) -> None:
    _queue().command(integration_id, remote_user_id, text, reply_url)
