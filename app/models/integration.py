"""The integration model: one row per connection, its secrets, and the
bookkeeping the sync engine relies on (links, runs, deliveries, outbox)."""
from __future__ import annotations

import secrets as pysecrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin, utcnow
from app import encryption

class IntegrationStatus(StrEnum):
    """Where a connection stands. Changed only by app.services.connection_state."""

    NOT_CONFIGURED = "not_configured"    # no credentials (never connected, disconnected, or an account to pick)
    ACTIVE = "active"                    # connected and usable
    NEEDS_RECONNECT = "needs_reconnect"  # the provider refused the grant: someone must connect again
    ERROR = "error"                      # the last check or refresh failed for another reason
    DISABLED = "disabled"


INTEGRATION_STATUSES = tuple(status.value for status in IntegrationStatus)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class EncryptedPayload:
    """Mixin: a JSON payload stored only as ciphertext, read and written as a dict."""

    ciphertext: Mapped[str] = mapped_column(Text)

    @property
    def payload(self) -> dict:
        return encryption.decrypt_json(self.ciphertext)

    @payload.setter
    def payload(self, value: dict) -> None:
        self.ciphertext = encryption.encrypt_json(value)


class ProviderApp(TimestampMixin, EncryptedPayload, db.Model):
    """The OAuth app an admin registered at a provider (client id + secret),
    shared by the global integration or by every user's per-user one.
    `payload` holds the secret setup values ({"client_secret": ..., and e.g. a
    webhook signing secret}); the client id is not a secret."""

    __tablename__ = "provider_apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[str] = mapped_column(String(500))
    # Non-secret setup values (GitLab host, Microsoft tenant, default channel...).
    settings: Mapped[dict] = mapped_column(JSON, default=dict)


class Integration(TimestampMixin, db.Model):
    __tablename__ = "integrations"
    __table_args__ = (
        CheckConstraint(
            "(is_global AND user_id IS NULL) OR (NOT is_global AND user_id IS NOT NULL)",
            name="global_xor_user",
        ),
        CheckConstraint(f"status IN {_in(INTEGRATION_STATUSES)}", name="status"),
        Index("ux_integrations_global_provider", "provider", unique=True,
              sqlite_where=text("is_global"), postgresql_where=text("is_global")),
        Index("ux_integrations_user_provider", "provider", "user_id", unique=True,
              sqlite_where=text("NOT is_global"), postgresql_where=text("NOT is_global")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    is_global: Mapped[bool]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=IntegrationStatus.NOT_CONFIGURED)
    # Four kinds of data, kept apart so that saving one can never touch another:
    # the admin's sync preferences (interval, allow-list, backfill window, toggles, mappings),
    # written by the settings pages;
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    # what connecting learnt (Jira's cloud id, Xero's tenant, QuickBooks' realm), written when
    # a connection is completed;
    connection_facts: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # the connector's own state (Jira's webhooks), written only from what the connector returns;
    connector_state: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # a connection flow under way (the accounts offered to choose from).
    flow_state: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # Who or what the connection reached (account e-mail, site, organisation); never a secret.
    account_label: Mapped[str | None] = mapped_column(String(300))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_sync_at: Mapped[datetime | None]
    last_sync_status: Mapped[str | None] = mapped_column(String(20))
    # Unguessable path segment of this integration's webhook URL.
    webhook_token: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: pysecrets.token_urlsafe(24))
    # Set on a *personal link*: one user's own grant at a global provider, so that what they
    # push through the team connection (this id) is authored by them (services/personal_links).
    # It is no connection of its own: it pulls nothing, receives no webhooks, is listed nowhere
    # but on its owner's account page. Not a foreign key: SQLite adds columns only without one,
    # and integration rows are never deleted.
    team_integration_id: Mapped[int | None] = mapped_column(index=True)

    user = relationship("User", back_populates="integrations")
    credential = relationship("IntegrationCredential", uselist=False, back_populates="integration",
                              cascade="all, delete-orphan", passive_deletes=True)

    @property
    def connected(self) -> bool:
        return self.credential is not None

    @property
    def is_personal_link(self) -> bool:
        return self.team_integration_id is not None

    @classmethod
    def is_connection(cls):
        """The SQL condition of a real connection (not a personal link): every listing of
        integrations that syncs, pushes, notifies or shows them uses it."""
        return cls.team_integration_id.is_(None)


class IntegrationCredential(TimestampMixin, EncryptedPayload, db.Model):
    """What an integration authenticates with: OAuth tokens or an API key + token.
    `expires_at` (access token expiry) is kept in clear for the refresh scheduler."""

    __tablename__ = "integration_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # "oauth2" or "api_key"
    expires_at: Mapped[datetime | None]

    integration = relationship("Integration", back_populates="credential")


class ExternalLink(TimestampMixin, db.Model):
    """Maps a local record to its copy at a provider."""

    __tablename__ = "external_links"
    __table_args__ = (
        UniqueConstraint("integration_id", "local_kind", "external_id", name="uq_external_links_remote"),
        Index("ix_external_links_local", "integration_id", "local_kind", "local_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    local_kind: Mapped[str] = mapped_column(String(40))
    local_id: Mapped[int]
    external_id: Mapped[str] = mapped_column(String(200))
    # The provider's own version marker (updated timestamp, etag) to skip unchanged records.
    remote_version: Mapped[str | None] = mapped_column(String(200))
    # What the provider's side did to the copy since TimeHub wrote it (an accountant's edit):
    # shown beside the record, and the copy is not overwritten while it is set.
    remote_note: Mapped[str | None] = mapped_column(Text)


class SyncCursor(TimestampMixin, db.Model):
    """Where a pull stream stopped; saved in the same transaction as its page."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("integration_id", "stream", name="uq_sync_cursors_stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(80))
    cursor: Mapped[str | None] = mapped_column(Text)


SYNC_RUN_STATUSES = ("running", "succeeded", "failed")


class SyncRun(db.Model):
    __tablename__ = "sync_runs"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(SYNC_RUN_STATUSES)}", name="status"),
        Index("ix_sync_runs_integration_started", "integration_id", "started_at"),
        # One running sync per integration, whichever worker or machine runs it.
        Index("ux_sync_runs_one_running", "integration_id", unique=True,
              sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")  # schedule, manual, webhook, connect
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # Touched after every page; a running run without a recent heartbeat lost its worker.
    heartbeat_at: Mapped[datetime | None]
    pulled: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    archived: Mapped[int] = mapped_column(default=0)
    pushed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(2000))


PREVIEW_STATUSES = ("queued", "running", "done", "failed")


class SyncPreview(db.Model):
    """The latest preview of an integration's next sync (app/services/sync_preview.py): one row
    per integration, replaced by each new request."""
    __tablename__ = "sync_previews"
    __table_args__ = (CheckConstraint(f"status IN {_in(PREVIEW_STATUSES)}", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # [{"kind", "action" (create/update/archive/push), "count", "examples": [labels]}]
    changes: Mapped[list | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(2000))


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("integration_id", "delivery_id", name="uq_webhook_deliveries_delivery"),
        # Only the waiting rows (migration 0023): as small as the backlog, however many are kept.
        Index("ix_webhook_deliveries_waiting", "integration_id", "id",
              postgresql_where=text("processed_at IS NULL"), sqlite_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(200))
    event: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(2000))


OUTBOX_STATUSES = ("pending", "done", "failed", "skipped")


class OutboxItem(TimestampMixin, db.Model):
    """A change to push to a provider, written in the same transaction as the change."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(OUTBOX_STATUSES)}", name="status"),
        CheckConstraint("action IN ('upsert', 'delete')", name="action"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"), index=True)
    local_kind: Mapped[str] = mapped_column(String(40))
    local_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(2000))
