"""The integration lifecycle: set up a provider, connect, choose an account,
test, change settings, disconnect. Routes, the API and the CLI change
integrations only through this module, and look them up through it (it
delegates to app.services.lookups), so the global/per-user rules hold
everywhere:

- a global integration is shared by everyone and changed by admins only;
- a per-user integration belongs to one user, and nobody else (admins
  included) can see or change it.

Status changes go through app.services.connection_state; background work is
asked for through app.services.work_queue.
"""
from __future__ import annotations

import logging
import secrets as pysecrets
from contextlib import closing
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import encryption, tuning
from app.extensions import db
from app.integrations import oauth, registry
from app.integrations.capabilities import (
    ConnectsWithToken,
    ManagesRemoteSetup,
    Pulls,
    moves_data,
    ReleasesUnchosenAccounts,
    VerifiesApiKey,
)
from app.integrations.exchange import AccountInfo
from app.integrations.http import AuthError, ProviderError
from app.integrations.spec import ProviderSpec
from app.models import Integration, IntegrationCredential, ProviderApp, User
from app.models.integration import IntegrationStatus
from app.services import connection_state, lookups, personal_links, sync_service, token_service, work_queue
from app.services.connections import connector_for, run_context
from app.services.errors import Forbidden, IntegrationError, NotFound, SyncRefused
from app.services.lookups import AppCredentials
from app.services.token_service import TokenError

log = logging.getLogger(__name__)

MAX_PERSONAL_TOKEN_LENGTH = token_service.MAX_PERSONAL_TOKEN_LENGTH

__all__ = ["AppCredentials", "Forbidden", "IntegrationError", "IntegrationService", "IntegrationView", "NotFound",
           "SyncRefused", "rotate_all_secrets"]


@dataclass(frozen=True)
class IntegrationView:
    """One provider as one viewer sees it."""

    spec: ProviderSpec
    integration: Integration | None
    app_configured: bool
    can_manage: bool

    @property
    def status(self) -> str:
        return self.integration.status if self.integration else IntegrationStatus.NOT_CONFIGURED

    @property
    def connected(self) -> bool:
        return bool(self.integration and self.integration.connected)

    @property
    def configured(self) -> bool:
        return self.connected if self.spec.auth_kind == "api_key" else self.app_configured


class IntegrationService:
    def __init__(self, session: Session | None = None):
        self.session = session or db.session

    # -- lookups -------------------------------------------------------------

    @staticmethod
    def spec(slug: str) -> ProviderSpec:
        return lookups.spec(slug)

    def integration_for(self, user: User | None, slug: str) -> Integration | None:
        """The integration `user` acts through: the global one (whoever asks), or their own."""
        return lookups.integration_for(self.session, user, slug)

    def visible_integration(self, user: User, integration_id: int) -> Integration:
        return lookups.visible_integration(self.session, user, integration_id)

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
                status=IntegrationStatus.NOT_CONFIGURED,
                settings=dict(spec.defaults),
            )
            self.session.add(integration)
        return integration

    def app_record(self, slug: str) -> ProviderApp | None:
        return lookups.app_record(self.session, slug)

    def app_credentials(self, slug: str) -> AppCredentials | None:
        """The registered OAuth app: the admin's saved one, else `<SLUG>_CLIENT_ID/SECRET`."""
        return lookups.app_credentials(self.session, slug)

    def view(self, user: User, slug: str) -> IntegrationView:
        spec = self.spec(slug)
        return self._view(user, spec, self.integration_for(user, slug), self.app_credentials(slug) is not None)

    @staticmethod
    def _view(user: User, spec: ProviderSpec, integration: Integration | None, app_registered: bool) -> IntegrationView:
        return IntegrationView(
            spec=spec,
            integration=integration,
            app_configured=spec.auth_kind == "api_key" or app_registered,
            can_manage=user.is_admin if spec.is_global else True,
        )

    def needing_reconnect(self, user: User) -> list[Integration]:
        """Integrations `user` can fix whose grant the provider refused, in one query:
        their own per-user ones, and for admins the global ones too."""
        mine = Integration.user_id == user.id
        visible = or_(mine, Integration.is_global.is_(True)) if user.is_admin else mine
        return list(self.session.scalars(select(Integration).where(
            Integration.status == IntegrationStatus.NEEDS_RECONNECT, visible)))

    def list_for(self, user: User) -> tuple[list[IntegrationView], list[IntegrationView]]:
        """(global integrations, the user's own per-user integrations), in two queries
        rather than two per provider."""
        rows = self.session.scalars(select(Integration).where(
            or_(Integration.is_global.is_(True), Integration.user_id == user.id)))
        visible = {(row.provider, row.is_global): row for row in rows}
        # A saved setup without a client id (Jira Data Center with a personal access token) is no OAuth app.
        saved_apps = set(self.session.scalars(select(ProviderApp.provider).where(ProviderApp.client_id != "")))
        views = [self._view(user, spec, visible.get((spec.slug, spec.is_global)),
                            spec.slug in saved_apps or bool(spec.env_app_credentials()))
                 for spec in registry.all_specs()]
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
            problem = field.check(value) if field.check and value and not field.secret else None
            if problem:
                errors[field.name] = problem
        if errors:
            raise IntegrationError("Some fields need attention.", errors)
        for field in spec.setup_fields:
            if field.generated and field.name not in secret_values:
                secret_values[field.name] = pysecrets.token_hex(32)
        if app is None:
            app = ProviderApp(provider=slug)
            self.session.add(app)
        app.client_id = settings.pop("client_id", "")  # empty: no OAuth app (Jira Data Center's token)
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
            if not value and field.required:
                errors[field.name] = "This field is required."
            if value:
                credentials[field.name] = value
        if errors:
            raise IntegrationError("Some fields need attention.", errors)
        account = self._verify(spec, credentials, client_kwargs)
        integration = self._get_or_create(actor, spec)
        if integration.credential is None:
            integration.credential = IntegrationCredential(kind="api_key")
        integration.credential.payload = credentials
        connection_state.complete(integration, account.label, {})
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
            connection_state.failed_check(integration, exc.message)
            self.session.commit()
            raise
        connection_state.passed_check(integration, account.label)
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
        personal_links.forget_all(self.session, integration)
        sync_service.forget_imported(self.session, integration)
        connection_state.disconnected(integration)
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
        """Remove what the connection set up at the provider (webhooks), keeping the
        connector state it returns."""
        connector_class = registry.get_connector(integration.provider)
        if not issubclass(connector_class, ManagesRemoteSetup):
            return None
        try:
            with closing(connector_for(integration)) as connector:
                integration.connector_state = connector.before_disconnect(run_context(integration))
        except (ProviderError, TokenError) as exc:
            return f"Could not remove TimeHub's webhooks at {connector_class.spec.name}: {exc.message}"
        return None

    @staticmethod
    def _revoke(integration: Integration) -> str | None:
        try:
            token_service.revoke_at_provider(integration)
        except oauth.RevocationFailed as exc:
            return f"{exc.message}; the local credentials were deleted anyway."
        return None

    def connect_with_token(self, actor: User, slug: str, token: str, **client_kwargs) -> Integration:
        """Connect with a personal access token instead of OAuth, for a provider whose connector
        takes one (Jira Data Center): check it with a real call, then keep it (encrypted) as the
        connection's bearer token. A refused token saves nothing and says why."""
        spec = self.spec(slug)
        self.require_manage(actor, spec)
        connector = registry.get_connector(slug)
        token = (token or "").strip()
        if not issubclass(connector, ConnectsWithToken):
            raise IntegrationError(f"{spec.name} connects through OAuth, not a personal access token")
        if not token or len(token) > MAX_PERSONAL_TOKEN_LENGTH:
            raise IntegrationError("Enter the personal access token.", {"token": "Enter the token Jira showed you."})
        app = self.app_record(slug)
        if app is None:
            raise IntegrationError(f"Save the {spec.name} setup first.")
        try:
            account = connector.token_account(dict(app.settings), token, **client_kwargs)
        except ProviderError as exc:
            raise IntegrationError(f"{spec.name} refused the token: {exc.message}", {"token": exc.message}) from None
        return self.complete_connection(actor, spec, oauth.TokenSet(access_token=token), account)

    # -- OAuth connections ------------------------------------------------------------

    def complete_connection(self, actor: User, spec: ProviderSpec, token: oauth.TokenSet,
                            account: oauth.ConnectedAccount) -> Integration:
        """The OAuth callback reached one account: store the tokens, mark the connection
        active, and pull right away."""
        integration = self.connection_for(actor, spec)
        token_service.store_tokens(integration, token)
        connection_state.complete(integration, account.label, account.settings)
        self.session.commit()
        self.queue_first_sync(integration)
        return integration

    def hold_for_choice(self, actor: User, choice: oauth.AccountChoiceRequired) -> Integration:
        """The grant reaches several accounts: keep the tokens (encrypted) and the options;
        the connection stays inactive until `actor` picks one."""
        spec = self.spec(choice.slug)
        integration = self.connection_for(actor, spec)
        token_service.store_tokens(integration, choice.token)
        connection_state.hold_for_choice(integration, {
            "user_id": actor.id,
            "noun": choice.noun,
            "options": [{"key": o.key, "label": o.account.label, "detail": o.detail, "settings": o.account.settings}
                        for o in choice.options],
        }, f"Several {spec.name} {choice.noun}s are available: choose one to finish connecting.")
        self.session.commit()
        return integration

    def waiting_choice(self, actor: User, spec: ProviderSpec) -> tuple[Integration, dict] | None:
        """(the integration, its pending choice) when `actor` has one to make; None when
        nothing waits (a later reconnect that reached one account made it moot). Raises
        Forbidden when the choice is someone else's: they choose what their grant is for."""
        self.require_manage(actor, spec)
        integration = self.integration_for(actor, spec.slug)
        pending = connection_state.pending_choice(integration)
        if not pending or integration.credential is None or integration.status == IntegrationStatus.ACTIVE:
            return None
        if pending.get("user_id") != actor.id:
            raise Forbidden("only the person who connected chooses the account")
        return integration, pending

    def choose_account(self, actor: User, spec: ProviderSpec, key: str) -> tuple[Integration, dict]:
        """Finish a held connection with the option `key`; returns it with the integration.
        Access to the other options is given up where the provider allows it (best effort)."""
        waiting = self.waiting_choice(actor, spec)
        if waiting is None:
            raise IntegrationError(f"{spec.name} has nothing waiting to be chosen.")
        integration, pending = waiting
        options = {option["key"]: option for option in pending["options"]}
        if key not in options:
            raise IntegrationError("Pick one of the listed options.")
        chosen = options[key]
        connection_state.complete(integration, chosen["label"], chosen["settings"])
        self.session.commit()
        self._release_unchosen(integration, [o["settings"] for k, o in options.items() if k != key])
        self.queue_first_sync(integration)
        return integration, chosen

    @staticmethod
    def _release_unchosen(integration: Integration, unchosen: list[dict]) -> None:
        """Best effort: the connection works either way; what is left is said in the log."""
        if not issubclass(registry.get_connector(integration.provider), ReleasesUnchosenAccounts):
            return
        try:
            with closing(connector_for(integration)) as connector:
                connector.release_unchosen(unchosen)
        except (ProviderError, TokenError) as exc:
            log.warning("Could not release the %s accounts not chosen: %s", integration.provider, exc.message)

    # -- background work ----------------------------------------------------------------

    def request_sync(self, actor: User, integration: Integration | None, spec: ProviderSpec) -> None:
        """"Sync now": queue a manual sync, or say why not (Forbidden, SyncRefused)."""
        self.require_manage(actor, spec)
        if integration is None or not integration.connected:
            raise SyncRefused(f"{spec.name} is not connected: connect it before syncing.", "not_connected")
        if not moves_data(registry.get_connector(spec.slug)):
            raise SyncRefused(f"The {spec.name} connector does not import or push anything yet.", "nothing_to_sync")
        if sync_service.active_run(self.session, integration.id) is not None:
            raise SyncRefused(f"A sync of {spec.name} is already running; wait for it to finish.", "running")
        self.queue_sync(integration, "manual")

    @staticmethod
    def queue_sync(integration: Integration, trigger: str, *, after_running: bool = False) -> None:
        """Put a sync of the integration on the job queue ("manual", "connect"); see
        work_queue.queue_sync for `after_running`."""
        work_queue.queue_sync(integration.id, trigger, after_running=after_running)

    @classmethod
    def queue_first_sync(cls, integration: Integration) -> None:
        """After a (re)connection, pull right away instead of waiting for the schedule."""
        if issubclass(registry.get_connector(integration.provider), Pulls):
            cls.queue_sync(integration, "connect")

    def _verify(self, spec: ProviderSpec, credentials: dict, client_kwargs: dict) -> AccountInfo:
        connector = registry.get_connector(spec.slug)
        if not issubclass(connector, VerifiesApiKey):
            raise IntegrationError(f"{spec.name} connects through OAuth, not an API key")
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
            row.ciphertext = encryption.rotate(row.ciphertext)
            count += 1
    session.commit()
    return count
