"""A fake Intuit (QuickBooks Online) for its OAuth 2.0 flow, over loopback.

- The authorization server is the strict FakeOAuthProvider with HTTP Basic
  client authentication, plus Intuit's quirk: a successful authorization
  redirects back with `realmId` (the company's id) next to `code` and `state`
  (`send_realm_id = False` leaves it out).
- The API answers `GET /v3/company/{realmId}/companyinfo/{realmId}` for a
  valid bearer token of that company's grant, as JSON (`{"CompanyInfo":
  {...}, "time": ...}`); another company's id answers 403, a bad token 401.
- Intuit's revocation endpoint (`POST /v2/oauth2/tokens/revoke`) takes a JSON
  body `{"token": ...}` with the app's credentials in HTTP Basic; a form
  body or missing credentials answer 400/401. A known token ends its grant.
- The rest of `/v3/company/{realmId}/` is the Accounting API of
  tests.fakes.quickbooks_api (customers, items, invoices, payments, queries,
  requestid, Faults, limits, lost answers).
"""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

from tests.fakes.atlassian import bearer_is_valid
from tests.fakes.oauth_provider import FakeOAuthProvider, FakeProviderWithApi
from tests.fakes.quickbooks_api import QuickBooksApi
from tests.fakes.server import FakeServer

REVOKE_PATH = "/v2/oauth2/tokens/revoke"


class IntuitAuthorizationServer(FakeOAuthProvider):
    """FakeOAuthProvider whose authorization redirect also carries `realmId`."""

    def __init__(self, *, realm_id: str, **kwargs):
        super().__init__(client_auth_methods=("client_secret_basic",), **kwargs)
        self.realm_id = realm_id
        self.send_realm_id = True

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict, str]:
        status, headers, text = super()._authorize(query)
        location = headers.get("Location", "")
        if status == 302 and "code=" in location and self.send_realm_id:
            headers = {**headers, "Location": f"{location}&realmId={self.realm_id}"}
        return status, headers, text


class FakeQuickBooks(FakeProviderWithApi):
    slug = "quickbooks"

    def __init__(self, *, redirect_uris: tuple[str, ...], client_id: str = "qbo-client",
                 client_secret: str = "qbo-secret", realm_id: str = "9130347596486016",
                 company_name: str = "Craig's Design and Landscaping Services"):
        self.oauth = IntuitAuthorizationServer(realm_id=realm_id, client_id=client_id, client_secret=client_secret,
                                               redirect_uris=redirect_uris)
        self.company_name = company_name
        self.accounting = QuickBooksApi(self)
        self.api = FakeServer(self._app)

    @property
    def realm_id(self) -> str:
        return self.oauth.realm_id


    def env(self, slug: str | None = None) -> dict[str, str]:
        slug = slug or self.slug
        return {**super().env(slug), f"{slug.upper()}_REVOKE_URL": self.api.base_url + REVOKE_PATH}

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.path == REVOKE_PATH and request.method == "POST":
            response = self._revoke(request)
        elif request.path.startswith("/v3/company/") and "/companyinfo/" not in request.path:
            return self.accounting(environ, start_response)
        elif request.method == "GET" and request.path.startswith("/v3/company/"):
            response = self._company_info(request)
        else:
            response = _json({"Fault": {"Error": [{"Message": "Not found"}], "type": "ValidationFault"}}, 404)
        return response(environ, start_response)

    def _company_info(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")  # v3 company {realm} companyinfo {realm}
        if len(parts) != 5 or parts[3] != "companyinfo" or parts[2] != parts[4]:
            return _json({"Fault": {"Error": [{"Message": "Unsupported operation"}], "type": "ValidationFault"}}, 400)
        if not bearer_is_valid(self.oauth, request.headers.get("Authorization")):
            return _json({"Fault": {"Error": [{"Message": "AuthenticationFailed"}], "type": "AUTHENTICATION"}}, 401)
        if parts[2] != self.realm_id:
            return _json({"Fault": {"Error": [{"Message": "ApplicationAuthorizationFailed"}],
                                    "type": "AuthorizationFault"}}, 403)
        company = {"CompanyName": self.company_name, "LegalName": self.company_name, "Id": "1",
                   "Country": "US", "SyncToken": "4", "domain": "QBO"}
        return _json({"CompanyInfo": company, "time": datetime.now(UTC).isoformat()}, 200)

    def _revoke(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        try:
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            client_id = client_secret = ""
        if not header.startswith("Basic ") or (client_id, client_secret) != (self.oauth.client_id,
                                                                              self.oauth.client_secret):
            return _json({"error": "invalid_client"}, 401)
        if request.mimetype != "application/json":
            return _json({"error": "invalid_request"}, 400)
        token = (request.get_json(silent=True) or {}).get("token")
        if not token:
            return _json({"error": "invalid_request"}, 400)
        grant = self.oauth.grant_for(token)
        if grant is not None:
            grant.revoked = True
        return Response(status=200)


def _json(body, status: int) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")
