"""QuickBooks Online (Intuit OAuth 2.0, rotating refresh tokens): accounting.

Intuit names the company a grant reaches in the callback itself (`realmId`
next to `code`); every API call goes to `{api base}/v3/company/{realmId}/...`
on the sandbox or production host, as the admin's `environment` setting says,
and carries `minorversion=75` (Intuit ended support for 1-74 in August 2025).

Clients become customers and invoices invoices (JSON bodies as in Intuit's
API reference, which mirror the v3 XML schemas: Customer, Invoice, Line with
SalesItemLineDetail). Every create carries Intuit's `requestid` query
parameter, so a retried create whose first answer was lost returns the first
invoice instead of making a second; a later run that cannot know whether an
earlier attempt arrived looks the invoice up by its number (DocNumber) first.
Updates send the `SyncToken` read just before (a stale one is re-read once).
Paid status comes back by polling invoices changed since the cursor and by
Intuit's webhooks (`intuit-signature`, HMAC-SHA256 of the body with the app's
verifier token, base64).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator, Mapping

import httpx2

from app import tuning
from app.integrations import oauth
from app.integrations.base import Connector
from app.integrations.capabilities import Accounting, CREATE_NEW, MappingTables, Pulls, Pushes, ReceivesWebhooks
from app.integrations.exchange import (
    AccountingParty,
    AllowListOption,
    MappingRow,
    MappingTable,
    Pushed,
    PushRequest,
    content_version,
    PushSkipped,
    RemoteRecord,
    RunContext,
    SettingToggle,
    SyncPage,
    WebhookEvent,
    WebhookRejected,
)
from app.integrations.pagination import numbered_pages
from app.integrations.ratelimit import RateLimit
from app.integrations.spec import OAUTH_APP_FIELDS, OAuthProfile, ProviderSpec, SetupField
from app.integrations.http import ErrorShape, NotFoundError, PermanentError


def fault_message(body) -> str | None:
    """Intuit's Fault in plain words: each error's Detail (or Message), with its code."""
    errors = body["Fault"]["Error"]
    return "; ".join(f"{e.get('Detail') or e.get('Message')} (QuickBooks error {e.get('code', '?')})"
                     for e in errors) or None

SPEC = ProviderSpec(
    slug="quickbooks",
    name="QuickBooks Online",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://appcenter.intuit.com/connect/oauth2",
    token_url="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    revoke_url="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
    api_base="https://{environment}.api.intuit.com",
    scopes=("com.intuit.quickbooks.accounting",),
    console_url="https://developer.intuit.com/app/developer/dashboard",
    register_steps=(
        "Create an app on the Intuit developer portal with the Accounting scope.",
        "Under Keys & credentials add the redirect URI below (separately for development and production keys).",
        "Copy the client ID and client secret of the environment you use.",
    ),
    setup_fields=(
        SetupField("environment", "Environment", required=False, default="quickbooks",
                   choices=("quickbooks", "sandbox-quickbooks"),
                   help="'sandbox-quickbooks' for development keys, 'quickbooks' for production."),
    ) + OAUTH_APP_FIELDS + (
        SetupField("webhook_verifier_token", "Webhook verifier token", secret=True, required=False,
                   help="From the app's Webhooks page at Intuit; payments recorded in QuickBooks then "
                        "reach TimeHub at once instead of at the next sync."),
    ),
    # 500 per minute per realm, 10 concurrent; 485 (97 %): 450 capped an export at 90 % of the
    # limit before any retry or look-up took its share (docs/benchmarks.md).
    rate_limit=RateLimit(485, 60.0, 10),
    features={
        "accounting": "Clients become customers and invoices become invoices.",
        "push": "Billable time can become QuickBooks time activities.",
        "import": "Payments recorded in QuickBooks mark the invoice paid here.",
        "webhooks": "QuickBooks tells TimeHub about payments as they happen.",
    },
    errors=ErrorShape(describe=fault_message),
    # Intuit authenticates the token endpoint with HTTP Basic; refresh tokens rotate and lapse
    # after 100 days unused.
    oauth=OAuthProfile(token_auth_method="client_secret_basic", refresh_token_idle_days=100),
)


DEFAULT_ENVIRONMENT = "quickbooks"


def company_api_base(integration_settings: dict, api_base: str | None = None) -> str:
    """Where QuickBooks API calls for the connected company go."""
    settings = integration_settings or {}
    realm_id = settings.get("realm_id")
    if not realm_id:
        raise PermanentError("No QuickBooks company is connected yet; connect QuickBooks first.")
    base = api_base or SPEC.endpoints(settings).api_base
    return f"{base.rstrip('/')}/v3/company/{realm_id}"


def _company_name(provider: oauth.OAuthProvider, token: oauth.TokenSet, realm_id: str) -> str | None:
    with provider.api_client(token) as client:
        info = client.get_json(f"v3/company/{realm_id}/companyinfo/{realm_id}", params=_params())
    company = info.get("CompanyInfo") if isinstance(info, dict) else None
    if not isinstance(company, dict):
        return None
    return company.get("CompanyName") or company.get("LegalName")


MINOR_VERSION = "75"
QUERY_PAGE_SIZE = 1000      # Intuit's MAXRESULTS ceiling
STALE_OBJECT = "5010"       # Fault code of an update with an outdated SyncToken
SIGNATURE_HEADER = "intuit-signature"
SEND_DRAFTS_SETTING = "send_drafts"
TIME_ACTIVITY_SETTING = "export_time"
NOT_BILLABLE = "Only finished billable time on a client's project goes to QuickBooks."
# Who a TimeHub user is in QuickBooks for time activities, chosen on the settings page's
# mapping table: {"Employee:<id>" or "Vendor:<id>": TimeHub user id}.
PEOPLE_SETTING = "people"
MARKER_PREFIX = "TimeHub client "   # in a created customer's Notes: ours, matched by id


def invoice_version(invoice: dict) -> str:
    """What TimeHub sent, as the invoice holds it now, and whether it is paid or voided: the
    SyncToken also moves when nobody changed any of it (the invoice was e-mailed, printed)."""
    lines = [(line.get("Description"), round(float(line.get("Amount", 0)), 2),
              (line["SalesItemLineDetail"].get("ItemRef") or {}).get("value"),
              line["SalesItemLineDetail"].get("Qty"), line["SalesItemLineDetail"].get("UnitPrice"))
             for line in invoice.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]
    total = float(invoice.get("TotalAmt", 0))
    return content_version([invoice.get("DocNumber"), invoice.get("TxnDate"), invoice.get("DueDate"),
                            (invoice.get("CustomerRef") or {}).get("value"), lines,
                            total > 0 and float(invoice.get("Balance", 1)) == 0,
                            (invoice.get("PrivateNote") or "").startswith("Voided")])


def _params(**extra) -> dict:
    return {"minorversion": MINOR_VERSION, **extra}


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class QuickBooksConnector(Connector, Pulls, Pushes, ReceivesWebhooks, Accounting, MappingTables):
    spec = SPEC
    streams = ("invoice",)
    push_kinds = frozenset({"client", "invoice", "time_entry"})
    setting_toggles = (
        SettingToggle(SEND_DRAFTS_SETTING, "Send drafts too", default=False,
                      help="Drafts go to QuickBooks and follow their edits; deleting one voids it there."),
        SettingToggle(TIME_ACTIVITY_SETTING, "Send billable time as time activities", default=False,
                      help="Finished billable entries on a client's project become TimeActivity records "
                           "of the QuickBooks employee or vendor chosen for their user."),
    )

    @classmethod
    def wants_push(cls, integration, kind: str, record, links) -> bool:
        """Clients when they change; invoices from the moment they are issued, or as drafts
        when the admin chose so (a linked invoice's later changes always go: the engine
        sends those, and a draft's edits update the remote copy)."""
        if kind == "time_entry":
            return cls._billable_time(integration, record)
        return kind == "client" or (kind == "invoice" and (
            record.status != "draft" or cls.toggle_of(integration, SEND_DRAFTS_SETTING)))

    @classmethod
    def _billable_time(cls, integration, entry) -> bool:
        return (cls.toggle_of(integration, TIME_ACTIVITY_SETTING) and entry.ended_at is not None
                and entry.billable and entry.project is not None and entry.project.client_id is not None)

    # -- reading -------------------------------------------------------------------

    def _query(self, statement: str, entity: str, start: int | None = None):
        return numbered_pages(
            self.client, "query", page_size=QUERY_PAGE_SIZE, by_records=True, start=start,
            params_for=lambda position: _params(
                query=f"{statement} STARTPOSITION {position} MAXRESULTS {QUERY_PAGE_SIZE}"),
            records=("QueryResponse", entity))

    def customer_candidates(self) -> list[AccountingParty]:
        parties = []
        for page in self._query("select * from Customer", "Customer"):
            for customer in page:
                notes = customer.get("Notes") or ""
                parties.append(AccountingParty(
                    remote_id=str(customer["Id"]), name=customer.get("DisplayName") or "",
                    email=(customer.get("PrimaryEmailAddr") or {}).get("Address") or "",
                    marker=notes[len(MARKER_PREFIX):].strip() if notes.startswith(MARKER_PREFIX) else ""))
        return parties

    def booking_options(self) -> list[AllowListOption]:
        return [AllowListOption(external_id=str(item["Id"]), label=item.get("Name") or item["Id"],
                                detail=item.get("Type") or "")
                for page in self._query("select * from Item where Type = 'Service'", "Item") for item in page]

    def _read(self, entity: str, remote_id: str) -> dict:
        return self.client.get_json(f"{entity.lower()}/{remote_id}", params=_params())[entity]

    # -- customers -------------------------------------------------------------------

    @staticmethod
    def customer_body(client) -> dict:
        body = {"DisplayName": client.name[:500], "Notes": f"{MARKER_PREFIX}{client.id}"}
        if client.email:
            body["PrimaryEmailAddr"] = {"Address": client.email}
        return body

    def create_customer(self, client) -> str:
        key = f"timehub-client-{client.id}"
        answer = self.client.request("POST", "customer", params=_params(requestid=key),
                                     json=self.customer_body(client), idempotency_key=key).json()["Customer"]
        return str(answer["Id"])

    # -- invoices --------------------------------------------------------------------

    def _lines(self, invoice) -> list[dict]:
        projects = {entry.project.name: entry.project_id for entry in invoice.time_entries if entry.project}
        lines = []
        for line in invoice.lines:
            item = self.booking_for(projects.get(line.description))
            if not item:
                raise PermanentError("Choose the QuickBooks item invoice lines are booked to (the default "
                                     "on the QuickBooks settings page); nothing was sent.")
            lines.append({"DetailType": "SalesItemLineDetail", "Amount": float(line.amount),
                          "Description": line.description,
                          "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": float(line.hours),
                                                  "UnitPrice": float(line.unit_price)}})
        return lines

    def _invoice_body(self, invoice, customer_id: str) -> dict:
        body = {"DocNumber": invoice.number, "TxnDate": invoice.issue_date.isoformat(),
                "CustomerRef": {"value": customer_id}, "CurrencyRef": {"value": invoice.currency},
                "Line": self._lines(invoice)}
        if invoice.due_date:
            body["DueDate"] = invoice.due_date.isoformat()
        if invoice.notes:
            body["CustomerMemo"] = {"value": invoice.notes[:1000]}
        return body

    def invoice_preview(self, invoice, run: RunContext) -> dict:
        customer = self.remote_customer_id(invoice.client, run, create=False)
        return {"customer": {"Id": customer} if customer else self.customer_body(invoice.client),
                "invoice": self._invoice_body(invoice, customer or "(created on export)")}

    def _by_number(self, number: str) -> dict | None:
        for page in self._query(f"select * from Invoice where DocNumber = '{_quoted(number)}'", "Invoice"):
            if page:
                return page[0]
        return None

    def _update_invoice(self, remote_id: str, body: dict, seen_version: str | None = None) -> Pushed:
        """A full update with the SyncToken read now; a stale token (someone saved meanwhile)
        is re-read and tried once more. An invoice whose content is no longer what TimeHub last
        wrote or saw (`seen_version`) was changed in QuickBooks: it is not overwritten."""
        for attempt in (1, 2):
            current = self._read("Invoice", remote_id)
            if current.get("Balance") is not None and float(current.get("Balance", 0)) == 0 \
                    and float(current.get("TotalAmt", 0)) > 0:
                raise PermanentError("The invoice is paid in QuickBooks; TimeHub does not change it there.")
            if seen_version is not None and invoice_version(current) != seen_version:
                raise PermanentError("Changed in QuickBooks since TimeHub sent it; TimeHub does not overwrite "
                                     "the accountant's edit.")
            try:
                answer = self.client.request("POST", "invoice", params=_params(), json={
                    **body, "Id": remote_id, "SyncToken": current["SyncToken"], "sparse": True}).json()
                return Pushed(remote_id, invoice_version(answer["Invoice"]))
            except PermanentError as exc:
                if attempt == 2 or STALE_OBJECT not in exc.message:
                    raise
        raise AssertionError("unreachable")

    # -- time activities ---------------------------------------------------------------

    def people_options(self) -> list[AllowListOption]:
        """Employees and vendors a user can be, as "Employee:<id>" / "Vendor:<id>" (every page)."""
        return [AllowListOption(external_id=f"{entity}:{person['Id']}", label=person.get("DisplayName") or person["Id"],
                                detail=((person.get("PrimaryEmailAddr") or {}).get("Address") or entity))
                for entity in ("Employee", "Vendor")
                for page in self._query(f"select * from {entity}", entity) for person in page]

    def mapping_tables(self) -> list[MappingTable]:
        """Employees and vendors (every page), each given to at most one TimeHub user by the admin."""
        rows = tuple(MappingRow(option.external_id, f"{option.label} ({option.detail})",
                                "nobody: no time activities") for option in self.people_options())
        return [MappingTable(PEOPLE_SETTING, "Time activities: who is who in QuickBooks",
                             "Billable time of the TimeHub user chosen here goes to QuickBooks as this "
                             "employee's or vendor's time activities. Nobody is matched by name or e-mail.",
                             "user", rows)]

    def person_for(self, user) -> str:
        """The "Employee:<id>" / "Vendor:<id>" the admin chose for `user`; exactly one."""
        chosen = [person for person, user_id in (self.preferences.get(PEOPLE_SETTING) or {}).items()
                  if str(user_id) == str(user.id) and ":" in person]
        if len(chosen) != 1:
            problem = "which" if not chosen else "only one"
            raise PermanentError(f"Choose {problem} QuickBooks employee or vendor {user.email} is (QuickBooks "
                                 "settings, time activities); their time was not sent.")
        return chosen[0]

    def time_activity_body(self, entry, run: RunContext, customer_id: str | None = None) -> dict:
        """`customer_id`: the client's customer as a preview names it (it is not created then)."""
        person = self.person_for(entry.user)
        entity, _, person_id = person.partition(":")
        item = self.booking_for(entry.project_id)
        if not item:
            raise PermanentError("Choose the QuickBooks item time is booked to; nothing was sent.")
        minutes = int((entry.ended_at - entry.started_at).total_seconds() // 60)
        body = {"NameOf": entity, f"{entity}Ref": {"value": person_id},
                "CustomerRef": {"value": customer_id or self.remote_customer_id(entry.project.client, run)},
                "ItemRef": {"value": item}, "BillableStatus": "Billable",
                "HourlyRate": float(entry.project.hourly_rate), "Hours": minutes // 60, "Minutes": minutes % 60,
                "TxnDate": entry.started_at.date().isoformat()}
        if entry.description:
            body["Description"] = entry.description[:4000]
        return body

    def time_preview(self, client, entries: list, run: RunContext) -> dict:
        customer = self.remote_customer_id(client, run, create=False)
        activities = []
        for entry in entries:
            try:
                if not self._billable_time(self.integration, entry):
                    raise PushSkipped(NOT_BILLABLE)
                activities.append(self.time_activity_body(entry, run, customer or "(created on export)"))
            except PushSkipped as exc:  # what the push would answer for this entry
                activities.append({"entry": entry.id, "not sent": exc.reason})
            except PermanentError as exc:
                activities.append({"entry": entry.id, "not sent": exc.message})
        return {"customer": {"Id": customer} if customer else self.customer_body(client),
                "time_activities": activities}

    def _push_time(self, request: PushRequest, run: RunContext) -> str:
        entry = request.record
        if not self._billable_time(self.integration, entry):
            if request.external_id:
                self.delete_remote("time_entry", request.external_id, run)
            raise PushSkipped(NOT_BILLABLE)
        body = self.time_activity_body(entry, run)
        if request.external_id:
            current = self._read("TimeActivity", request.external_id)
            self.client.request("POST", "timeactivity", params=_params(), json={
                **body, "Id": request.external_id, "SyncToken": current["SyncToken"]})
            return request.external_id
        answer = self.client.request("POST", "timeactivity", params=_params(requestid=request.idempotency_key),
                                     json=body, idempotency_key=request.idempotency_key).json()
        return str(answer["TimeActivity"]["Id"])

    def push(self, request: PushRequest, run: RunContext) -> str | Pushed:
        if request.kind == "time_entry":
            return self._push_time(request, run)
        if request.kind == "client":
            return request.external_id or self.remote_customer_id(request.record, run)
        invoice = request.record
        if request.external_id:
            if invoice.status == "paid":
                return request.external_id  # paid here: nothing to change there
            return self._update_invoice(request.external_id, self._invoice_body(
                invoice, self.remote_customer_id(invoice.client, run)), request.remote_version)
        body = self._invoice_body(invoice, self.remote_customer_id(invoice.client, run))
        if request.earlier_attempts:
            found = self._by_number(invoice.number)  # an earlier attempt may have arrived unanswered
            if found is not None:
                return self._update_invoice(str(found["Id"]), body)
        answer = self.client.request("POST", "invoice", params=_params(requestid=request.idempotency_key),
                                     json=body, idempotency_key=request.idempotency_key).json()["Invoice"]
        return Pushed(str(answer["Id"]), invoice_version(answer))

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        """A deleted invoice is voided (QuickBooks keeps the number, amounts become 0), a time
        activity deleted; a client's customer stays: it may have other invoices there."""
        if kind == "time_entry":
            try:
                current = self._read("TimeActivity", external_id)
            except NotFoundError:
                return
            self.client.request("POST", "timeactivity", params=_params(operation="delete"),
                                json={"Id": external_id, "SyncToken": current["SyncToken"]})
            return
        if kind != "invoice":
            return
        try:
            current = self._read("Invoice", external_id)
        except NotFoundError:
            return
        self.client.request("POST", "invoice", params=_params(operation="void"),
                            json={"Id": external_id, "SyncToken": current["SyncToken"]})

    # -- paid status back --------------------------------------------------------------

    @staticmethod
    def _status_record(invoice: dict) -> RemoteRecord:
        """Paid or not, and what TimeHub sent as it stands now (an accountant may have edited
        it): the engine compares it with the invoice when its version is not TimeHub's write."""
        total = float(invoice.get("TotalAmt", 0))
        voided = total == 0 and (invoice.get("PrivateNote") or "").startswith("Voided")
        subtotal = sum(float(line.get("Amount", 0)) for line in invoice.get("Line") or []
                       if line.get("DetailType") == "SalesItemLineDetail")
        return RemoteRecord(kind="invoice", external_id=str(invoice["Id"]), version=invoice_version(invoice),
                            fields={"paid": total > 0 and float(invoice.get("Balance", 1)) == 0,
                                    "provider": SPEC.name, "removed": "voided" if voided else "",
                                    "number": invoice.get("DocNumber"), "issue_date": invoice.get("TxnDate"),
                                    "subtotal": None if voided else round(subtotal, 2)})

    def pull(self, stream: str, cursor: str | None, run: RunContext) -> Iterator[SyncPage]:
        """Invoices changed since the cursor (their last update time), oldest first."""
        where = f" where Metadata.LastUpdatedTime >= '{_quoted(cursor)}'" if cursor else ""
        newest = cursor
        for page in self._query(f"select * from Invoice{where} orderby Metadata.LastUpdatedTime", "Invoice"):
            for invoice in page:
                updated = (invoice.get("MetaData") or {}).get("LastUpdatedTime")
                if updated and (newest is None or updated > newest):
                    newest = updated
            yield SyncPage([self._status_record(invoice) for invoice in page], newest)

    @classmethod
    def verify_webhook(cls, integration, secrets: Mapping[str, str], headers, body: bytes,
                       url: str) -> WebhookEvent:
        token = secrets.get("webhook_verifier_token")
        if not token:
            raise WebhookRejected(401, "no webhook verifier token is set up for QuickBooks")
        expected = base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER) or ""):
            raise WebhookRejected(401, "signature does not match")
        # Intuit names no delivery id: the body's digest is one (a replay is the same body).
        return WebhookEvent(delivery_id=hashlib.sha256(body).hexdigest(), event="dataChange")

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        """Invoices and payments of this company that changed: each invoice concerned, read now."""
        realm = str(self.connection.get("realm_id"))
        invoice_ids: list[str] = []
        for notification in payload.get("eventNotifications") or []:
            if str(notification.get("realmId")) != realm:
                continue
            for entity in (notification.get("dataChangeEvent") or {}).get("entities") or []:
                if entity.get("name") == "Invoice":
                    invoice_ids.append(str(entity["id"]))
                elif entity.get("name") == "Payment" and entity.get("operation") != "Delete":
                    try:
                        payment = self._read("Payment", str(entity["id"]))
                    except NotFoundError:
                        continue
                    invoice_ids += [str(linked["TxnId"]) for line in payment.get("Line") or []
                                    for linked in line.get("LinkedTxn") or [] if linked.get("TxnType") == "Invoice"]
        records = []
        for invoice_id in dict.fromkeys(invoice_ids):
            try:
                records.append(self._status_record(self._read("Invoice", invoice_id)))
            except NotFoundError:
                continue
        return records

    @classmethod
    def api_base_for(cls, api_base: str, connection: dict) -> str:
        return company_api_base(connection, api_base)

    @classmethod
    def oauth_connected_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                                callback_params: dict) -> oauth.ConnectedAccount:
        """The company is the callback's `realmId`; its name labels the connection."""
        realm_id = (callback_params.get("realmId") or "").strip()
        if not realm_id:
            raise oauth.OAuthFlowError(
                "QuickBooks did not say which company was connected (its answer had no realmId). "
                "Connect again and pick a company on Intuit's consent screen.")
        if not realm_id.isdigit():  # Intuit's company ids are numbers; it also goes into URL paths
            raise oauth.OAuthFlowError("QuickBooks sent a company id TimeHub does not understand.")
        name = _company_name(provider, token, realm_id) or f"Company {realm_id}"
        environment = provider.app_settings.get("environment") or DEFAULT_ENVIRONMENT
        # `environment` travels with the integration so its API calls reach the same host.
        return oauth.ConnectedAccount(label=name, settings={"realm_id": realm_id, "company_name": name,
                                                            "environment": environment})

    @classmethod
    def oauth_revoke(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet) -> bool:
        """Intuit's revocation is not RFC 7009: a JSON body `{"token": ...}` with the app's
        credentials in HTTP Basic. Revoking the refresh token ends the whole grant."""
        url = provider.endpoints.revoke_url
        if not url:
            return False
        try:
            with httpx2.Client(timeout=tuning.TOKEN_ENDPOINT_TIMEOUT, transport=provider.transport) as http:
                response = http.post(url, json={"token": token.refresh_token or token.access_token},
                                     auth=(provider.client_id, provider.client_secret),
                                     headers={"Accept": "application/json", "User-Agent": "TimeHub"})
        except httpx2.TimeoutException:
            raise oauth.RevocationFailed("QuickBooks did not answer the revocation request in time") from None
        except httpx2.TransportError as exc:
            raise oauth.RevocationFailed(f"could not reach QuickBooks to revoke access ({type(exc).__name__})") from None
        if not response.is_success:
            raise oauth.RevocationFailed(f"QuickBooks answered {response.status_code} to the revocation request")
        return True
