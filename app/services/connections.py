"""Builds the connector for an integration, with an authenticated ProviderClient,
and the RunContext of a run.

OAuth integrations authenticate every request with a token that the token
service keeps valid (refreshed before expiry, and once after a 401);
API-key integrations with what their connector derives from the stored key.
"""
from __future__ import annotations

from flask import current_app

from app.extensions import db
from app.integrations import registry
from app.integrations.base import Connector
from app.integrations.capabilities import VerifiesApiKey
from app.integrations.exchange import LinkLookup, NoLinks, RunContext
from app.integrations.http import BearerAuth, ProviderClient, RetryPolicy
from app.integrations.ratelimit import limit_for, limiter_for
from app.models import Integration
from app.services import lookups, token_service
from app.services.token_service import NotConnected


class _RefreshingBearer(BearerAuth):
    """Bearer auth whose 401 handler refreshes exactly the token that was refused."""

    def __init__(self, integration: Integration):
        self._integration = integration
        self._last_token: str | None = None
        super().__init__(self._token_now, self._refresh_refused)

    def _token_now(self) -> str:
        self._last_token = token_service.valid_access_token(self._integration)
        return self._last_token

    def _refresh_refused(self) -> bool:
        if self._last_token is None:
            return False
        token_service.refresh_after_unauthorized(self._integration, self._last_token)
        return True


def connector_for(integration: Integration, *, retry: RetryPolicy | None = None,
                  author: Integration | None = None) -> Connector:
    """The integration's connector with a client of its own; `retry` is the client's retry
    policy (quick, INTERACTIVE_RETRY, when someone waits on the answer). With `author` (a
    user's personal link to this team connection) the client authenticates with that link's
    grant instead, under a request budget of its own, with the team's settings and site."""
    connector_class = registry.get_connector(integration.provider)
    spec = connector_class.spec
    grant = author or integration
    if integration.credential is None or grant.credential is None:
        raise NotConnected(f"{spec.name} is not connected")
    connection = _connection(integration)
    api_base = api_base_of(integration, connection)
    headers = connector_class.api_headers(connection)
    # One budget per connected account, shared by every worker through Redis when there is one.
    budget = f"{current_app.config['TIMEHUB_QUEUE_NAME']}:{spec.slug}:{grant.id}"
    redis_url = current_app.config.get("REDIS_URL")
    limiter = limiter_for(budget, limit_for(spec), redis_url=redis_url)
    # Methods the provider limits on their own (Slack's tiers) get a budget of their own too.
    method_limiters = {name: limiter_for(f"{budget}:{name}", limit, redis_url=redis_url)
                       for name, limit in spec.method_rate_limits.items()}
    options = {"limiter": limiter, "errors": spec.errors, **({"retry": retry} if retry else {}),
               **({"method_limiters": method_limiters} if method_limiters else {})}
    if issubclass(connector_class, VerifiesApiKey):
        params, key_headers = connector_class.api_key_auth(integration.credential.payload)
        client = ProviderClient(spec.name, api_base, auth_params=params, auth_headers={**headers, **key_headers},
                                **options)
    else:
        client = ProviderClient(spec.name, api_base, auth=_RefreshingBearer(grant), auth_headers=headers,
                                **options)
    return connector_class(integration, client)


def _connection(integration: Integration) -> dict:
    """The admin's setup values (GitLab host, Microsoft tenant) and what the connection
    itself learnt (site, tenant, company): both shape where calls go."""
    app = lookups.app_credentials(db.session, integration.provider)
    return {**(app.settings if app else {}), **(integration.connection_facts or {})}


def api_base_of(integration: Integration, connection: dict | None = None) -> str:
    """Where the integration's API calls go (the provider's, or the one configured)."""
    connector_class = registry.get_connector(integration.provider)
    connection = _connection(integration) if connection is None else connection
    return connector_class.api_base_for(connector_class.spec.endpoints(connection).api_base, connection)


def webhook_url_for(integration: Integration) -> str | None:
    """The integration's webhook address as a provider must call it, or None when TimeHub
    has no public address (TIMEHUB_EXTERNAL_URL unset)."""
    external_url = current_app.config.get("TIMEHUB_EXTERNAL_URL")
    if not external_url:
        return None
    return f"{external_url}/webhooks/{integration.provider}/{integration.webhook_token}"


def run_context(integration: Integration, links: LinkLookup | None = None) -> RunContext:
    webhook_url = webhook_url_for(integration)
    return RunContext(links=links or NoLinks(), webhook_url=webhook_url,
                      webhook_secrets=_webhook_secrets(integration) if webhook_url else {})


def _webhook_secrets(integration: Integration) -> dict[str, str]:
    """The secrets deliveries are verified with, as the webhook intake reads them: an OAuth
    provider's secret setup values, an API-key provider's credential."""
    connector_class = registry.get_connector(integration.provider)
    if issubclass(connector_class, VerifiesApiKey):
        return dict(integration.credential.payload) if integration.credential else {}
    app = lookups.app_record(db.session, integration.provider)
    if app is not None:
        return dict(app.payload)
    from_env = connector_class.spec.env_app_credentials()  # as the intake falls back to it
    return {"client_secret": from_env[1]} if from_env else {}
