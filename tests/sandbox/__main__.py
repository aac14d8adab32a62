"""Serve the sandbox: `python -m tests.sandbox` (what `make sandbox` runs).

HOST / PORT as for `make run` (127.0.0.1:5000); SANDBOX_CONSOLE_PORT the page of what the
fakes received (PORT + 1); SANDBOX_INSTANCE the instance folder (instance-sandbox/,
emptied at every start: the fakes keep nothing either)."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from werkzeug.serving import make_server, run_simple

from app import jobs
from app.web_security import QuietRequestHandler
from tests.sandbox.build import ENDPOINTS_FILE, Sandbox, build
from tests.sandbox.console import console_app
from tests.sandbox.people import ADMIN, TEAM


def what_to_try(sandbox: Sandbox, console_url: str) -> str:
    width = max(len(person.email) for person in TEAM)
    lines = [f"TimeHub sandbox on {sandbox.base_url}  (open this address: the OAuth callbacks are registered on it)",
             "", "Sign in as:"]
    lines += [f"  {person.email:<{width}}  {sandbox.passwords[person.email]}  {'admin' if person.admin else 'user'}"
              for person in TEAM]
    lines += ["", f"Every provider is a fake on loopback; {len(sandbox.providers)} set up "
                  f"(endpoints in {sandbox.instance / ENDPOINTS_FILE}). What to try:"]
    lines += [f"  {provider.slug:<17} {provider.try_it}" for provider in sandbox.providers.values()]
    lines += ["", f"What TimeHub wrote to each fake (worklogs, invoices, messages): {console_url}"]
    lines += ["", f"{sandbox.entries} entries seeded over the last week. The admin ({ADMIN.email}) sets up the team "
                  "integrations under Integrations. Ctrl-C stops everything."]
    return "\n".join(lines)


def main() -> None:
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "5000"))
    instance = Path(os.environ.get("SANDBOX_INSTANCE", "instance-sandbox"))
    sandbox = build(instance, f"http://{host}:{port}", setenv=os.environ.__setitem__)
    # Ctrl-C (or a TERM) stops the server, the job consumer and every fake, also when the
    # sandbox was started in the background, where SIGINT starts out ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console_port = int(os.environ.get("SANDBOX_CONSOLE_PORT", port + 1))
    console = make_server(host, console_port, console_app(sandbox.providers), threaded=True,
                          request_handler=QuietRequestHandler)
    threading.Thread(target=console.serve_forever, name="sandbox-console", daemon=True).start()
    consumer = jobs.start_in_process_consumer()
    print(what_to_try(sandbox, f"http://{host}:{console_port}/"), flush=True)
    try:
        run_simple(host, port, sandbox.app, threaded=True, request_handler=QuietRequestHandler)
    finally:
        consumer.stop(graceful=False)
        console.shutdown()
        violations = sandbox.close()
        if violations:
            print(f"{len(violations)} request(s) to the fakes broke their provider's API description:")
            print("\n".join(f"  {line}" for line in violations[:20]))


if __name__ == "__main__":
    main()
