"""A provider's declarative description: its ProviderSpec and the pieces it is made of.

Everything here is data: endpoints, scopes, setup fields, how it speaks OAuth,
its rate limit and error shape. Behaviour lives in the connector classes
(app.integrations.base and the capability protocols).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Literal

from app.integrations.http import ErrorShape
from app.integrations.ratelimit import RateLimit

Scope = Literal["global", "per_user"]
AuthKind = Literal["oauth2", "api_key"]

# A steady 10 requests a second, 4 at a time: safe for any provider that documents nothing stricter.
DEFAULT_RATE_LIMIT = RateLimit(10, 1.0, 4)


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
    # A secret TimeHub makes up when the admin leaves it empty (a webhook signing secret
    # the admin then copies into the provider's settings).
    generated: bool = False
    # Why a typed value cannot be used (a message for the form), or None: e.g. a base URL
    # that must be https. Checked before anything is saved.
    check: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class Endpoints:
    authorize_url: str | None
    token_url: str | None
    api_base: str
    revoke_url: str | None = None


@dataclass(frozen=True)
class OAuthProfile:
    """How a provider speaks OAuth 2.0 (`ProviderSpec.oauth`), as data."""

    pkce: bool = True                               # send an S256 code_challenge
    token_auth_method: str = "client_secret_post"   # or "client_secret_basic"
    revoke_auth_method: str | None = None           # None: same as token_auth_method
    scope_separator: str = " "                      # Slack joins scopes with ","
    revoke_token_hint: str = "refresh_token"        # which stored token /revoke receives
    # Fixed extra authorize parameters (Atlassian audience/prompt, Google access_type/prompt);
    # values that depend on the admin's setup come from the oauth_authorize_params hook.
    authorize_params: dict = field(default_factory=dict)
    # Refresh tokens that lapse when unused this long (Xero 60, QuickBooks 100) are
    # refreshed on a schedule before then; None: they do not lapse.
    refresh_token_idle_days: int | None = None


@dataclass(frozen=True)
class ProviderSpec:
    slug: str
    name: str
    scope: Scope
    auth_kind: AuthKind
    api_base: str
    console_url: str
    register_steps: tuple[str, ...]
    setup_fields: tuple[SetupField, ...]
    authorize_url: str | None = None
    token_url: str | None = None
    revoke_url: str | None = None
    scopes: tuple[str, ...] = ()
    defaults: dict = field(default_factory=dict)
    oauth: OAuthProfile = OAuthProfile()
    # TimeHub's own budget per connected account, a little under what the provider allows.
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT
    # Budgets of single methods on top of `rate_limit`, by the first segment of the call's
    # path ("chat.postMessage"): for providers that limit each method on its own (Slack's tiers).
    method_rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    # Where the provider's error answers say what went wrong.
    errors: ErrorShape = ErrorShape()
    # What each capability does with this provider, in one sentence for the pages; a
    # sentence is shown only when the connector implements that capability.
    features: dict[str, str] = field(default_factory=dict)

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
            template = os.environ.get(f"{self.env_prefix}_{name}") or default
            return template.format(**values).rstrip("/") if template else None

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
