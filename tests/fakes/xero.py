"""A fake Xero for its OAuth 2.0 flow and identity API, over loopback.

The authorization server (login.xero.com / identity.xero.com) is the strict
FakeOAuthProvider with Xero's HTTP Basic client authentication and its
RFC 7009 revocation endpoint; the identity API (api.xero.com) answers, as in
xero-identity.json, `GET /Connections` (the grant's tenants) and
`DELETE /Connections/{id}` (204, or 404 for an unknown id), both only for a
valid bearer token. `refuse_deletes` makes the DELETE answer 403.

The Accounting API (`/api.xro/2.0/...`, checked against xero.json) is
`tests.fakes.xero_accounting.XeroAccounting`: contacts, invoices, accounts,
tax rates, idempotency keys, validation errors, rate limits, lost answers.

    with FakeXero(redirect_uris=(...,)) as xero:
        xero.connections = [connection("Demo Company (NZ)")]
"""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

from tests.fakes.atlassian import bearer_is_valid
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi
from tests.contract import Description
from tests.fakes.server import FakeServer
from tests.fakes.xero_accounting import ACCOUNTING_PREFIX, XeroAccounting

# The identity API's requests (`/Connections`) are checked against xero-identity.json,
# the Accounting API's (`/api.xro/2.0/...`) against xero.json.
XERO_IDENTITY = Description("xero-identity")
XERO_ACCOUNTING = Description("xero")


class _XeroDescriptions:
    """Each request checked against the description of the API it went to."""

    def violations(self, recorded) -> list[str]:
        described = XERO_ACCOUNTING if recorded.path.startswith(ACCOUNTING_PREFIX) else XERO_IDENTITY
        return described.violations(recorded)


def connection(tenant_name: str, *, tenant_type: str = "ORGANISATION") -> dict:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0")
    return {"id": str(uuid.uuid4()), "authEventId": str(uuid.uuid4()), "tenantId": str(uuid.uuid4()),
            "tenantType": tenant_type, "tenantName": tenant_name, "createdDateUtc": now, "updatedDateUtc": now}


class FakeXero(FakeProviderWithApi):
    slug = "xero"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "xero-client",
                 client_secret: str = "xero-secret"):
        self.oauth = FakeOAuthProvider(client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris,
                                       client_auth_methods=("client_secret_basic",),
                                       access_token_lifetime=1800)  # Xero's are good for 30 minutes
        self.connections: list[dict] = [connection("Demo Company (NZ)")]
        self.refuse_deletes = False
        self.accounting = XeroAccounting(self)
        self.api = FakeServer(self._app, description=_XeroDescriptions())

    @property
    def tenant_id(self) -> str:
        return self.connections[0]["tenantId"]

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith(ACCOUNTING_PREFIX + "/"):
            return self.accounting(environ, start_response)
        parts = request.path.strip("/").split("/")
        if parts[0] != "Connections" or len(parts) > 2:
            response = _json({"Title": "Not Found"}, 404)
        elif not bearer_is_valid(self.oauth, request.headers.get("Authorization")):
            response = _json({"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"}, 401)
        elif len(parts) == 1 and request.method == "GET":
            response = _json(self.connections, 200)
        elif len(parts) == 2 and request.method == "DELETE" and self.refuse_deletes:
            response = _json({"Title": "Forbidden", "Status": 403, "Detail": "AuthorizationUnsuccessful"}, 403)
        elif len(parts) == 2 and request.method == "DELETE":
            before = len(self.connections)
            self.connections = [c for c in self.connections if c["id"] != parts[1]]
            response = Response(status=204) if len(self.connections) < before else _json({"Title": "Not Found"}, 404)
        else:
            response = _json({"Title": "Method Not Allowed"}, 405)
        return response(environ, start_response)


def _json(body, status: int) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")
