"""The next page of a pull fetched while the engine writes the current one.

A pull's wall time has two halves that need not wait for each other: the
provider answering (the network, the provider's own work) and TimeHub writing
the page it got. A run's pages are therefore fetched by a thread of its own,
one page ahead of the engine. That thread works in an app context of its own,
so it has its own database session (Flask-SQLAlchemy scopes sessions by app
context): its integration, its token reads and refreshes never touch the
engine's session, and it has its own connector (keeping the run connector's
settings) and HTTP client. The engine still applies the pages in order and
commits each with its cursor; at most one page waits ahead, so memory stays
flat. When the engine stops early (a write failed), the thread is told to
stop: at most one page was fetched for nothing, and the cursor saved is the
last written page's, so the next run resumes there.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from flask import current_app

from app import tuning
from app.extensions import db
from app.integrations.base import Connector
from app.integrations.exchange import RunContext, SyncPage
from app.models import Integration

_END = object()  # the stream has no more pages


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class PullAhead:
    """The fetching side of one run: `pages(stream, cursor)` yields the stream's pages,
    each fetched while the engine was writing the one before. Use as a context manager:
    leaving it stops and joins the thread."""

    def __init__(self, integration_id: int, connector_factory: Callable[[Integration], Connector],
                 run_connector: Connector, context: RunContext, links_for: Callable):
        self._app = current_app._get_current_object()
        self._integration_id = integration_id
        self._connector_factory = connector_factory
        self._run_connector = run_connector
        self._context = context
        self._links_for = links_for  # (session, integration id) -> the run's LinkLookup on that session
        self._requests: queue.Queue = queue.Queue()
        self._handover: queue.Queue = queue.Queue(maxsize=1)  # one page ahead, no more
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"timehub-pull-ahead-{integration_id}", daemon=True)

    def __enter__(self) -> PullAhead:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._requests.put(None)
        self._thread.join(tuning.PULL_AHEAD_JOIN_SECONDS)

    def pages(self, stream: str, cursor) -> Iterator[SyncPage]:
        self._requests.put((stream, cursor))
        while True:
            try:
                item = self._handover.get(timeout=tuning.PULL_AHEAD_POLL_SECONDS)
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError("the thread fetching the pages ended without an answer") from None
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    # -- the fetching thread ---------------------------------------------------------

    def _work(self) -> None:
        with self._app.app_context():
            session = db.session  # this thread's own
            connector = context = None
            try:
                while (request := self._requests.get()) is not None and not self._stop.is_set():
                    stream, cursor = request
                    try:
                        if connector is None:
                            integration = session.get(Integration, self._integration_id)
                            connector = self._connector_factory(integration).same_settings_as(self._run_connector)
                            context = replace(self._context, links=self._links_for(session, self._integration_id))
                        for page in connector.pull(stream, cursor, context):
                            session.rollback()  # as the engine's commit does: the next request reads the token afresh
                            if not self._hand_over(page):
                                return
                        self._hand_over(_END)
                    except Exception as exc:  # noqa: BLE001 - raised in the engine's thread, as if fetched there
                        session.rollback()
                        self._hand_over(_Failed(exc))
            finally:
                db.session.remove()
                if connector is not None:
                    connector.close()

    def _hand_over(self, item) -> bool:
        """Wait until the engine takes `item`; False when the engine stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._handover.put(item, timeout=tuning.PULL_AHEAD_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False
