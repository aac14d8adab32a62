"""Connector variants for tests of pages and flows that only need a connector to *be*
a puller (its pages then offer syncing), not to import anything."""
from __future__ import annotations

from app.integrations.capabilities import Pulls


def pulling_variant(connector_class: type, streams: tuple[str, ...]) -> type:
    """`connector_class` plus Pulls, with `streams` that yield no page."""
    def pull(self, stream, cursor, run):
        return iter(())

    return type(f"Pulling{connector_class.__name__}", (connector_class, Pulls), {"streams": streams, "pull": pull})
