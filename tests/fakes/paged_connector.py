"""A connector for the generic paged fake, written like a real one: it is how
the sync engine is proven before any provider's connector uses it.

Fake items become projects; time entries are pushed as items. The cursor is
a high-water mark of `updated_at` plus, while a listing is under way, the
page cursor inside it, so an interrupted import resumes at its last page.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json

from app.integrations.base import Connector
from app.integrations.capabilities import Pulls, Pushes, ReceivesWebhooks, VerifiesApiKey
from app.integrations.exchange import (
    AccountInfo,
    PushRequest,
    RemoteRecord,
    RunContext,
    SyncPage,
    WebhookEvent,
    WebhookRejected,
)
from app.integrations.http import INTERACTIVE_RETRY, ProviderClient
from app.integrations.pagination import cursor_pages
from app.integrations.spec import ProviderSpec

SPEC = ProviderSpec(
    slug="paged",
    name="Paged fake",
    scope="global",
    auth_kind="api_key",
    features={"import": "Fake items become TimeHub projects.", "push": "Time entries become fake items."},
    api_base="http://127.0.0.1:9",
    console_url="http://127.0.0.1:9",
    register_steps=(),
    setup_fields=(),
)


class PagedConnector(Connector, Pulls, Pushes, ReceivesWebhooks, VerifiesApiKey):
    spec = SPEC
    streams = ("items",)
    push_kinds = frozenset({"time_entry"})
    page_size = 100  # the most the fake serves per page

    @classmethod
    def api_key_auth(cls, credentials: dict) -> tuple[dict, dict]:
        return {}, {"Authorization": f"Bearer {credentials['token']}"}

    @classmethod
    def verify(cls, api_base: str, credentials: dict, **client_kwargs) -> AccountInfo:
        """One item of the listing, as a real connector's check call would read one."""
        params, headers = cls.api_key_auth(credentials)
        with ProviderClient(SPEC.name, api_base, auth_params=params, auth_headers=headers,
                            retry=INTERACTIVE_RETRY, **client_kwargs) as client:
            client.get_json("cursor/items", params={"limit": 1})
        return AccountInfo(label="paged fake")

    def pull(self, stream: str, cursor: str | None, run: RunContext):
        state = json.loads(cursor) if cursor else {}
        since, high = state.get("since"), state.get("high", state.get("since"))
        params = {"limit": self.page_size}
        if since is not None:
            params["updated_since"] = since
        totals = []  # the listing's size, as each page's body states it

        def items_of(body):
            totals.append(body.get("total"))
            return body.get("data")

        for page in cursor_pages(self.client, "cursor/items", params=params, records=items_of,
                                 start=state.get("page")):
            if page:
                high = max(high or 0, max(item["updated_at"] for item in page))
            records = [RemoteRecord("project", item["id"], str(item["updated_at"]),
                                    {} if item.get("deleted") else {"name": item["title"]},
                                    deleted=bool(item.get("deleted")), version_order=int) for item in page]
            following = {"since": since, "page": page.resume, "high": high} if page.resume else {"since": high}
            yield SyncPage(records, json.dumps(following), total=totals[-1])

    @classmethod
    def wants_push(cls, integration, kind: str, record, links) -> bool:
        return kind in cls.push_kinds and record.ended_at is not None  # never a running timer

    def push(self, request: PushRequest, run: RunContext) -> str:
        entry = request.record
        body = {"title": entry.description, "seconds": int(entry.duration.total_seconds())}
        if request.external_id:
            return self.client.request("PUT", f"items/{request.external_id}", json=body).json()["id"]
        return self.client.request("POST", "items", json=body, idempotency_key=request.idempotency_key).json()["id"]

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        self.client.request("DELETE", f"items/{external_id}")

    # -- webhooks: HMAC-SHA256 of the body, hex, like GitHub's X-Hub-Signature-256 --

    @classmethod
    def verify_webhook(cls, integration, secrets: dict, headers, body: bytes, url: str) -> WebhookEvent:
        signature = headers.get("X-Paged-Signature", "")
        expected = "sha256=" + hmac.new(secrets["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            raise WebhookRejected(401, "signature does not match")
        delivery = headers.get("X-Paged-Delivery")
        if not delivery:
            raise WebhookRejected(400, "delivery id missing")
        return WebhookEvent(delivery, headers.get("X-Paged-Event"))

    def webhook_records(self, event: str | None, payload: dict) -> list:
        item = payload["item"]
        return [RemoteRecord("project", item["id"], str(item["updated_at"]), {"name": item["title"]},
                             version_order=int)]  # updated_at is seconds: a later one is newer


class SecondPagedConnector(PagedConnector):
    """The same fake API as a second provider ("paged_b", reached at PAGED_B_API_BASE): an
    installation may hold one global integration per provider, and tests that need two
    providers with their own records, budgets and webhook addresses connect both."""
    spec = dataclasses.replace(SPEC, slug="paged_b", name="Second paged fake")


PAGED_CONNECTORS = {"paged": PagedConnector, "paged_b": SecondPagedConnector}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
