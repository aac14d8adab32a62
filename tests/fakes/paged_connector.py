"""A connector for the generic paged fake, written like a real one: it is how
the sync engine is proven before any provider's connector uses it.

Fake items become projects; time entries are pushed as items. The cursor is
a high-water mark of `updated_at` plus, while a listing is under way, the
page cursor inside it, so an interrupted import resumes at its last page.
"""
from __future__ import annotations

import hashlib
import hmac
import json

from app.integrations.base import Connector, ProviderSpec, RemoteRecord, SyncPage, WebhookEvent, WebhookRejected
from app.integrations.pagination import cursor_pages

SPEC = ProviderSpec(
    slug="paged",
    name="Paged fake",
    scope="global",
    auth_kind="api_key",
    summary="The generic paged fake provider of the test suite.",
    api_base="http://127.0.0.1:9",
    console_url="http://127.0.0.1:9",
    register_steps=(),
    setup_fields=(),
)


class PagedConnector(Connector):
    spec = SPEC
    streams = ("items",)
    push_kinds = frozenset({"time_entry"})
    page_size = 100  # the most the fake serves per page

    @classmethod
    def api_key_auth(cls, credentials: dict) -> tuple[dict, dict]:
        return {}, {"Authorization": f"Bearer {credentials['token']}"}

    def pull(self, stream: str, cursor: str | None):
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

    def push(self, kind: str, entry, external_id: str | None, idempotency_key: str) -> str:
        body = {"title": entry.description, "seconds": int(entry.duration.total_seconds())}
        if external_id:
            return self.client.request("PUT", f"items/{external_id}", json=body).json()["id"]
        return self.client.request("POST", "items", json=body, idempotency_key=idempotency_key).json()["id"]

    def delete_remote(self, kind: str, external_id: str) -> None:
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


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
