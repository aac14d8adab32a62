"""A connection's state machine: the one place an integration's status changes.

    not_configured --complete--> active --refused grant--> needs_reconnect
          ^    \\--hold for a choice--> not_configured (+ options in flow_state)
          |                              --choose--> active
          +--------- disconnect --------- (from any state)
    active <--check ok / check failed--> error

Each function changes the row (status, account label, last error, and the
connection's facts or flow state) and leaves the commit to its caller: the
lifecycle service, the token service under its row lock, the sync engine.
"""
from __future__ import annotations

from app.models import Integration
from app.models.integration import IntegrationStatus


def complete(integration: Integration, label: str | None, facts: dict) -> None:
    """The connection works and reached `label`; `facts` are what connecting learnt."""
    integration.status = IntegrationStatus.ACTIVE
    integration.account_label = label
    integration.connection_facts = dict(facts)
    integration.flow_state = {}
    integration.last_error = None


def hold_for_choice(integration: Integration, pending: dict, message: str) -> None:
    """The grant reaches several accounts: nothing is usable until someone picks one.
    The previous pick is dropped, so new tokens are never used with an account nobody
    chose for them."""
    integration.status = IntegrationStatus.NOT_CONFIGURED
    integration.account_label = None
    integration.connection_facts = {}
    integration.flow_state = {"pending_choice": pending}
    integration.last_error = message


def pending_choice(integration: Integration | None) -> dict | None:
    return (integration.flow_state or {}).get("pending_choice") if integration else None


def needs_reconnect(integration: Integration, message: str | None = None) -> None:
    """The provider refused the grant; only connecting again helps."""
    integration.status = IntegrationStatus.NEEDS_RECONNECT
    if message is not None:
        integration.last_error = message


def failed_check(integration: Integration, message: str) -> None:
    integration.status = IntegrationStatus.ERROR
    integration.last_error = message


def passed_check(integration: Integration, label: str | None = None) -> None:
    integration.status = IntegrationStatus.ACTIVE
    if label is not None:
        integration.account_label = label
    integration.last_error = None


def disconnected(integration: Integration) -> None:
    """Credentials gone; preferences, links and history stay for a later reconnect."""
    integration.status = IntegrationStatus.NOT_CONFIGURED
    integration.account_label = None
    integration.last_error = None
    integration.flow_state = {}
