"""The fake Jira Cloud, or the fake Jira Data Center, in a process of its own, so that the CPU
it spends serving pages is not counted as TimeHub's (`time.process_time()` counts every thread
of this process, and the in-process fake's server threads cost about as much as the engine).

The child builds and seeds tests.fakes.jira.FakeJira (or tests.fakes.jira_datacenter's
FakeJiraDataCenter) exactly as bench.harness.jira_fake does and answers a few questions over
a pipe; the parent sees a stand-in with the attributes the benchmark reads (oauth client,
sites, projects, api.base_url, issue_token, rest_requests).
"""
from __future__ import annotations

import multiprocessing
import os
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Iterator

REDIRECT_URI = "http://127.0.0.1/integrations/jira/callback"
DATACENTER = "datacenter"
ANSWER_TIMEOUT_SECONDS = 600  # seeding 100,000 issues takes a while on a loaded machine


def _fake(flavour: str | None):
    if flavour == DATACENTER:
        from tests.fakes.jira_datacenter import FakeJiraDataCenter

        return FakeJiraDataCenter(redirect_uris=("http://127.0.0.1/integrations/jira_datacenter/callback",))
    from tests.fakes.jira import FakeJira

    return FakeJira(redirect_uris=(REDIRECT_URI,))


def _token(fake, flavour: str | None) -> str:
    """What the connection authenticates with: Cloud, a live OAuth access token; Data Center,
    the fake's admin's personal access token."""
    return fake.personal_token(fake.me["key"]) if flavour == DATACENTER else fake.issue_token()


def _rest_requests(fake, flavour: str | None) -> int:
    """Calls that reached the REST API: Data Center's API server serves nothing else (OAuth is
    on its own server); Cloud's gateway answers /ex/jira/... (token calls aside)."""
    if flavour == DATACENTER:
        return len(fake.api.requests)
    return sum(1 for r in fake.api.requests if r.path.startswith("/ex/jira/"))


def _serve(conn, records: int, projects: int, flavour: str | None = None) -> None:
    from bench.harness import seed_jira

    with _fake(flavour) as fake:
        seed_jira(fake, records, projects)
        fake.api.clear()
        conn.send({"env": fake.env(), "client_id": fake.oauth.client_id,
                   "client_secret": fake.oauth.client_secret, "sites": getattr(fake, "sites", None),
                   "projects": fake.projects, "base_url": fake.api.base_url})
        while True:
            command = conn.recv()
            if command == "token":
                conn.send(_token(fake, flavour))
            elif command == "rest_requests":
                conn.send(_rest_requests(fake, flavour))
            elif command == "clear":
                fake.api.clear()
                conn.send(None)
            else:  # "stop"
                conn.send(None)
                return


class RemoteJira:
    """What the benchmark needs of the fake, asked of the child process."""

    def __init__(self, conn, info: dict):
        self._conn = conn
        self.oauth = SimpleNamespace(client_id=info["client_id"], client_secret=info["client_secret"])
        self.sites = info["sites"]
        self.projects = info["projects"]
        self.api = SimpleNamespace(base_url=info["base_url"], clear=lambda: self._ask("clear"))
        self.env = info["env"]

    def _ask(self, command: str):
        self._conn.send(command)
        if not self._conn.poll(ANSWER_TIMEOUT_SECONDS):
            raise TimeoutError(f"the fake Jira process did not answer {command!r}")
        return self._conn.recv()

    def issue_token(self) -> str:
        return self._ask("token")

    def rest_requests(self) -> int:
        return self._ask("rest_requests")


@contextmanager
def remote_jira(records: int, projects: int, flavour: str | None = None) -> Iterator[RemoteJira]:
    """The seeded fake Jira (Cloud; `flavour="datacenter"`: Data Center) served by a child
    process, the app pointed at it."""
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no app, no database pool
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, records, projects, flavour), daemon=True)
    process.start()
    try:
        if not parent.poll(ANSWER_TIMEOUT_SECONDS):
            raise TimeoutError("the fake Jira process did not start")
        fake = RemoteJira(parent, parent.recv())
        for name, value in fake.env.items():
            os.environ[name] = value
        yield fake
        fake._ask("stop")
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()
