"""Builds the connector for an integration, with an authenticated ProviderClient.

OAuth integrations authenticate every request with a token that the token
service keeps valid (refreshed before expiry, and once after a 401);
API-key integrations with what their connector derives from the stored key.
"""
from __future__ import annotations

from flask import current_app

from app.integrations import registry
from app.integrations.base import Connector
from app.integrations.http import BearerAuth, ProviderClient
from app.integrations.ratelimit import limit_for, limiter_for
from app.models import Integration
from app.services import token_service
from app.services.integration_service import IntegrationService
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


def connector_for(integration: Integration) -> Connector:
    connector_class = registry.get_connector(integration.provider)
    spec = connector_class.spec
    if integration.credential is None:
        raise NotConnected(f"{spec.name} is not connected")
    # The admin's setup values (GitLab host, Microsoft tenant) and what the connection
    # itself learnt (site, tenant, company) both shape where calls go.
    app = IntegrationService().app_credentials(spec.slug)
    settings = {**(app.settings if app else {}), **(integration.settings or {})}
    api_base = connector_class.api_base_for(spec.endpoints(settings).api_base, settings)
    headers = connector_class.api_headers(settings)
    # One budget per connected account, shared by every worker through Redis when there is one.
    limiter = limiter_for(f"{current_app.config['TIMEHUB_QUEUE_NAME']}:{spec.slug}:{integration.id}",
                          limit_for(spec.slug),
                          redis_url=current_app.config.get("REDIS_URL"))
    if spec.auth_kind == "api_key":
        params, key_headers = connector_class.api_key_auth(integration.credential.payload)
        client = ProviderClient(spec.name, api_base, auth_params=params, auth_headers={**headers, **key_headers},
                                limiter=limiter)
    else:
        client = ProviderClient(spec.name, api_base, auth=_RefreshingBearer(integration), auth_headers=headers,
                                limiter=limiter)
    connector = connector_class(integration, client)
    external_url = current_app.config.get("TIMEHUB_EXTERNAL_URL")
    if external_url:
        connector.webhook_url = f"{external_url}/webhooks/{spec.slug}/{integration.webhook_token}"
    return connector
