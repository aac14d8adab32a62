"""Where the server's CPU time goes: cProfile around each request, in every thread."""
from __future__ import annotations

import threading
import time

from bench.harness import say


class ProfiledApp:
    """WSGI middleware: cProfile around each request in its own thread, merged at the end.
    It slows every request down; use it to see where time goes, not for the figures."""

    def __init__(self, app):
        self.app = app
        self._profiles = []
        self._local = threading.local()

    def __call__(self, environ, start_response):
        import cProfile

        profile = getattr(self._local, "profile", None)
        if profile is None:
            # CPU time of this thread, not wall time: waiting for a lock or a disk is not the code's cost.
            profile = self._local.profile = cProfile.Profile(time.thread_time)
            self._profiles.append(profile)
        profile.enable()
        try:
            answer = self.app(environ, start_response)
            try:
                return list(answer)
            finally:
                if hasattr(answer, "close"):
                    answer.close()  # as a server does: what the app does on close is counted too
        finally:
            profile.disable()

    def dump(self, path: str) -> None:
        import io
        import pstats

        if not self._profiles:
            return
        stats = pstats.Stats(self._profiles[0])
        for profile in self._profiles[1:]:
            stats.add(profile)
        stats.dump_stats(path)
        text = io.StringIO()
        pstats.Stats(path, stream=text).sort_stats("cumulative").print_stats(40)
        say(f"profile written to {path}; the top of it:\n{text.getvalue()}")
