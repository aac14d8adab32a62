"""The QuickBooks Online Accounting API (v3) as the fake Intuit serves it, over loopback.

What Intuit documents (developer.intuit.com, API reference and "Fault codes") and this
fake does, under `/v3/company/{realmId}/`:

- a live bearer token of that company's grant (401 AUTHENTICATION / 403 AuthorizationFault)
  and `minorversion` 75 or newer on every call (older ones: 400 ValidationFault);
- `GET query?query=select * from <Entity> [where ...] [orderby ...] STARTPOSITION n
  MAXRESULTS m` for Customer, Item, Invoice (where: `DocNumber = '...'`, `Type = '...'`,
  `Metadata.LastUpdatedTime >= '...'`; MAXRESULTS at most 1000);
- `POST customer`, `POST invoice` create (or, with `Id` and `SyncToken`, update; a stale
  SyncToken answers Fault 5010 "Stale Object Error"), `POST invoice?operation=void`;
  `GET invoice/{id}`, `GET payment/{id}`; request bodies checked against the v3 XSDs
  (tests.fakes.intuit_schema) and business rules: DisplayName unique (6240 "Duplicate
  Name Exists Error"), DocNumber unique (6140 "Duplicate Document Number Error"), refs
  that exist (2500 "Invalid Reference Id"), a closed books date (6210 "Account Period Closed");
- `requestid`: a create seen before with the same id answers the first answer again
  without doing the work twice (Intuit's idempotency for retries);
- limits per realm: 500 requests a minute and 10 at once; over one: 429 with a Fault
  of type ThrottleExceeded;
- faults for tests: `drop_answers(n)` does the work of the next n POSTs and then closes
  the connection without an answer; `fail_next(n)` answers 503.

`pay(invoice_id)` records a Payment and `edit_in_quickbooks(invoice_id, ...)` changes the lines
as someone in QuickBooks would;
`signed_webhook(entities)` builds a delivery with its `intuit-signature`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import socket
import threading
import time
from collections import deque
from datetime import UTC, date, datetime, timedelta

from werkzeug.wrappers import Request, Response

from tests.fakes import intuit_schema
from tests.fakes.atlassian import bearer_is_valid

MAX_RESULTS = 1000
OLDEST_MINOR_VERSION = 75
QUERY = re.compile(r"^select \* from (?P<entity>\w+)(?: where (?P<where>.+?))?(?: orderby (?P<order>[\w.]+))?"
                   r" STARTPOSITION (?P<start>\d+) MAXRESULTS (?P<max>\d+)$", re.IGNORECASE)
CONDITION = re.compile(r"^(?P<field>[\w.]+) (?P<op>=|>=|>) '(?P<value>(?:[^'\\]|\\.)*)'$")


def fault(status: int, code: str, message: str, detail: str, kind: str = "ValidationFault") -> Response:
    body = {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}], "type": kind},
            "time": datetime.now(UTC).isoformat()}
    return Response(json.dumps(body), status, content_type="application/json")


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps({**body, "time": datetime.now(UTC).isoformat()}), status,
                    content_type="application/json")


class QuickBooksApi:
    def __init__(self, intuit, *, minute_limit: int = 500, concurrent_limit: int = 10, window: float = 60.0):
        self.window = window  # the "minute"; tests shrink it to prove the limiter without waiting
        self.intuit = intuit
        self.lock = threading.Lock()
        self.customers: dict[str, dict] = {}
        self.items: dict[str, dict] = {"1": {"Id": "1", "Name": "Services", "Type": "Service", "SyncToken": "0"},
                                       "2": {"Id": "2", "Name": "Design", "Type": "Service", "SyncToken": "0"}}
        self.invoices: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.employees: dict[str, dict] = {"55": {"Id": "55", "DisplayName": "Emily Platt", "SyncToken": "0",
                                                  "PrimaryEmailAddr": {"Address": "emily@example.com"}}}
        self.vendors: dict[str, dict] = {"56": {"Id": "56", "DisplayName": "Books by Bessie", "SyncToken": "0"}}
        self.time_activities: dict[str, dict] = {}
        self.request_ids: dict[str, tuple[int, str]] = {}
        self.closed_before: date | None = None
        # The id of an invoice someone e-mails from QuickBooks just after TimeHub's next read
        # of it: its SyncToken moves, nothing TimeHub sent changes.
        self.email_after_read: str | None = None
        self.minute_limit, self.concurrent_limit = minute_limit, concurrent_limit
        self.calls: deque[float] = deque()
        self.in_flight = self.most_in_flight = self.rate_limited = 0
        self.verifier_token = "intuit-verifier-" + "v" * 20
        self._next_id = 100
        self._drop = self._fail = 0
        # `fault_rate`: the share of requests that meet a fault, drawn with `rng`: half answer
        # 503 before any work, half lose their answer after the work is done.
        self.fault_rate = 0.0
        self.rng = random.Random(13)
        self.dropped = 0
        self.schema_problems: list[str] = []

    # -- what tests and people in QuickBooks do ----------------------------------------------

    def drop_answers(self, count: int) -> None:
        self._drop = count

    def fail_next(self, count: int) -> None:
        self._fail = count

    def forget_request_ids(self) -> None:
        self.request_ids.clear()

    def add_customer(self, name: str, email: str = "") -> dict:
        with self.lock:
            customer = self._stamped({"Id": self._id(), "DisplayName": name, "SyncToken": "0", "Active": True,
                                      **({"PrimaryEmailAddr": {"Address": email}} if email else {})})
            self.customers[customer["Id"]] = customer
            return customer

    def add_item(self, name: str) -> dict:
        with self.lock:
            item = self._stamped({"Id": self._id(), "Name": name, "Type": "Service", "SyncToken": "0"})
            self.items[item["Id"]] = item
            return item

    def add_person(self, entity: str, name: str, email: str = "") -> dict:
        """An Employee or Vendor, as someone sets them up in QuickBooks."""
        with self.lock:
            person = self._stamped({"Id": self._id(), "DisplayName": name, "SyncToken": "0",
                                    **({"PrimaryEmailAddr": {"Address": email}} if email else {})})
            (self.employees if entity == "Employee" else self.vendors)[person["Id"]] = person
            return person

    def edit_in_quickbooks(self, invoice_id: str, *, unit_price: float) -> None:
        """An accountant's edit in QuickBooks: every line's price (and amount) changed."""
        with self.lock:
            invoice = self.invoices[invoice_id]
            for line in invoice["Line"]:
                detail = line["SalesItemLineDetail"]
                detail["UnitPrice"] = unit_price
                line["Amount"] = round(unit_price * float(detail.get("Qty", 1)), 2)
            self._totals(invoice)
            self._bump(invoice)

    def by_number(self, number: str) -> list[dict]:
        return [i for i in self.invoices.values() if i.get("DocNumber") == number]

    def pay(self, invoice_id: str) -> dict:
        with self.lock:
            invoice = self.invoices[invoice_id]
            payment = self._stamped({"Id": self._id(), "TotalAmt": invoice["TotalAmt"], "SyncToken": "0",
                                     "CustomerRef": invoice["CustomerRef"],
                                     "Line": [{"Amount": invoice["TotalAmt"],
                                               "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}]})
            self.payments[payment["Id"]] = payment
            invoice["Balance"] = 0.0
            self._bump(invoice)
            return payment

    def signed_webhook(self, entities: list[dict], token: str | None = None) -> tuple[bytes, dict]:
        body = json.dumps({"eventNotifications": [{"realmId": self.intuit.realm_id,
                                                   "dataChangeEvent": {"entities": entities}}]}).encode()
        signature = base64.b64encode(hmac.new((token or self.verifier_token).encode(), body, hashlib.sha256).digest())
        return body, {"intuit-signature": signature.decode(), "Content-Type": "application/json"}

    # -- serving -------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal(environ, start_response)
        try:
            time.sleep(0.002)
            response = self._route(request)
            drop = False
            with self.lock:
                if request.method == "POST" and self._drop > 0:
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
        return response(environ, start_response)

    def _refusal(self, request: Request) -> Response | None:
        parts = request.path.strip("/").split("/")
        if not bearer_is_valid(self.intuit.oauth, request.headers.get("Authorization")):
            return fault(401, "3200", "message=AuthenticationFailed", "Token expired or invalid", "AUTHENTICATION")
        if parts[2] != self.intuit.realm_id:
            return fault(403, "3100", "ApplicationAuthorizationFailed", "The realm is not this grant's",
                         "AuthorizationFault")
        minor = request.args.get("minorversion", "")
        if not minor.isdigit() or int(minor) < OLDEST_MINOR_VERSION:
            return fault(400, "2010", "Request has invalid or unsupported property",
                         f"minorversion {minor or '(none)'} is not supported; use {OLDEST_MINOR_VERSION} or newer")
        now = time.monotonic()
        with self.lock:
            random_fault = self.fault_rate and self.rng.random() < self.fault_rate
            if random_fault and self.rng.random() < 0.5:
                self._drop += 1  # the next write does its work and loses its answer
                random_fault = False
            if self._fail > 0 or random_fault:
                self._fail = max(self._fail - 1, 0)
                return fault(503, "10000", "Service Unavailable", "Try again later", "SystemFault")
            while self.calls and self.calls[0] <= now - self.window:
                self.calls.popleft()
            if len(self.calls) >= self.minute_limit or self.in_flight >= self.concurrent_limit:
                self.rate_limited += 1
                response = fault(429, "003001", "ThrottleExceeded", "Too many requests", "ThrottleExceeded")
                response.headers["Retry-After"] = "1"
                return response
            self.calls.append(now)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return None

    def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")[3:]  # after v3/company/{realm}
        entity = parts[0] if parts else ""
        if request.method == "GET" and entity == "query":
            return self._query(request.args.get("query", ""))
        if request.method == "GET" and len(parts) == 2:
            store = {"invoice": self.invoices, "payment": self.payments, "customer": self.customers,
                     "timeactivity": self.time_activities}.get(entity)
            with self.lock:
                row = (store or {}).get(parts[1])
                answer = None if row is None else _json({"TimeActivity" if entity == "timeactivity"
                                                         else entity.capitalize(): row})
                if row is not None and self.email_after_read == parts[1]:
                    self.email_after_read = None
                    row["EmailStatus"] = "EmailSent"  # someone e-mails it right after TimeHub's read
                    self._bump(row)
            if answer is None:
                return fault(400, "610", "Object Not Found", f"Object Not Found : Something you're trying to use "
                             f"has been made inactive. Check the fields with accounts, customers, items, vendors "
                             f"or employees.")
            return answer
        if request.method == "POST" and entity in ("customer", "invoice", "timeactivity") and len(parts) == 1:
            request_id = request.args.get("requestid")
            with self.lock:
                if request_id and request_id in self.request_ids:
                    status, text = self.request_ids[request_id]
                    return Response(text, status, content_type="application/json")
            body = request.get_json(silent=True) or {}
            schema_type = "TimeActivity" if entity == "timeactivity" else entity.capitalize()
            problems = intuit_schema.problems(body, schema_type)
            if problems:
                self.schema_problems += problems
                response = fault(400, "2010", "Request has invalid or unsupported property", "; ".join(problems))
            elif entity == "customer":
                response = self._save_customer(body)
            elif entity == "timeactivity":
                response = self._save_time_activity(body, request.args.get("operation"))
            else:
                response = self._save_invoice(body, request.args.get("operation"))
            if request_id:
                with self.lock:
                    self.request_ids[request_id] = (response.status_code, response.get_data(as_text=True))
            return response
        return fault(400, "4000", "Unsupported Operation", f"{request.method} {'/'.join(parts)}")

    def _query(self, text: str) -> Response:
        match = QUERY.match(text.strip())
        if match is None:
            return fault(400, "4000", "Error parsing query", f"QueryParserError: {text[:100]}")
        store = {"customer": self.customers, "item": self.items, "invoice": self.invoices,
                 "employee": self.employees, "vendor": self.vendors}.get(match["entity"].lower())
        if store is None:
            return fault(400, "4001", "Invalid query", f"unknown entity {match['entity']}")
        with self.lock:
            rows = list(store.values())
        for condition in (match["where"] or "").split(" and ") if match["where"] else []:
            found = CONDITION.match(condition.strip())
            if found is None:
                return fault(400, "4000", "Error parsing query", f"QueryParserError: {condition[:100]}")
            value = found["value"].replace("\\'", "'")
            rows = [row for row in rows if _compare(_field(row, found["field"]), found["op"], value)]
        if match["order"]:
            rows.sort(key=lambda row: str(_field(row, match["order"]) or ""))
        start, most = int(match["start"]), min(int(match["max"]), MAX_RESULTS)
        chosen = rows[start - 1: start - 1 + most]
        response = {"startPosition": start, "maxResults": len(chosen)}
        if chosen:
            response[match["entity"].capitalize()] = chosen
        return _json({"QueryResponse": response})

    def _save_customer(self, body: dict) -> Response:
        with self.lock:
            name = (body.get("DisplayName") or "").strip()
            if any(c["DisplayName"].lower() == name.lower() for c in self.customers.values()):
                return fault(400, "6240", "Duplicate Name Exists Error",
                             f"The name supplied already exists. : {name}")
            customer = self._stamped({**body, "Id": self._id(), "SyncToken": "0", "Active": True})
            self.customers[customer["Id"]] = customer
            return _json({"Customer": customer})

    def _save_time_activity(self, body: dict, operation: str | None) -> Response:
        with self.lock:
            current = self.time_activities.get(str(body.get("Id"))) if body.get("Id") else None
            if body.get("Id") and current is None:
                return fault(400, "610", "Object Not Found", "Object Not Found")
            if current is not None and str(body.get("SyncToken")) != current["SyncToken"]:
                return fault(400, "5010", "Stale Object Error", "Stale Object Error")
            if operation == "delete":
                del self.time_activities[current["Id"]]
                return _json({"TimeActivity": {"Id": current["Id"], "status": "Deleted"}})
            people = self.employees if body.get("NameOf") == "Employee" else self.vendors
            person = (body.get(f"{body.get('NameOf')}Ref") or {}).get("value")
            if person not in people:
                return fault(400, "2500", "Invalid Reference Id", f"Invalid Reference Id : {body.get('NameOf')} "
                             f"{person} not found")
            if (body.get("CustomerRef") or {}).get("value") not in self.customers \
                    or (body.get("ItemRef") or {}).get("value") not in self.items:
                return fault(400, "2500", "Invalid Reference Id", "Invalid Reference Id : customer or item")
            if current is not None:
                row = {**current, **body}
                self._bump(row)
            else:
                row = self._stamped({**body, "Id": self._id(), "SyncToken": "0"})
            self.time_activities[row["Id"]] = row
            return _json({"TimeActivity": row})

    def _save_invoice(self, body: dict, operation: str | None) -> Response:
        with self.lock:
            if body.get("Id"):
                current = self.invoices.get(str(body["Id"]))
                if current is None:
                    return fault(400, "610", "Object Not Found", "Object Not Found")
                if str(body.get("SyncToken")) != current["SyncToken"]:
                    return fault(400, "5010", "Stale Object Error",
                                 "Stale Object Error : You and someone else are working on the same object.")
                if operation == "void":
                    current.update(TotalAmt=0.0, Balance=0.0, PrivateNote="Voided")
                    current["Line"] = [{**line, "Amount": 0.0} for line in current["Line"]]
                    current["_voided"] = True
                    self._bump(current)
                    return _json({"Invoice": _public(current)})
                merged = {**current, **{k: v for k, v in body.items() if k not in ("sparse",)}}
                problems = self._invoice_problems(merged, except_id=current["Id"])
                if problems:
                    return problems
                self._totals(merged)
                self._bump(merged)
                self.invoices[merged["Id"]] = merged
                return _json({"Invoice": _public(merged)})
            problems = self._invoice_problems(body)
            if problems:
                return problems
            invoice = self._stamped({**body, "Id": self._id(), "SyncToken": "0"})
            self._totals(invoice)
            invoice["Balance"] = invoice["TotalAmt"]
            self.invoices[invoice["Id"]] = invoice
            return _json({"Invoice": _public(invoice)})

    def _invoice_problems(self, invoice: dict, except_id: str | None = None) -> Response | None:
        if (invoice.get("CustomerRef") or {}).get("value") not in self.customers:
            return fault(400, "2500", "Invalid Reference Id", "Invalid Reference Id : Customer assigned to this "
                         "transaction has been deleted.")
        for line in invoice.get("Line") or []:
            item = ((line.get("SalesItemLineDetail") or {}).get("ItemRef") or {}).get("value")
            if item not in self.items:
                return fault(400, "2500", "Invalid Reference Id", f"Invalid Reference Id : Item {item} not found")
        if not invoice.get("Line"):
            return fault(400, "2020", "Required param missing, need to supply the required value for the API",
                         "Required parameter Line is missing in the request")
        if any(i.get("DocNumber") == invoice.get("DocNumber") and i["Id"] != except_id
               for i in self.invoices.values()):
            return fault(400, "6140", "Duplicate Document Number Error",
                         f"Duplicate Document Number Error : You must specify a different number. "
                         f"This number has already been used. DocNumber={invoice.get('DocNumber')}")
        if self.closed_before and invoice.get("TxnDate") and date.fromisoformat(invoice["TxnDate"]) < self.closed_before:
            return fault(400, "6210", "Account Period Closed",
                         f"Account Period Closed, Cannot Update Through Services API : The account period has "
                         f"closed and the books are locked before {self.closed_before.isoformat()}.")
        return None

    @staticmethod
    def _totals(invoice: dict) -> None:
        total = round(sum(float(line.get("Amount", 0)) for line in invoice.get("Line") or []), 2)
        paid = float(invoice.get("TotalAmt", total)) - float(invoice.get("Balance", invoice.get("TotalAmt", total)))
        invoice["TotalAmt"] = total
        invoice["Balance"] = round(total - paid, 2)

    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).isoformat(timespec="microseconds")

    def _stamped(self, row: dict) -> dict:
        now = self._now()
        row["MetaData"] = {"CreateTime": now, "LastUpdatedTime": now}
        return row

    def _bump(self, row: dict) -> None:
        row["SyncToken"] = str(int(row["SyncToken"]) + 1)
        previous = row["MetaData"]["LastUpdatedTime"]
        now = self._now()
        if now <= previous:
            now = (datetime.fromisoformat(previous) + timedelta(microseconds=1)).isoformat(timespec="microseconds")
        row["MetaData"] = {**row["MetaData"], "LastUpdatedTime": now}


def _field(row: dict, path: str):
    value = row
    for key in path.replace("Metadata", "MetaData").split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _compare(actual, op: str, expected: str) -> bool:
    if actual is None:
        return False
    actual = str(actual)
    return actual == expected if op == "=" else actual >= expected if op == ">=" else actual > expected


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}
