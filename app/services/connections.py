"""Builds the connector for an integration, with an authenticated ProviderClient."""
from __future__ import annotations

from app.integrations import registry
from app.integrations.base import Connector
from app.integrations.http import ProviderClient
from app.models import Integration


class NotConnected(Exception):
    pass


def connector_for(integration: Integration) -> Connector:
    connector_class = registry.get_connector(integration.provider)
    spec = connector_class.spec
    if integration.credential is None:
        raise NotConnected(f"{spec.name} is not connected")
    endpoints = spec.endpoints(integration.settings)
    credentials = integration.credential.payload
    if spec.auth_kind == "api_key":
        client = connector_class.client(endpoints.api_base, credentials["api_key"], credentials["token"])
    else:
        client = ProviderClient(spec.name, endpoints.api_base,
                                auth_headers={"Authorization": f"Bearer {credentials['access_token']}"})
    return connector_class(integration, client)
