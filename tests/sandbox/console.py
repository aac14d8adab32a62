"""The sandbox's window into the fakes: a read-only page (its own loopback port, not part
of TimeHub) listing what TimeHub wrote to each provider, so a visitor sees the worklog
arrive at Jira or the invoice at Xero. It shows the writes the fakes recorded
(tests/fakes/server.py): method, path (never the query: Trello's carries key and token),
status and body, with anything named like a credential and webhook addresses' secret
segments blanked."""
from __future__ import annotations

import json
import re
from html import escape
from typing import Iterable
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer, RecordedRequest
from tests.sandbox.providers import SandboxProvider

WRITES = ("POST", "PUT", "PATCH", "DELETE")
SHOWN_PER_PROVIDER = 20
BODY_CHARS = 1500
SECRET_NAMES = ("api_key", "apikey", "authorization")
# TimeHub's webhook addresses end in a secret path segment per integration.
WEBHOOK_SECRET = re.compile(r"(/webhooks/[a-z_]+/)[^\s\"/?]+")
SECRET_ENDINGS = ("token", "secret", "password")
STYLE = ("body{font:14px system-ui,sans-serif;margin:2rem;max-width:70rem}pre{background:#f4f4f5;padding:.5rem;"
         "white-space:pre-wrap;word-break:break-all}h2{margin-top:2rem}.muted{color:#666}")


def api_server(provider: SandboxProvider) -> FakeServer:
    return getattr(provider.fake, "api", None) or provider.fake.server


def looks_secret(name) -> bool:
    name = str(name).lower()
    return name in SECRET_NAMES or name.endswith(SECRET_ENDINGS)


def redacted(value):
    """`value` with every field named like a credential blanked, at any depth."""
    if isinstance(value, dict):
        return {k: "***" if looks_secret(k) else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    if isinstance(value, str):
        return WEBHOOK_SECRET.sub(r"\1***", value)
    return value


def shown_body(record: RecordedRequest) -> str:
    if not record.body:
        return ""
    kind = record.headers.get("content-type", "")
    try:
        if "json" in kind:
            data = json.loads(record.body)
        elif "form" in kind:
            data = dict(parse_qsl(record.body.decode(), keep_blank_values=True))
        else:
            return f"({len(record.body)} bytes of {kind or 'unknown type'})"
    except (ValueError, UnicodeDecodeError):
        return f"({len(record.body)} bytes that do not parse as {kind})"
    text = json.dumps(redacted(data), indent=2, ensure_ascii=False)
    return text if len(text) <= BODY_CHARS else text[:BODY_CHARS] + "\n..."


def writes(provider: SandboxProvider) -> list[RecordedRequest]:
    return [r for r in api_server(provider).requests if r.method in WRITES][-SHOWN_PER_PROVIDER:][::-1]


def page(providers: dict[str, SandboxProvider]) -> str:
    parts = ["<!doctype html><html lang=en><meta charset=utf-8><title>Sandbox fakes</title>",
             f"<style>{STYLE}</style><h1>What TimeHub wrote to the fakes</h1>",
             "<p class=muted>Newest first, the last {SHOWN_PER_PROVIDER} per provider. Reload to update.</p>"
             .replace("{SHOWN_PER_PROVIDER}", str(SHOWN_PER_PROVIDER))]
    for provider in providers.values():
        received = writes(provider)
        reads = len(api_server(provider).requests) - len([r for r in api_server(provider).requests
                                                           if r.method in WRITES])
        parts.append(f"<h2 id={escape(provider.slug)}>{escape(provider.slug)}</h2>"
                     f"<p class=muted>{len(received)} write(s) shown, {reads} read(s) not shown. "
                     f"{escape(provider.try_it if provider.slug != 'trello' else 'key + token: see the terminal')}</p>")
        for record in received:
            parts.append(f"<p><b>{escape(record.method)} {escape(record.path)}</b> &rarr; {record.status}</p>")
            if body := shown_body(record):
                parts.append(f"<pre>{escape(body)}</pre>")
    return "".join(parts)


def console_app(providers: dict[str, SandboxProvider]):
    def app(environ: dict, start_response) -> Iterable[bytes]:
        request = Request(environ)
        if request.method != "GET" or request.path != "/":
            response = Response("not found", 404, content_type="text/plain")
        else:
            response = Response(page(providers), content_type="text/html; charset=utf-8")
        return response(environ, start_response)
    return app
