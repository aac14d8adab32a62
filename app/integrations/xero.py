"""Xero (OAuth 2.0, rotating refresh tokens): clients -> contacts, invoices -> invoices.

A Xero grant reaches organisations ("tenants") through connections: after the
exchange `GET /Connections` lists them, every Accounting API call names one in
the `xero-tenant-id` header, and disconnecting deletes the connection before
the refresh token is revoked.

Accounting (api.xro/2.0, xero.json): contacts carry TimeHub's client id in
`ContactNumber` (Xero's field for an outside system's id), so a contact TimeHub
created is found again by id, never by name. Every create carries Xero's
`Idempotency-Key` header, and a run that cannot know whether an earlier attempt
arrived looks the invoice up by `InvoiceNumbers` before creating it. Invoices
go as ACCREC, DRAFT or AUTHORISED as the admin chose. A deleted invoice becomes
DELETED (draft) or VOIDED (authorised); a paid one is never changed. Paid status
comes back by polling PAID invoices with `If-Modified-Since` and by Xero's
webhooks (`x-xero-signature`, HMAC-SHA256 of the body with the webhook key,
base64; the intent-to-receive check is a signed delivery without events, which
must be answered 200, and a badly signed one 401).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone

from app.integrations import oauth
from app.integrations.base import Connector
from app.integrations.capabilities import (
    CREATE_NEW,
    Accounting,
    Pulls,
    Pushes,
    ReceivesWebhooks,
    ReleasesUnchosenAccounts,
)
from app.integrations.exchange import (
    AccountingParty,
    AllowListOption,
    Pushed,
    PushRequest,
    content_version,
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
from app.integrations.http import ErrorShape, NotFoundError, PermanentError, ProviderError


def validation_message(body) -> str | None:
    """Xero's validation errors in plain words (a 400's Elements[].ValidationErrors[].Message),
    or the Detail / Message of its other error answers."""
    messages = [error["Message"] for element in body.get("Elements") or []
                for error in element.get("ValidationErrors") or [] if error.get("Message")]
    return "; ".join(dict.fromkeys(messages)) or body.get("Detail") or body.get("Message")

# Xero's budgets per organisation, as its answers report them (developer.xero.com, "OAuth 2.0
# API limits"): every answer carries what is left of the day and of the minute; a 429 names
# the limit it hit in X-Rate-Limit-Problem and says in Retry-After when to come back.
DAY_LIMIT = 5000
# Calls of the day TimeHub leaves unused: other apps of the organisation count against the
# same day, and the day's edge is Xero's clock, not ours.
DAY_RESERVE = 100
# With the day's rest kept back, background work pauses this long and then looks again: Xero's
# day is rolling, so the first calls of the pause's end tell whether it has freed up.
DAY_PAUSE_SECONDS = 3600.0


def budget_pause(headers, status: int) -> tuple[float, str] | None:
    """Stop before Xero's daily limit, and name the limit a 429 hit."""
    problem = (headers.get("X-Rate-Limit-Problem") or "").lower()
    if status == 429 and problem == "day":
        wait = _seconds(headers.get("Retry-After")) or DAY_PAUSE_SECONDS
        return wait, f"Xero's daily limit of {DAY_LIMIT:,} calls for this organisation is used up"
    if status == 429 and problem:
        return _seconds(headers.get("Retry-After")) or 1.0, f"Xero's {problem} limit was reached"
    left = _seconds(headers.get("X-DayLimit-Remaining"))
    if left is not None and left <= DAY_RESERVE:
        return DAY_PAUSE_SECONDS, (f"Xero's daily limit of {DAY_LIMIT:,} calls is nearly used up ({int(left)} left, "
                                   "kept back); exports and syncs stop until it frees up")
    if _seconds(headers.get("X-MinLimit-Remaining")) == 0:
        return 1.0, "Xero's limit of 60 calls a minute is used up"  # the minute rolls: look again soon
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


SPEC = ProviderSpec(
    slug="xero",
    name="Xero",
    scope="global",
    auth_kind="oauth2",
    authorize_url="https://login.xero.com/identity/connect/authorize",
    token_url="https://identity.xero.com/connect/token",
    revoke_url="https://identity.xero.com/connect/revocation",
    api_base="https://api.xero.com",
    # Apps created at Xero since 2 March 2026 only get the granular scopes (the broad
    # accounting.transactions is refused for them): contacts and invoices are written,
    # payments read (is an invoice paid?), organisation/currencies/tax rates/accounts read.
    scopes=("openid", "profile", "email", "offline_access",
            "accounting.contacts", "accounting.invoices", "accounting.payments.read", "accounting.settings.read"),
    console_url="https://developer.xero.com/app/manage",
    register_steps=(
        "Create a Web app in the Xero developer portal (My Apps > New app).",
        "Set the redirect URI to the one below.",
        "Generate a client secret and copy it with the client ID into this form.",
    ),
    setup_fields=OAUTH_APP_FIELDS + (
        SetupField("scope_set", "Scopes", required=False, default="granular", choices=("granular", "broad"),
                   help="'broad' only for apps created at Xero before 2 March 2026 that still use "
                        "accounting.transactions; newer apps get only the granular scopes."),
        SetupField("webhook_key", "Webhook key", secret=True, required=False,
                   help="From the app's Webhooks page at Xero (subscribe to Invoices); payments then "
                        "reach TimeHub at once instead of at the next sync."),
    ),
    # 60 per minute per tenant, 5 concurrent. 58: the limiter counts a call from when it
    # finished, Xero from when it arrived, so 58 never reaches 60 and leaves two for clock slack;
    # 55 (92 %) capped an export below the 90 % of the limit asked (docs/benchmarks.md).
    rate_limit=RateLimit(58, 60.0, 5),
    features={
        "accounting": "Clients become Xero contacts and invoices become Xero invoices.",
        "import": "Payments recorded in Xero mark the invoice paid here.",
        "webhooks": "Xero tells TimeHub about paid invoices as they happen.",
    },
    errors=ErrorShape(describe=validation_message, pause=budget_pause),
    # Xero: HTTP Basic at the token endpoint; rotating refresh tokens that lapse after 60 days unused.
    oauth=OAuthProfile(token_auth_method="client_secret_basic", refresh_token_idle_days=60),
)


# The broad scopes of apps created before 2 March 2026 (Xero refuses them to newer apps).
BROAD_SCOPES = ("openid", "profile", "email", "offline_access",
                "accounting.transactions", "accounting.contacts", "accounting.settings.read")

CONNECTIONS_PATH = "Connections"  # Xero's identity API, on the API base (xero-identity.json)
TENANT_HEADER = "xero-tenant-id"
# A stored access token older than this is refreshed before the connections are deleted.
REVOKE_TOKEN_MARGIN_SECONDS = 60


def tenant_headers(connection: dict) -> dict[str, str]:
    """The header every Accounting API call needs to name the connected organisation."""
    tenant_id = (connection or {}).get("tenant_id")
    if not tenant_id:
        raise PermanentError("No Xero organisation is chosen for this connection yet; finish connecting Xero first.")
    return {TENANT_HEADER: tenant_id}


def _tenant_option(connection: dict) -> oauth.AccountOption | None:
    # PRACTICE tenants (Xero HQ) have no Accounting API.
    if not connection.get("tenantId") or connection.get("tenantType", "ORGANISATION") != "ORGANISATION":
        return None
    name = connection.get("tenantName") or connection["tenantId"]
    settings = {"tenant_id": connection["tenantId"], "tenant_name": name, "connection_id": connection.get("id")}
    return oauth.AccountOption(key=connection["tenantId"], account=oauth.ConnectedAccount(label=name, settings=settings),
                               detail="Xero organisation")


ACCOUNTING = "api.xro/2.0"
PAGE_SIZE = 100                  # what TimeHub asks per page (Xero allows up to 1000)
SIGNATURE_HEADER = "x-xero-signature"
MARKER_PREFIX = "timehub-client-"   # ContactNumber of a contact TimeHub created
AUTHORISE_SETTING = "authorise_invoices"
SEND_DRAFTS_SETTING = "send_drafts"
LOCKED_STATUSES = ("PAID", "VOIDED", "DELETED")


def parse_xero_date(value: str | None) -> datetime | None:
    """Xero's JSON dates: "/Date(1573755038314+0000)/" (milliseconds since 1970, UTC)."""
    match = re.fullmatch(r"/Date\((-?\d+)([+-]\d{4})?\)/", value or "")
    if not match:
        return None
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc)


def invoice_version(invoice: dict) -> str:
    """What TimeHub sent, as the invoice holds it now, and whether it is paid, voided or
    deleted. Not UpdatedDateUTC: an accountant approving a draft is no edit of its content."""
    status = invoice.get("Status")
    lines = [(line.get("Description"), line.get("Quantity"), line.get("UnitAmount"), line.get("AccountCode"),
              line.get("TaxType")) for line in invoice.get("LineItems") or []]
    return content_version([invoice.get("InvoiceNumber"), invoice.get("Date"), invoice.get("DueDate"),
                            (invoice.get("Contact") or {}).get("ContactID"), invoice.get("Reference"), lines,
                            status if status in LOCKED_STATUSES else "open"])


class XeroConnector(Connector, Pulls, Pushes, ReceivesWebhooks, Accounting, ReleasesUnchosenAccounts):
    spec = SPEC
    streams = ("invoice",)
    push_kinds = frozenset({"client", "invoice"})
    setting_toggles = (
        SettingToggle(AUTHORISE_SETTING, "Send issued invoices as approved (AUTHORISED)", default=False,
                      help="Off: they arrive in Xero as drafts for the accountant to approve."),
        SettingToggle(SEND_DRAFTS_SETTING, "Send drafts too", default=False,
                      help="Drafts go to Xero as drafts and follow their edits; deleting one deletes it there."),
    )

    @classmethod
    def wants_push(cls, integration, kind: str, record, links) -> bool:
        """Clients when they change; invoices from the moment they are issued, or as drafts
        when the admin chose so (a linked invoice's later changes always go: the engine
        sends those, and a draft's edits update the remote copy)."""
        return kind == "client" or (kind == "invoice" and (
            record.status != "draft" or cls.toggle_of(integration, SEND_DRAFTS_SETTING)))

    # -- reading -------------------------------------------------------------------

    def _pages(self, resource: str, *, params: dict | None = None, headers: dict | None = None,
               start: int | None = None):
        return numbered_pages(self.client, f"{ACCOUNTING}/{resource}", page_size=PAGE_SIZE, start=start,
                              params_for=lambda page: {**(params or {}), "page": page, "pageSize": PAGE_SIZE},
                              records=resource, headers=headers)

    def customer_candidates(self) -> list[AccountingParty]:
        parties = []
        for page in self._pages("Contacts"):
            for contact in page:
                number = contact.get("ContactNumber") or ""
                parties.append(AccountingParty(
                    remote_id=contact["ContactID"], name=contact.get("Name") or "",
                    email=contact.get("EmailAddress") or "",
                    marker=number[len(MARKER_PREFIX):] if number.startswith(MARKER_PREFIX) else ""))
        return parties

    def booking_options(self) -> list[AllowListOption]:
        """Revenue accounts, each with the tax types sales may use: "code|tax type"."""
        accounts = self.client.get_json(f"{ACCOUNTING}/Accounts", params={"where": 'Class=="REVENUE"'})
        taxes = self.client.get_json(f"{ACCOUNTING}/TaxRates")
        sales_taxes = [t for t in taxes.get("TaxRates") or [] if t.get("CanApplyToRevenue", True)]
        return [AllowListOption(external_id=f"{account['Code']}|{tax['TaxType']}",
                                label=f"{account['Code']} {account.get('Name', '')}",
                                detail=tax.get("Name") or tax["TaxType"])
                for account in accounts.get("Accounts") or [] if account.get("Code") for tax in sales_taxes]

    # -- contacts --------------------------------------------------------------------

    @staticmethod
    def contact_body(client) -> dict:
        body = {"Name": client.name[:255], "ContactNumber": f"{MARKER_PREFIX}{client.id}"}
        if client.email:
            body["EmailAddress"] = client.email
        return body

    customer_noun = "contact"

    def create_customer(self, client) -> str:
        answer = self.client.request("PUT", f"{ACCOUNTING}/Contacts", json={"Contacts": [self.contact_body(client)]},
                                     idempotency_key=f"timehub-client-{client.id}").json()
        return answer["Contacts"][0]["ContactID"]

    # -- invoices --------------------------------------------------------------------

    def _line_items(self, invoice) -> list[dict]:
        projects = {entry.project.name: entry.project_id for entry in invoice.time_entries if entry.project}
        items = []
        for line in invoice.lines:
            booking = self.booking_for(projects.get(line.description))
            if not booking:
                raise PermanentError("Choose the Xero account invoice lines are booked to (the default on "
                                     "the Xero settings page); nothing was sent.")
            account, _, tax_type = booking.partition("|")
            item = {"Description": line.description, "Quantity": float(line.hours),
                    "UnitAmount": float(line.unit_price), "AccountCode": account}
            if tax_type:
                item["TaxType"] = tax_type
            items.append(item)
        return items

    def invoice_body(self, invoice, contact_id: str) -> dict:
        # Xero wants a due date on sales invoices; without one the invoice is due when issued.
        return {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": invoice.number,
                "Date": invoice.issue_date.isoformat(),
                "DueDate": (invoice.due_date or invoice.issue_date).isoformat(),
                "CurrencyCode": invoice.currency, "LineAmountTypes": "Exclusive",
                "Status": "AUTHORISED" if invoice.status != "draft" and self.toggle(AUTHORISE_SETTING) else "DRAFT",
                "Reference": invoice.notes[:255], "LineItems": self._line_items(invoice)}

    def invoice_preview(self, invoice, run: RunContext) -> dict:
        contact = self.remote_customer_id(invoice.client, run, create=False)
        return {"contact": {"ContactID": contact} if contact else self.contact_body(invoice.client),
                "invoice": self.invoice_body(invoice, contact or "(created on export)")}

    def _read_invoice(self, invoice_id: str) -> dict:
        return self.client.get_json(f"{ACCOUNTING}/Invoices/{invoice_id}")["Invoices"][0]

    def _update_invoice(self, invoice_id: str, body: dict, seen_version: str | None = None) -> Pushed:
        """Update unless Xero's copy is locked (paid, voided, deleted, with payments) or its
        content changed there since TimeHub last wrote or saw it (`seen_version`)."""
        current = self._read_invoice(invoice_id)
        if current.get("Status") in LOCKED_STATUSES or float(current.get("AmountPaid") or 0) > 0:
            raise PermanentError(f"The invoice is {current.get('Status', '').lower()} in Xero (or has payments); "
                                 "TimeHub does not change it there.")
        if seen_version is not None and invoice_version(current) != seen_version:
            raise PermanentError("Changed in Xero since TimeHub sent it; TimeHub does not overwrite the "
                                 "accountant's edit.")
        answer = self.client.request("POST", f"{ACCOUNTING}/Invoices/{invoice_id}", json={"Invoices": [body]}).json()
        return Pushed(invoice_id, invoice_version(answer["Invoices"][0]))

    def push(self, request: PushRequest, run: RunContext) -> str | Pushed:
        if request.kind == "client":
            return request.external_id or self.remote_customer_id(request.record, run)
        invoice = request.record
        if request.external_id:
            if invoice.status == "paid":
                return request.external_id  # paid here: nothing to change there
            return self._update_invoice(request.external_id, self.invoice_body(
                invoice, self.remote_customer_id(invoice.client, run)), request.remote_version)
        body = self.invoice_body(invoice, self.remote_customer_id(invoice.client, run))
        if request.earlier_attempts:
            found = self.client.get_json(f"{ACCOUNTING}/Invoices", params={"InvoiceNumbers": invoice.number})
            if found.get("Invoices"):  # an earlier attempt arrived although its answer was lost
                return self._update_invoice(found["Invoices"][0]["InvoiceID"], body)
        [created] = self.client.request("PUT", f"{ACCOUNTING}/Invoices", json={"Invoices": [body]},
                                        idempotency_key=request.idempotency_key).json()["Invoices"]
        return Pushed(created["InvoiceID"], invoice_version(created))

    def delete_remote(self, kind: str, external_id: str, run: RunContext) -> None:
        """An invoice: DELETED while a draft there, VOIDED once approved; a contact stays."""
        if kind != "invoice":
            return
        current = self._read_invoice(external_id)
        status = current.get("Status")
        if status in ("DELETED", "VOIDED"):
            return
        if status == "PAID" or float(current.get("AmountPaid") or 0) > 0:
            raise PermanentError("The invoice has payments in Xero; it was not voided there.")
        target = "DELETED" if status in ("DRAFT", "SUBMITTED") else "VOIDED"
        self.client.request("POST", f"{ACCOUNTING}/Invoices/{external_id}",
                            json={"Invoices": [{"InvoiceID": external_id, "Status": target}]})

    # -- paid status back --------------------------------------------------------------

    @staticmethod
    def _status_record(invoice: dict) -> RemoteRecord:
        """Paid or not, and what TimeHub sent as it stands now (an accountant may have edited
        it): the engine compares it with the invoice when its version is not TimeHub's write."""
        status = invoice.get("Status")
        issued = parse_xero_date(invoice.get("Date"))
        return RemoteRecord(kind="invoice", external_id=invoice["InvoiceID"], version=invoice_version(invoice),
                            fields={"paid": status == "PAID", "provider": SPEC.name,
                                    "removed": status.lower() if status in ("VOIDED", "DELETED") else "",
                                    "number": invoice.get("InvoiceNumber"),
                                    "issue_date": issued.date().isoformat() if issued else invoice.get("Date"),
                                    "subtotal": invoice.get("SubTotal")})

    def pull(self, stream: str, cursor: str | None, run: RunContext) -> Iterator[SyncPage]:
        """Invoices changed since the cursor (If-Modified-Since, the newest update seen): paid
        ones mark the invoice paid, edited or voided ones are reported on it."""
        headers = {"If-Modified-Since": cursor} if cursor else None
        newest = cursor
        for page in self._pages("Invoices", headers=headers):
            for invoice in page:
                updated = parse_xero_date(invoice.get("UpdatedDateUTC"))
                if updated and (newest is None or updated.isoformat() > newest):
                    newest = updated.isoformat()
            yield SyncPage([self._status_record(invoice) for invoice in page], newest)

    @classmethod
    def verify_webhook(cls, integration, secrets: Mapping[str, str], headers, body: bytes,
                       url: str) -> WebhookEvent:
        key = secrets.get("webhook_key")
        if not key:
            raise WebhookRejected(401, "no webhook key is set up for Xero")
        expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER) or ""):
            raise WebhookRejected(401, "signature does not match")
        # Each delivery carries fresh entropy; its digest names it, so a replay is a duplicate.
        return WebhookEvent(delivery_id=hashlib.sha256(body).hexdigest(), event="invoice", accepted_status=200)

    def webhook_records(self, event: str | None, payload: dict) -> list[RemoteRecord]:
        """The organisation's changed invoices, each read now (events name only the id)."""
        tenant = self.connection.get("tenant_id")
        ids = [e["resourceId"] for e in payload.get("events") or []
               if e.get("eventCategory") == "INVOICE" and e.get("tenantId") == tenant and e.get("resourceId")]
        records = []
        for invoice_id in dict.fromkeys(ids):
            try:
                records.append(self._status_record(self._read_invoice(invoice_id)))
            except NotFoundError:
                continue
        return records

    @classmethod
    def api_headers(cls, connection: dict) -> dict[str, str]:
        return tenant_headers(connection)

    @classmethod
    def oauth_authorize_params(cls, app_settings: dict) -> dict:
        """An older app may keep the broad scopes (the admin's `scope_set`); the granular ones otherwise."""
        if (app_settings or {}).get("scope_set") == "broad":
            return {"scope": " ".join(BROAD_SCOPES)}
        return {}

    @classmethod
    def oauth_connected_account(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet,
                                callback_params: dict) -> oauth.ConnectedAccount:
        """One organisation: connect to it. Several: the admin picks one. None: refuse."""
        return oauth.account_from_list(
            provider, token, CONNECTIONS_PATH, _tenant_option, noun="organisation",
            none_message="No Xero organisation was connected: connect again and tick an organisation on "
                         "Xero's consent screen.")

    def release_unchosen(self, unchosen: list[dict]) -> None:
        """Organisations ticked on Xero's consent screen but not picked here stop listing TimeHub."""
        for settings in unchosen:
            if settings.get("connection_id"):
                try:
                    self.client.request("DELETE", f"{CONNECTIONS_PATH}/{settings['connection_id']}")
                except NotFoundError:
                    pass  # removed at Xero meanwhile

    @classmethod
    def oauth_revoke(cls, provider: oauth.OAuthProvider, token: oauth.TokenSet) -> bool:
        """Delete the grant's connections (the organisations stop listing TimeHub), then
        revoke the refresh token. The hook does not see the integration's settings, so
        it removes every connection this grant can see: all of them are TimeHub's."""
        try:
            if token.refresh_token and token.expires_within(REVOKE_TOKEN_MARGIN_SECONDS):
                # Credentials are deleted right after: the rotated token is revoked below, not kept.
                token = oauth.refresh(provider, token.refresh_token)
        except oauth.InvalidGrant:
            return True  # the grant is already dead, and its connections with it
        except oauth.TokenEndpointError as exc:
            raise oauth.RevocationFailed(f"{exc.message}; Xero still lists the connection") from None
        problem = None
        try:
            with provider.api_client(token) as client:
                for connection in client.get_json(CONNECTIONS_PATH):
                    try:
                        client.request("DELETE", f"{CONNECTIONS_PATH}/{connection['id']}")
                    except NotFoundError:
                        pass  # removed at Xero meanwhile
        except ProviderError as exc:
            problem = f"Xero did not remove the connection ({exc.message})"
        revoked = oauth.revoke_rfc7009(provider, token)  # always: it ends access even if the DELETE failed
        if problem:
            raise oauth.RevocationFailed(f"{problem}; the refresh token was revoked")
        return revoked
