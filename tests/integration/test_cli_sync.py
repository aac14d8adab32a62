"""`timehub integrations sync <slug>`: one run in the foreground through the real CLI,
against the generic paged fake over loopback HTTP, on SQLite and PostgreSQL.
It shows each stream's progress (a bar when the provider counts the listing,
a running count when it does not) and the run's final counts."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from app import cli_integrations
from app.integrations import registry
from app.models import Project
from tests.fakes.paged_connector import PagedConnector
from tests.fakes.paged_provider import PagedProvider
from tests.integration.test_sync_engine import make_integration

SUMMARY = "succeeded: 250 pulled, 250 created, 0 updated, 0 archived, 0 pushed, 0 failed"


class UncountedConnector(PagedConnector):
    """The paged connector of a provider that does not say how long a listing is."""

    def pull(self, stream: str, cursor: str | None, run):
        for page in super().pull(stream, cursor, run):
            yield dataclasses.replace(page, total=None)


@pytest.fixture
def fake():
    with PagedProvider(records=250, max_page_size=100) as provider:
        yield provider


@pytest.fixture
def integration(db, fake, monkeypatch):
    monkeypatch.setitem(registry._CONNECTORS, "paged", PagedConnector)
    return make_integration(db, fake.url, monkeypatch)


def sync(app, *args: str):
    return app.test_cli_runner().invoke(args=["integrations", "sync", "paged", *args])


def live_frames(output: str) -> list[str]:
    """What a terminal showed, one redraw after another."""
    return [frame.rstrip() for line in output.splitlines() for frame in line.split("\r") if frame.strip()]


def test_without_a_terminal_each_stream_gets_one_plain_line_and_the_run_its_counts(app, db, integration):
    result = sync(app)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["Syncing Paged fake", "items: 250/250 records, 3 pages", SUMMARY]
    assert "\r" not in result.output
    assert db.session.scalar(select(func.count()).select_from(Project)) == 250


def test_a_long_stream_without_a_terminal_reports_every_few_pages(app, integration, monkeypatch):
    monkeypatch.setattr(cli_integrations, "PLAIN_LINE_EVERY_PAGES", 2)
    result = sync(app)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ["items: 200/250 records, 2 pages",
                                              "items: 250/250 records, 3 pages", SUMMARY]


def test_on_a_terminal_a_bar_fills_page_by_page_when_the_provider_counts_the_listing(app, integration):
    result = sync(app, "--bar")
    assert result.exit_code == 0, result.output
    assert live_frames(result.output) == [
        "Syncing Paged fake",
        "[############..................] 100/250 items",
        "[########################......] 200/250 items",
        "[##############################] 250/250 items",
        "[##############################] 250/250 items",  # the finished stream's line, kept
        SUMMARY,
    ]


def test_on_a_terminal_an_uncounted_listing_shows_a_running_count(app, integration, monkeypatch):
    monkeypatch.setitem(registry._CONNECTORS, "paged", UncountedConnector)
    result = sync(app, "--bar")
    assert result.exit_code == 0, result.output
    assert live_frames(result.output) == ["Syncing Paged fake", "/ 100 items", "- 200 items", "\\ 250 items",
                                          "250 items", SUMMARY]
    plain = sync(app, "--no-bar")  # nothing changed since: one empty page
    assert plain.output.splitlines()[1:] == [
        "items: 0 records, 1 page", "succeeded: 0 pulled, 0 created, 0 updated, 0 archived, 0 pushed, 0 failed"]


def test_a_failed_run_ends_its_line_and_exits_with_the_providers_message(app, fake, integration, monkeypatch):
    monkeypatch.setenv("PAGED_API_BASE", f"{fake.url}/moved")  # the fake answers 404 there
    result = sync(app, "--bar")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[1].startswith("failed: 0 pulled, 0 created") and "Paged fake" in lines[2], result.output


def test_an_unknown_or_unconnected_provider_is_refused(app, db, monkeypatch):
    monkeypatch.setitem(registry._CONNECTORS, "paged", PagedConnector)
    assert "unknown provider nope" in app.test_cli_runner().invoke(args=["integrations", "sync", "nope"]).output
    result = sync(app)
    assert result.exit_code == 1 and "Paged fake is not connected" in result.output
