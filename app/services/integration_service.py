"""The integration lifecycle. Routes, the API and the CLI look integrations up
only through this module, so the global/per-user rules live in one place:

- a global integration is shared by everyone and changed by admins only;
- a per-user integration belongs to one user, and nobody else (admins
  included) can see or change it.
"""
from __future__ import annotations

import secrets as pysecrets
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import tuning
from app.extensions import db
from app.integrations import registry
from app.integrations.base import AccountInfo, ProviderSpec
from app.integrations.http import AuthError, ProviderError
from app.models import Integration, IntegrationCredential, ProviderApp, User
from app.services import secrets


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


@dataclass(frozen=True)
class IntegrationView:
    """One provider as one viewer sees it."""

    spec: ProviderSpec
    integration: Integration | None
    app_configured: bool
    can_manage: bool

    @property
    def status(self) -> str:
        return self.integration.status if self.integration else "not_configured"

    @property
    def connected(self) -> bool:
        return bool(self.integration and self.integration.connected)

    @property
    def configured(self) -> bool:
        return self.connected if self.spec.auth_kind == "api_key" else self.app_configured


@dataclass(frozen=True)
class AppCredentials:
    client_id: str
    client_secret: str
    settings: dict


class IntegrationService:
    def __init__(self, session: Session | None = None):
        self.session = session or db.session

    # -- lookups -------------------------------------------------------------

    @staticmethod
    def spec(slug: str) -> ProviderSpec:
        try:
            return registry.get_spec(slug)
        except registry.UnknownProvider:
            raise NotFound(slug) from None

    def integration_for(self, user: User | None, slug: str) -> Integration | None:
        """The integration `user` acts through: the global one (whoever asks), or their own."""
        spec = self.spec(slug)
        query = select(Integration).where(Integration.provider == slug)
        if spec.is_global:
            query = query.where(Integration.is_global.is_(True))
        elif user is None:
            raise ValueError(f"{spec.name} is per user: whose integration?")
        else:
            query = query.where(Integration.is_global.is_(False), Integration.user_id == user.id)
        return self.session.scalars(query).one_or_none()

    def visible_integration(self, user: User, integration_id: int) -> Integration:
        integration = self.session.get(Integration, integration_id)
        if integration is None or (not integration.is_global and integration.user_id != user.id):
            raise NotFound(integration_id)
        return integration

    def connection_for(self, actor: User, spec: ProviderSpec) -> Integration:
        """The integration `actor` may connect for `spec`, created when missing."""
        self.require_manage(actor, spec)
        return self._get_or_create(actor, spec)

    def _get_or_create(self, user: User, spec: ProviderSpec) -> Integration:
        integration = self.integration_for(user, spec.slug)
        if integration is None:
            integration = Integration(
                provider=spec.slug,
                is_global=spec.is_global,
                user_id=None if spec.is_global else user.id,
                status="not_configured",
                settings=dict(spec.defaults),
            )
            self.session.add(integration)
        return integration

    def app_record(self, slug: str) -> ProviderApp | None:
        return self.session.scalars(select(ProviderApp).where(ProviderApp.provider == slug)).one_or_none()

    def app_credentials(self, slug: str) -> AppCredentials | None:
        """The registered OAuth app: the admin's saved one, else `<SLUG>_CLIENT_ID/SECRET`."""
        app = self.app_record(slug)
        if app is not None:
            return AppCredentials(app.client_id, app.payload["client_secret"], dict(app.settings))
        from_env = self.spec(slug).env_app_credentials()
        if from_env:
            return AppCredentials(from_env[0], from_env[1], {})
        return None

    def view(self, user: User, slug: str) -> IntegrationView:
        spec = self.spec(slug)
        app_configured = spec.auth_kind == "api_key" or self.app_credentials(slug) is not None
        return IntegrationView(
            spec=spec,
            integration=self.integration_for(user, slug),
            app_configured=app_configured,
            can_manage=user.is_admin if spec.is_global else True,
        )

    def needing_reconnect(self, user: User) -> list[Integration]:
        """Integrations `user` can fix whose grant the provider refused, in one query:
        their own per-user ones, and for admins the global ones too."""
        mine = Integration.user_id == user.id
        visible = or_(mine, Integration.is_global.is_(True)) if user.is_admin else mine
        return list(self.session.scalars(select(Integration).where(
            Integration.status == "needs_reconnect", visible)))

    def list_for(self, user: User) -> tuple[list[IntegrationView], list[IntegrationView]]:
        """(global integrations, the user's own per-user integrations)."""
        views = [self.view(user, spec.slug) for spec in registry.all_specs()]
        return [v for v in views if v.spec.is_global], [v for v in views if not v.spec.is_global]

    # -- changes -------------------------------------------------------------

    @staticmethod
    def require_admin(actor: User) -> None:
        if not actor.is_admin:
            raise Forbidden("only administrators can set up providers")

    def require_manage(self, actor: User, spec: ProviderSpec) -> None:
        if spec.is_global:
            self.require_admin(actor)

    def save_app_credentials(self, actor: User, slug: str, values: dict[str, str]) -> ProviderApp:
        """Store the OAuth app registered at the provider. Empty secret fields keep
        the stored value; nothing is saved when a required value is missing."""
        self.require_admin(actor)
        spec = self.spec(slug)
        if spec.auth_kind != "oauth2":
            raise IntegrationError(f"{spec.name} has no OAuth app to register")
        app = self.app_record(slug)
        stored_secrets = app.payload if app else {}
        secret_values, settings, errors = {}, {}, {}
        for field in spec.setup_fields:
            value = (values.get(field.name) or "").strip()
            if field.secret:
                value = value or stored_secrets.get(field.name, "")
                if value:
                    secret_values[field.name] = value
            elif value:
                settings[field.name] = value
            if field.required and not value:
                errors[field.name] = "This field is required."
            if field.choices and value and value not in field.choices:
                errors[field.name] = "Choose one of the listed values."
        if errors:
            raise IntegrationError("Some fields need attention.", errors)
        if slug == "github" and "webhook_secret" not in secret_values:
            secret_values["webhook_secret"] = pysecrets.token_hex(32)
        if app is None:
            app = ProviderApp(provider=slug)
            self.session.add(app)
        app.client_id = settings.pop("client_id")
        app.settings = settings
        app.payload = secret_values
        if spec.is_global:
            self._get_or_create(actor, spec)
        self.session.commit()
        return app

    def save_api_key(self, actor: User, slug: str, values: dict[str, str], **client_kwargs) -> Integration:
        """Check an API key + token with a real call, then store them encrypted.
        A refused key saves nothing and explains why."""
        spec = self.spec(slug)
        self.require_manage(actor, spec)
        if spec.auth_kind != "api_key":
            raise IntegrationError(f"{spec.name} connects through OAuth, not an API key")
        integration = self.integration_for(actor, slug)
        stored = integration.credential.payload if integration and integration.credential else {}
        credentials, errors = {}, {}
        for field in spec.setup_fields:
            value = (values.get(field.name) or "").strip() or stored.get(field.name, "")
            if not value:
                errors[field.name] = "This field is required."
            credentials[field.name] = value
        if errors:
            raise IntegrationError("Some fields need attention.", errors)
        account = self._verify(spec, credentials, client_kwargs)
        integration = self._get_or_create(actor, spec)
        if integration.credential is None:
            integration.credential = IntegrationCredential(kind="api_key")
        integration.credential.payload = credentials
        integration.status = "active"
        integration.account_label = account.label
        integration.last_error = None
        self.session.commit()
        self.queue_first_sync(integration)
        return integration

    def test_connection(self, actor: User, slug: str, **client_kwargs) -> AccountInfo:
        """Make a real call with the stored credentials and record the outcome."""
        spec = self.spec(slug)
        self.require_manage(actor, spec)
        integration = self.integration_for(actor, slug)
        if integration is None or integration.credential is None:
            raise IntegrationError(f"{spec.name} is not connected yet.")
        if spec.auth_kind != "api_key":
            raise IntegrationError(f"Testing an OAuth connection to {spec.name} is not available yet.")
        try:
            account = self._verify(spec, integration.credential.payload, client_kwargs)
        except IntegrationError as exc:
            integration.status = "error"
            integration.last_error = exc.message
            self.session.commit()
            raise
        integration.status = "active"
        integration.account_label = account.label
        integration.last_error = None
        self.session.commit()
        return account

    def disconnect(self, actor: User, slug: str) -> str | None:
        """Revoke the grant at the provider where it offers revocation, then forget
        the credentials; the integration row and its history stay, marked not
        configured. Returns a warning when revocation failed (the local
        credentials are deleted all the same)."""
        spec = self.spec(slug)
        self.require_manage(actor, spec)
        integration = self.integration_for(actor, slug)
        if integration is None:
            return None
        warning = None
        if integration.credential is not None:
            warning = self._undo_setup(integration)
            if integration.credential.kind == "oauth2":
                warning = self._revoke(integration) or warning
            self.session.delete(integration.credential)
        integration.status = "not_configured"
        integration.account_label = None
        integration.last_error = None
        self.session.commit()
        return warning

    def set_sync_interval(self, actor: User, integration: Integration, minutes: int) -> None:
        """How often the scheduler pulls this integration (per integration)."""
        self.require_manage(actor, self.spec(integration.provider))
        low, high = tuning.MIN_SYNC_INTERVAL_MINUTES, tuning.MAX_SYNC_INTERVAL_MINUTES
        if not low <= minutes <= high:
            raise IntegrationError(f"Choose between {low} and {high} minutes.",
                                   {"sync_interval_minutes": f"Between {low} and {high}."})
        integration.settings = {**(integration.settings or {}), "sync_interval_minutes": minutes}
        self.session.commit()

    @staticmethod
    def _undo_setup(integration: Integration) -> str | None:
        """Remove what the connection set up at the provider (Jira's webhooks)."""
        from app.services.connections import connector_for  # imports this module
        from app.services.token_service import TokenError
        try:
            connector_for(integration).before_disconnect()
        except (ProviderError, TokenError) as exc:
            name = registry.get_spec(integration.provider).name
            return f"Could not remove TimeHub's webhooks at {name}: {exc.message}"
        return None

    @staticmethod
    def _revoke(integration: Integration) -> str | None:
        from app.integrations.oauth import RevocationFailed
        from app.services import token_service  # imports this module
        try:
            token_service.revoke_at_provider(integration)
        except RevocationFailed as exc:
            return f"{exc.message}; the local credentials were deleted anyway."
        return None

    @staticmethod
    def queue_sync(integration: Integration, trigger: str) -> None:
        """Put a sync of the integration on the job queue ("manual", "connect")."""
        from app.jobs import sync_integration  # the jobs module imports the services
        sync_integration(integration.id, trigger=trigger)  # a Huey task: calling it enqueues it

    @classmethod
    def queue_first_sync(cls, integration: Integration) -> None:
        """After a (re)connection, pull right away instead of waiting for the schedule."""
        if registry.get_connector(integration.provider).streams:
            cls.queue_sync(integration, "connect")

    def _verify(self, spec: ProviderSpec, credentials: dict, client_kwargs: dict) -> AccountInfo:
        connector = registry.get_connector(spec.slug)
        try:
            return connector.verify(spec.endpoints().api_base, credentials, **client_kwargs)
        except AuthError as exc:
            raise IntegrationError(f"{spec.name} refused these credentials: {exc.message}") from None
        except ProviderError as exc:
            raise IntegrationError(f"Could not check the credentials with {spec.name}: {exc.message}") from None


def rotate_all_secrets(session: Session | None = None) -> int:
    """Re-encrypt every stored secret under the current key; returns the count."""
    session = session or db.session
    count = 0
    for model in (ProviderApp, IntegrationCredential):
        for row in session.scalars(select(model)):
            row.ciphertext = secrets.rotate(row.ciphertext)
            count += 1
    session.commit()
    return count
