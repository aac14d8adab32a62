"""What every connector is made of: a declarative ProviderSpec and a Connector class.

A connector module holds everything about one provider and nothing about
another. Shared mechanisms (HTTP, OAuth, sync, jobs) live below it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar, Literal

Scope = Literal["global", "per_user"]
AuthKind = Literal["oauth2", "api_key"]

# Capabilities a connector can declare; pages and the sync engine read them.
IMPORT_TASKS = "import_tasks"        # provider items -> projects/tasks
PUSH_TIME = "push_time"              # time entries -> provider (worklogs, spent time, events)
CALENDAR = "calendar"                # calendar events <-> time entries
NOTIFY = "notify"                    # messages to a channel
ACCOUNTING = "accounting"            # clients/invoices -> customers/invoices
WEBHOOKS = "webhooks"                # provider pushes changes to us


@dataclass(frozen=True)
class SetupField:
    """A value the admin types into the provider's setup page."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""
    placeholder: str = ""
    default: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoints:
    authorize_url: str | None
    token_url: str | None
    api_base: str
    revoke_url: str | None = None


@dataclass(frozen=True)
class ProviderSpec:
    slug: str
    name: str
    scope: Scope
    auth_kind: AuthKind
    summary: str
    api_base: str
    console_url: str
    register_steps: tuple[str, ...]
    setup_fields: tuple[SetupField, ...]
    authorize_url: str | None = None
    token_url: str | None = None
    revoke_url: str | None = None
    scopes: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()
    defaults: dict = field(default_factory=dict)

    @property
    def is_global(self) -> bool:
        return self.scope == "global"

    @property
    def env_prefix(self) -> str:
        return self.slug.upper()

    def endpoints(self, app_settings: dict | None = None) -> Endpoints:
        """Resolve endpoints: `<SLUG>_AUTHORIZE_URL` / `_TOKEN_URL` / `_API_BASE` /
        `_REVOKE_URL` from the environment win; otherwise the spec's defaults, whose
        `{placeholders}` are filled from the admin's setup values (GitLab's host,
        Microsoft's tenant) or those fields' defaults."""
        values = {f.name: f.default for f in self.setup_fields if not f.secret}
        values.update({k: v for k, v in (app_settings or {}).items() if v})
        values = {k: str(v).rstrip("/") for k, v in values.items()}

        def resolve(name: str, default: str | None) -> str | None:
            override = os.environ.get(f"{self.env_prefix}_{name}")
            if override:
                return override.rstrip("/")
            return default.format(**values) if default else None

        return Endpoints(
            authorize_url=resolve("AUTHORIZE_URL", self.authorize_url),
            token_url=resolve("TOKEN_URL", self.token_url),
            api_base=resolve("API_BASE", self.api_base),
            revoke_url=resolve("REVOKE_URL", self.revoke_url),
        )

    def env_app_credentials(self) -> tuple[str, str] | None:
        """OAuth client id/secret supplied through `<SLUG>_CLIENT_ID` / `_CLIENT_SECRET`."""
        client_id = os.environ.get(f"{self.env_prefix}_CLIENT_ID")
        client_secret = os.environ.get(f"{self.env_prefix}_CLIENT_SECRET")
        if client_id and client_secret:
            return client_id, client_secret
        return None


OAUTH_APP_FIELDS = (
    SetupField("client_id", "Client ID"),
    SetupField("client_secret", "Client secret", secret=True),
)


@dataclass(frozen=True)
class AccountInfo:
    """Who or what a connection reached, as shown on the integrations page."""

    label: str


class Connector:
    """Base of every provider's connector. Stateless apart from its spec."""

    spec: ClassVar[ProviderSpec]
