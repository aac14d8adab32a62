"""Every registered connector keeps the contract: what it can do is what it implements,
its spec and its capabilities agree, and the pages promise only what works."""
from __future__ import annotations

import inspect

import pytest

from app.integrations.base import Connector
from app.integrations import registry
from app.integrations.capabilities import FEATURES, Pulls, VerifiesApiKey, capabilities_of, features_of, moves_data

CONNECTORS = [registry.get_connector(spec.slug) for spec in registry.all_specs()]


@pytest.mark.parametrize("connector", CONNECTORS, ids=lambda c: c.spec.slug)
def test_every_connector_implements_all_of_each_capability_it_claims(connector):
    assert not inspect.isabstract(connector), sorted(connector.__abstractmethods__)


@pytest.mark.parametrize("connector", CONNECTORS, ids=lambda c: c.spec.slug)
def test_api_key_providers_and_only_they_verify_an_api_key(connector):
    assert issubclass(connector, VerifiesApiKey) == (connector.spec.auth_kind == "api_key")


@pytest.mark.parametrize("connector", CONNECTORS, ids=lambda c: c.spec.slug)
def test_pulling_connectors_name_their_streams(connector):
    if issubclass(connector, Pulls):
        assert connector.streams and len(set(connector.streams)) == len(connector.streams)


def test_the_pages_describe_only_implemented_features():
    jira = registry.get_connector("jira")
    assert features_of(jira) == list(jira.spec.features.values())  # import, push and webhooks all work
    trello = registry.get_connector("trello")

    class ConnectsOnly(Connector):  # Trello's description, before its connector imported anything
        spec = trello.spec
    assert "import" in ConnectsOnly.spec.features and not moves_data(ConnectsOnly)
    assert features_of(ConnectsOnly) == []  # "Boards become TimeHub projects" is not said before it is true


def test_a_connector_gains_a_feature_by_implementing_it():
    from tests.fakes.paged_connector import PagedConnector
    assert {FEATURES["import"], FEATURES["push"]} <= capabilities_of(PagedConnector)
    assert features_of(PagedConnector) == list(PagedConnector.spec.features.values())


def test_feature_sentences_name_known_capabilities():
    known = set(FEATURES) | {"notify", "calendar", "accounting"}  # the last three: capabilities to come
    for spec in registry.all_specs():
        assert set(spec.features) <= known, spec.slug
