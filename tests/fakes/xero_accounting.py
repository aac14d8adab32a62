"""The Xero Accounting API (api.xro/2.0) as the fake Xero serves it, over loopback.

What Xero documents and this fake does (developer.xero.com, Accounting API):

- every call needs a live bearer token and a `xero-tenant-id` of one of the grant's
  connections (401 / 403 otherwise, Xero's problem JSON);
- `GET Contacts`, `GET Invoices` page with `page` (from 1) and `pageSize` (default 100,
  at most 1000); `GET Invoices` filters by `InvoiceNumbers`, `Statuses`, and the
  `If-Modified-Since` header against each invoice's UpdatedDateUTC;
- `PUT Contacts` / `PUT Invoices` create, `POST Invoices/{id}` updates or changes the
  status (DRAFT -> DELETED, AUTHORISED -> VOIDED; a PAID invoice cannot change);
- validation failures answer 400 with `ErrorNumber` 10, `ValidationException` and the
  messages in `Elements[].ValidationErrors[]` (contact names and invoice numbers are
  unique, account codes must exist, a contact must exist);
- an `Idempotency-Key` seen before answers the first answer again without doing the
  work twice (`forget_idempotency_keys()` ends that memory, as Xero's keys expire);
- limits per tenant: 60 calls in any minute, 5 at once, 5,000 a day; over one: 429 with
  `Retry-After` and `X-Rate-Limit-Problem` (minute / concurrent / day); every answer, a
  429 too, carries `X-MinLimit-Remaining`, `X-DayLimit-Remaining` and `X-AppMinLimit-Remaining`;
- faults for tests: `drop_answers(n)` does the work of the next n writes and then closes
  the connection without an answer; `fail_next(n)` answers 503.

`pay(invoice_id)` and `edit_at_xero(invoice_id, ...)` act as someone in Xero would, and
`lock_date` is the organisation's period lock date (a document dated on or before it is refused);
`signed_webhook(events)` builds a delivery with its `x-xero-signature`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import os
import socket
import threading
import time
import uuid
from collections import deque
from datetime import UTC, date, datetime

from werkzeug.wrappers import Request, Response

from tests.fakes.atlassian import bearer_is_valid

ACCOUNTING_PREFIX = "/api.xro/2.0"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def xero_date(moment: datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def _problem(status: int, title: str, detail: str) -> Response:
    return _json({"Type": None, "Title": title, "Status": status, "Detail": detail}, status)


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers or {}, content_type="application/json")


def validation_error(messages: list[str]) -> Response:
    return _json({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                  "Elements": [{"ValidationErrors": [{"Message": m} for m in messages]}]}, 400)


class XeroAccounting:
    def __init__(self, xero, *, minute_limit: int = 60, concurrent_limit: int = 5, day_limit: int = 5000,
                 window: float = 60.0):
        self.window = window  # the "minute"; tests shrink it to prove the limiter without waiting
        self.xero = xero
        self.lock = threading.Lock()
        self.contacts: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.accounts = [{"AccountID": str(uuid.uuid4()), "Code": "200", "Name": "Sales", "Class": "REVENUE",
                          "Type": "REVENUE", "Status": "ACTIVE"},
                         {"AccountID": str(uuid.uuid4()), "Code": "260", "Name": "Other Revenue",
                          "Class": "REVENUE", "Type": "OTHERINCOME", "Status": "ACTIVE"}]
        self.tax_rates = [{"Name": "15% GST on Income", "TaxType": "OUTPUT2", "CanApplyToRevenue": True,
                           "EffectiveRate": 15, "Status": "ACTIVE"},
                          {"Name": "No GST", "TaxType": "NONE", "CanApplyToRevenue": True, "EffectiveRate": 0,
                           "Status": "ACTIVE"}]
        self.idempotency: dict[str, tuple[int, str]] = {}
        # The organisation's period lock date (Settings > Advanced): no document dated on or before it.
        self.lock_date: date | None = None
        self.minute_limit, self.concurrent_limit, self.day_limit = minute_limit, concurrent_limit, day_limit
        self.calls: deque[float] = deque()
        self.day_calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.rate_limited = 0
        self.webhook_key = "xero-webhook-key-" + "k" * 20
        self._drop = 0
        self._fail = 0
        # `fault_rate`: the share of requests that meet a fault, drawn with `rng`: half answer
        # 503 before any work, half lose their answer after the work is done.
        self.fault_rate = 0.0
        self.rng = random.Random(13)
        self.dropped = 0

    # -- what tests and people in Xero do -------------------------------------------------

    def drop_answers(self, count: int) -> None:
        self._drop = count

    def fail_next(self, count: int) -> None:
        self._fail = count

    def forget_idempotency_keys(self) -> None:
        self.idempotency.clear()

    def add_contact(self, name: str, email: str = "", number: str = "") -> dict:
        contact = {"ContactID": str(uuid.uuid4()), "Name": name, "EmailAddress": email, "ContactNumber": number,
                   "ContactStatus": "ACTIVE", "IsCustomer": True, "UpdatedDateUTC": xero_date(datetime.now(UTC))}
        self.contacts[contact["ContactID"]] = contact
        return contact

    def pay(self, invoice_id: str) -> None:
        with self.lock:
            invoice = self.invoices[invoice_id]
            invoice.update(Status="PAID", AmountPaid=invoice["Total"], AmountDue=0.0)
            self._touch(invoice)

    def edit_at_xero(self, invoice_id: str, **changes) -> None:
        """An accountant's edit in Xero: `unit_amount` for every line, or any invoice field."""
        with self.lock:
            invoice = self.invoices[invoice_id]
            if "unit_amount" in changes:
                invoice["LineItems"] = [{**line, "UnitAmount": changes.pop("unit_amount")}
                                        for line in invoice["LineItems"]]
            invoice.update(changes)
            self._totals(invoice)
            self._touch(invoice)

    def by_number(self, number: str) -> list[dict]:
        return [i for i in self.invoices.values() if i["InvoiceNumber"] == number]

    def signed_webhook(self, events: list[dict], key: str | None = None) -> tuple[bytes, dict]:
        body = json.dumps({"events": events, "firstEventSequence": 1, "lastEventSequence": len(events),
                           "entropy": base64.b32encode(os.urandom(10)).decode()}).encode()
        signature = base64.b64encode(hmac.new((key or self.webhook_key).encode(), body, hashlib.sha256).digest())
        return body, {"x-xero-signature": signature.decode(), "Content-Type": "application/json"}

    def invoice_event(self, invoice_id: str) -> dict:
        return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice_id}", "resourceId": invoice_id,
                "eventDateUtc": datetime.now(UTC).isoformat(), "eventType": "UPDATE", "eventCategory": "INVOICE",
                "tenantId": self.xero.tenant_id, "tenantType": "ORGANISATION"}

    # -- serving ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal(environ, start_response)
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.002)  # a little server time, so concurrent calls overlap as at Xero
            response = self._route(request)
            drop = False
            with self.lock:
                if request.method in ("PUT", "POST") and self._drop > 0:
                    self._drop -= 1
                    self.dropped += 1
                    drop = True
        finally:
            with self.lock:
                self.in_flight -= 1
        if drop:  # the work is done; the answer is lost on the way
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            # Written to a closed socket: the server drops the connection quietly.
            return response(environ, start_response)
        self._remaining(response)
        return response(environ, start_response)

    def _remaining(self, response: Response) -> Response:
        """What every answer of Xero's says is left, 429s included."""
        response.headers["X-MinLimit-Remaining"] = str(max(self.minute_limit - len(self.calls), 0))
        response.headers["X-DayLimit-Remaining"] = str(max(self.day_limit - self.day_calls, 0))
        response.headers["X-AppMinLimit-Remaining"] = "10000"
        return response

    def _refusal(self, request: Request) -> Response | None:
        if not bearer_is_valid(self.xero.oauth, request.headers.get("Authorization")):
            return _problem(401, "Unauthorized", "AuthenticationUnsuccessful")
        tenants = {c["tenantId"] for c in self.xero.connections}
        if request.headers.get("xero-tenant-id") not in tenants:
            return _problem(403, "Forbidden", "AuthenticationUnsuccessful")
        now = time.monotonic()
        with self.lock:
            random_fault = self.fault_rate and self.rng.random() < self.fault_rate
            if random_fault and self.rng.random() < 0.5:
                self._drop += 1  # the next write does its work and loses its answer
                random_fault = False
            if self._fail > 0 or random_fault:
                self._fail = max(self._fail - 1, 0)
                return _problem(503, "Service Unavailable", "The service is temporarily unavailable")
            while self.calls and self.calls[0] <= now - self.window:
                self.calls.popleft()
            problem = None
            if self.day_calls >= self.day_limit:
                problem, wait = "day", 3600
            elif len(self.calls) >= self.minute_limit:
                problem, wait = "minute", max(1, int(self.calls[0] + self.window - now) + 1)
            elif self.in_flight >= self.concurrent_limit:
                problem, wait = "concurrent", 1
            if problem:
                self.rate_limited += 1
                return self._remaining(Response("", 429, headers={"Retry-After": str(wait),
                                                                   "X-Rate-Limit-Problem": problem}))
            self.calls.append(now)
            self.day_calls += 1
        return None

    def _route(self, request: Request) -> Response:
        parts = request.path[len(ACCOUNTING_PREFIX) + 1:].split("/")
        resource, item = parts[0], (parts[1] if len(parts) > 1 else None)
        key = request.headers.get("Idempotency-Key")
        if request.method in ("PUT", "POST") and key:
            with self.lock:
                if key in self.idempotency:
                    status, text = self.idempotency[key]
                    return Response(text, status, content_type="application/json")
        if request.method == "GET":
            response = self._read(request, resource, item)
        elif resource == "Contacts" and request.method in ("PUT", "POST") and item is None:
            response = self._create_contacts(request.get_json(silent=True) or {})
        elif resource == "Invoices" and request.method in ("PUT", "POST") and item is None:
            response = self._create_invoices(request.get_json(silent=True) or {})
        elif resource == "Invoices" and request.method == "POST":
            response = self._update_invoice(item, request.get_json(silent=True) or {})
        else:
            response = _problem(405, "Method Not Allowed", f"{request.method} {resource}")
        if request.method in ("PUT", "POST") and key:
            with self.lock:
                self.idempotency[key] = (response.status_code, response.get_data(as_text=True))
        return response

    def _read(self, request: Request, resource: str, item: str | None) -> Response:
        with self.lock:
            if resource == "Accounts":
                return _json({"Accounts": self.accounts})
            if resource == "TaxRates":
                return _json({"TaxRates": self.tax_rates})
            if resource == "Contacts" and item is None:
                return self._page(request, "Contacts", list(self.contacts.values()))
            if resource == "Invoices" and item:
                invoice = self.invoices.get(item)
                if invoice is None:
                    return _problem(404, "Not Found", "The resource you're looking for cannot be found")
                return _json({"Invoices": [_public(invoice)]})
            if resource == "Invoices":
                chosen = list(self.invoices.values())
                if request.args.get("InvoiceNumbers"):
                    numbers = set(request.args["InvoiceNumbers"].split(","))
                    chosen = [i for i in chosen if i["InvoiceNumber"] in numbers]
                if request.args.get("Statuses"):
                    statuses = set(request.args["Statuses"].split(","))
                    chosen = [i for i in chosen if i["Status"] in statuses]
                since = request.headers.get("If-Modified-Since")
                if since:
                    moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
                    chosen = [i for i in chosen if i["_updated"] > moment]
                return self._page(request, "Invoices", sorted(chosen, key=lambda i: i["_updated"]))
        return _problem(404, "Not Found", "The resource you're looking for cannot be found")

    @staticmethod
    def _page(request: Request, key: str, rows: list[dict]) -> Response:
        size = min(int(request.args.get("pageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
        page = max(int(request.args.get("page", 1)), 1)
        chosen = rows[(page - 1) * size: page * size]
        return _json({key: [_public(row) for row in chosen],
                      "pagination": {"page": page, "pageSize": size, "itemCount": len(rows),
                                     "pageCount": -(-len(rows) // size)}})

    def _create_contacts(self, body: dict) -> Response:
        created = []
        with self.lock:
            for contact in body.get("Contacts") or []:
                name = (contact.get("Name") or "").strip()
                if not name:
                    return validation_error(["The contact name must be provided."])
                if any(c["Name"].lower() == name.lower() for c in self.contacts.values()):
                    return validation_error([f"The contact name {name} is already assigned to another contact. "
                                             "The contact name must be unique across all active contacts."])
                record = {**contact, "ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE", "IsCustomer": True,
                          "UpdatedDateUTC": xero_date(datetime.now(UTC))}
                self.contacts[record["ContactID"]] = record
                created.append(record)
        return _json({"Contacts": created})

    def _invoice_problems(self, invoice: dict) -> list[str]:
        problems = []
        if invoice.get("Type") != "ACCREC":
            problems.append("Invoice Type must be specified")
        if (invoice.get("Contact") or {}).get("ContactID") not in self.contacts:
            problems.append("A Contact must be specified for this type of transaction")
        codes = {a["Code"] for a in self.accounts}
        taxes = {t["TaxType"] for t in self.tax_rates}
        for line in invoice.get("LineItems") or []:
            if line.get("AccountCode") not in codes:
                problems.append(f"Account code '{line.get('AccountCode', '')}' is not a valid code for this document.")
            if line.get("TaxType") and line["TaxType"] not in taxes:
                problems.append(f"The TaxType code '{line['TaxType']}' does not exist or cannot be used.")
        if not invoice.get("LineItems"):
            problems.append("Invoices must have at least one line item")
        if invoice.get("Status") not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            problems.append("Invoice not of valid status for creation")
        if self.lock_date and invoice.get("Date") and date.fromisoformat(invoice["Date"][:10]) <= self.lock_date:
            problems.append(f"The document date cannot be before the period lock date of "
                            f"{self.lock_date:%d %b %Y}")
        return problems

    def _create_invoices(self, body: dict) -> Response:
        created = []
        with self.lock:
            for invoice in body.get("Invoices") or []:
                problems = self._invoice_problems(invoice)
                if invoice.get("InvoiceNumber") and self.by_number(invoice["InvoiceNumber"]):
                    problems.append("Invoice # must be unique.")
                if problems:
                    return validation_error(problems)
                record = {**invoice, "InvoiceID": str(uuid.uuid4()), "AmountPaid": 0.0}
                self._totals(record)
                self._touch(record)
                self.invoices[record["InvoiceID"]] = record
                created.append(_public(record))
        return _json({"Invoices": created})

    def _update_invoice(self, invoice_id: str, body: dict) -> Response:
        with self.lock:
            current = self.invoices.get(invoice_id)
            if current is None:
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            [change] = body.get("Invoices") or [{}]
            status = change.get("Status", current["Status"])
            if current["Status"] in ("PAID", "VOIDED", "DELETED"):
                return validation_error([f"This document cannot be edited as it has a status of {current['Status']}."])
            if status == "DELETED" and current["Status"] not in ("DRAFT", "SUBMITTED"):
                return validation_error(["Invoice not of valid status for modification"])
            if status == "VOIDED" and current["Status"] != "AUTHORISED":
                return validation_error(["Invoice not of valid status for modification"])
            merged = {**current, **change}
            if status not in ("DELETED", "VOIDED"):
                problems = self._invoice_problems(merged)
                if problems:
                    return validation_error(problems)
            self._totals(merged)
            self._touch(merged)
            self.invoices[invoice_id] = merged
            return _json({"Invoices": [_public(merged)]})

    @staticmethod
    def _totals(invoice: dict) -> None:
        subtotal = round(sum(float(l.get("Quantity", 0)) * float(l.get("UnitAmount", 0))
                             for l in invoice.get("LineItems") or []), 2)
        invoice.update(SubTotal=subtotal, Total=subtotal, AmountDue=subtotal - float(invoice.get("AmountPaid", 0)))

    @staticmethod
    def _touch(invoice: dict) -> None:
        now = datetime.now(UTC)
        previous = invoice.get("_updated")
        if previous is not None and now <= previous:
            from datetime import timedelta
            now = previous + timedelta(milliseconds=1)
        invoice["_updated"] = now
        invoice["UpdatedDateUTC"] = xero_date(now)


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}
