"""The Connector base class: what every provider's connector has, whatever it can do.

A connector module holds everything about one provider and nothing about
another: its ProviderSpec (app.integrations.spec, data) and one Connector
subclass that adds the capabilities it implements (app.integrations.capabilities).
Shared mechanisms (HTTP, OAuth, paging, sync, jobs) live below it; a connector
never opens a database session, retries on its own or keeps state between calls.
"""
from __future__ import annotations

import copy
from typing import Any, ClassVar, Mapping

from app.integrations.exchange import SettingToggle
from app.integrations.oauth import OAuthHooks
from app.integrations.spec import ProviderSpec


class Connector(OAuthHooks):
    """Base of every provider's connector. An instance works for one integration through
    one ProviderClient (built by app.services.connections with the right authentication).

    It reads the integration's three kinds of data through `preferences` (the admin's
    sync settings), `connection` (what connecting learnt: site, tenant, company) and
    `state` (its own, e.g. Jira's webhooks), and changes none of them: what it wants
    stored it returns. The OAuth hooks it inherits (OAuthHooks) keep their defaults
    unless the provider differs.
    """

    spec: ClassVar[ProviderSpec]
    # Yes/no settings of this provider's connections (Jira: push worklogs).
    setting_toggles: ClassVar[tuple[SettingToggle, ...]] = ()

    def __init__(self, integration, client):
        self.integration = integration
        self.client = client
        # The settings as they were when this connector was made: a run commits page by page,
        # and a settings page saved meanwhile must not give its later streams other settings
        # than its first (projects read with the old allow-list, tasks with the new one).
        self._preferences = copy.deepcopy(integration.settings or {})

    def close(self) -> None:
        """Let go of the client's pooled connections (a worker makes a connector per run)."""
        close = getattr(self.client, "close", None)  # tests may hand a connector a bare stand-in
        if close is not None:
            close()

    def same_settings_as(self, other: Connector) -> Connector:
        """This connector with `other`'s settings snapshot: a run's connector in another
        thread (app.services.pull_ahead) reads with the settings the run started with."""
        self._preferences = copy.deepcopy(other._preferences)
        return self

    # -- the integration's data, read only -----------------------------------------

    @property
    def preferences(self) -> Mapping[str, Any]:
        return self._preferences

    @property
    def connection(self) -> Mapping[str, Any]:
        return self.integration.connection_facts or {}

    @property
    def state(self) -> Mapping[str, Any]:
        return self.integration.connector_state or {}

    # -- where and how requests go ---------------------------------------------------

    @classmethod
    def api_base_for(cls, api_base: str, connection: Mapping[str, Any]) -> str:
        """Where this connection's API calls go; a connector adds its site or company."""
        return api_base

    @classmethod
    def api_headers(cls, connection: Mapping[str, Any]) -> dict[str, str]:
        """Headers every API call of this connection carries (Xero's tenant id)."""
        return {}

    # -- yes/no preferences ------------------------------------------------------------

    @classmethod
    def toggle_of(cls, integration, setting: str) -> bool:
        """A yes/no setting of `integration`, or its default when never saved."""
        toggle = next(t for t in cls.setting_toggles if t.setting == setting)
        return bool((integration.settings or {}).get(setting, toggle.default))

    def toggle(self, setting: str) -> bool:
        return self.toggle_of(self.integration, setting)
