"""slug -> (ProviderSpec, Connector class). The one list of providers; nothing else."""
from __future__ import annotations

from app.integrations import (
    asana,
    github,
    gitlab,
    google_calendar,
    jira,
    jira_datacenter,
    microsoft_teams,
    outlook_calendar,
    quickbooks,
    slack,
    trello,
    xero,
)
from app.integrations.base import Connector
from app.integrations.spec import ProviderSpec

_CONNECTORS: dict[str, type[Connector]] = {
    module_connector.spec.slug: module_connector
    for module_connector in (
        jira.JiraConnector,
        jira_datacenter.JiraDataCenterConnector,
        slack.SlackConnector,
        github.GitHubConnector,
        gitlab.GitLabConnector,
        asana.AsanaConnector,
        trello.TrelloConnector,
        microsoft_teams.MicrosoftTeamsConnector,
        outlook_calendar.OutlookCalendarConnector,
        quickbooks.QuickBooksConnector,
        xero.XeroConnector,
        google_calendar.GoogleCalendarConnector,
    )
}


class UnknownProvider(LookupError):
    pass


def all_specs() -> list[ProviderSpec]:
    return [connector.spec for connector in _CONNECTORS.values()]


def get_spec(slug: str) -> ProviderSpec:
    return get_connector(slug).spec


def get_connector(slug: str) -> type[Connector]:
    try:
        return _CONNECTORS[slug]
    except KeyError:
        raise UnknownProvider(slug) from None
