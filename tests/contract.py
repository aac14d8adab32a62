"""Contract checks: do the requests we send (and the answers our fakes give)
match the providers' official API descriptions?

The descriptions live outside the repository, in ../shared/specs/ (see its
README); they are read in place, never copied. Tests call
`require_spec("trello")` (or use `Contract.for_provider`), which skips the
test with a clear reason when that folder is absent.

    contract = Contract.for_provider("trello")
    contract.check_request(recorded)          # raises RequestValidationError
    contract.request_errors(recorded)         # every problem, as a list

A recorded request (tests.fakes.server.RecordedRequest) is matched against
the description's own server URL: its path must start with that server's
base path (`/1` for Trello), which is what a fake mounted at the same root
receives.
"""
from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse

from tests.fakes.server import RecordedRequest

REPO_ROOT = Path(__file__).resolve().parent.parent
# mutmut runs the suite from its copy of the project in <repo>/mutants/, one level deeper than
# the checkout, so the shared folder is looked for beside the checkout there too.
_CHECKOUT = REPO_ROOT.parent if REPO_ROOT.name == "mutants" else REPO_ROOT
SPECS_DIR = _CHECKOUT.parent / "shared" / "specs"


# Providers that publish no API description: one written from their documentation, kept
# as a test fixture (its info.description names the sources).
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
FIXTURE_SPECS = {"gitlab": FIXTURES_DIR / "gitlab" / "openapi.json",
                 # Graph's group calendars and calendar-addressed events, absent from the trimmed graph.json.
                 "graph-groups": FIXTURES_DIR / "graph-groups" / "openapi.json",
                 "jira_datacenter": FIXTURES_DIR / "jira-datacenter" / "openapi.json"}
# GraphQL endpoints: the schema (SDL) the documents sent there are validated against.
GRAPHQL_SCHEMAS = {"gitlab": FIXTURES_DIR / "gitlab" / "schema.graphql"}


def spec_path(provider: str) -> Path:
    return FIXTURE_SPECS.get(provider) or SPECS_DIR / f"{provider}.json"


def require_spec(provider: str) -> Path:
    """The description file of `provider`, or skip the calling test saying why."""
    path = spec_path(provider)
    if provider not in FIXTURE_SPECS and not SPECS_DIR.is_dir():
        pytest.skip(f"provider API descriptions not found: {SPECS_DIR} is absent (contract checks need ../shared/specs)")
    if not path.is_file():
        pytest.skip(f"no API description for {provider}: {path} is absent")
    return path


def _lenient_date(value: str) -> bool:
    """Trello declares ISO date-times (`due`, `start`, `dateLastActivity`) as `format: date`;
    accept either a date or a date-time, as the API does."""
    try:
        date.fromisoformat(value)
        return True
    except ValueError:
        pass
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _fields_list_schema(allowed: set[str]) -> dict:
    """A comma-separated list of allowed field names, or `all`."""
    names = "|".join(sorted((re.escape(n) for n in allowed), key=len, reverse=True))
    return {"type": "string", "pattern": rf"^(all|({names})(,({names}))*)$"}


def _repair_trello(spec: dict) -> None:
    """Trello's `fields` parameters take comma-separated field names (`fields=fullName,username`),
    but the description types them as a single enum value, and `MemberFields` lists only `id`.
    Accept lists of the enum's names plus the properties of the object they select."""
    schemas = spec["components"]["schemas"]
    for fields_schema, object_schema in (("MemberFields", "Member"), ("BoardFields", "Board"),
                                         ("OrganizationFields", None)):
        allowed = set(schemas[fields_schema].get("enum", []))
        if object_schema:
            allowed |= set(schemas[object_schema].get("properties", {}))
        schemas[fields_schema] = _fields_list_schema(allowed)


# Jira writes timestamps like 2024-05-02T09:00:00.000+0000: no colon in the offset, so not RFC 3339.
JIRA_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)")

def _repair_slack(spec: dict) -> None:
    """Slack's description types every chat.postMessage field as a form string. In a JSON body
    (which the method accepts, `consumes`), `blocks` and `attachments` are JSON arrays, as
    Slack's Block Kit reference shows; and booleans stay booleans."""
    body = spec["paths"]["/chat.postMessage"]["post"]["requestBody"]["content"]
    if "application/json" in body:
        properties = copy.deepcopy(body["application/json"]["schema"]["properties"])
        for name in ("blocks", "attachments"):
            properties[name] = {"type": "array", "items": {"type": "object"}}
        body["application/json"]["schema"]["properties"] = properties


REPAIRS = {"trello": _repair_trello, "slack": _repair_slack}
FORMATS = {
    "trello": {"date": _lenient_date},
    "jira": {"date-time": lambda value: bool(JIRA_TIMESTAMP.fullmatch(value))},
}


# -- Swagger 2.0 (Slack's description) as OpenAPI 3, which openapi-core reads ------------------------

_PARAMETER_SCHEMA_KEYS = ("type", "format", "items", "enum", "default", "minimum", "maximum", "pattern")


def _schema_of(parameter: dict) -> dict:
    return {key: parameter[key] for key in _PARAMETER_SCHEMA_KEYS if key in parameter}


def _operation3(operation: dict, consumes: list[str]) -> dict:
    """One operation: query/path/header parameters keep their place (with a `schema`), formData
    parameters become a request body in each media type the operation consumes."""
    converted = {key: value for key, value in operation.items() if key not in ("parameters", "responses", "consumes",
                                                                                "produces", "security")}
    parameters, form = [], []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "formData":
            form.append(parameter)
        elif parameter.get("in") in ("query", "path", "header"):
            parameters.append({key: parameter[key] for key in ("name", "in", "required", "description")
                               if key in parameter} | {"schema": _schema_of(parameter)})
    if parameters:
        converted["parameters"] = parameters
    if form:
        schema = {"type": "object", "properties": {p["name"]: _schema_of(p) for p in form}}
        required = [p["name"] for p in form if p.get("required")]
        if required:
            schema["required"] = required
        converted["requestBody"] = {"content": {media: {"schema": schema}
                                                for media in operation.get("consumes") or consumes}}
    converted["responses"] = {status: {"description": answer.get("description", "")} | (
        {"content": {"application/json": {"schema": answer["schema"]}}} if "schema" in answer else {})
        for status, answer in (operation.get("responses") or {"default": {"description": ""}}).items()}
    return converted


def swagger2_to_openapi3(spec: dict) -> dict:
    """The subset of Swagger 2.0 the trimmed descriptions use, as OpenAPI 3.0 (servers, parameters,
    form bodies, responses, definitions). Security requirements are left out: the fakes check
    tokens and scopes themselves, as the provider does."""
    scheme = (spec.get("schemes") or ["https"])[0]
    converted = {
        "openapi": "3.0.3", "info": spec.get("info", {"title": "", "version": ""}),
        "servers": [{"url": f"{scheme}://{spec['host']}{spec.get('basePath', '')}"}],
        "paths": {path: {method: _operation3(operation, spec.get("consumes") or ["application/json"])
                         for method, operation in item.items() if method != "parameters"}
                  for path, item in spec["paths"].items()},
        "components": {"schemas": spec.get("definitions", {})},
    }
    return _nullable_types(json.loads(json.dumps(converted).replace('"#/definitions/', '"#/components/schemas/')))


def _nullable_types(node):
    """Slack's schemas write `type: ["null", "string"]` (JSON Schema); OpenAPI 3.0 says
    `type: string, nullable: true`, and several types become any type (no `type`)."""
    if isinstance(node, list):
        return [_nullable_types(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_types(value) for key, value in node.items()}
    if isinstance(node.get("type"), list):
        types = [kind for kind in node["type"] if kind != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        if len(types) == 1:
            node["type"] = types[0]
        else:
            del node["type"]
    return node


@lru_cache(maxsize=None)
def _load(provider: str) -> dict:
    return json.loads(spec_path(provider).read_text())


@lru_cache(maxsize=None)
def _build(cls: type["Contract"], provider: str, server_url: str | None) -> "Contract":
    """Parsing a description takes a moment; each (provider, server) is built once per session."""
    spec = copy.deepcopy(_load(provider))
    if "swagger" in spec:
        spec = swagger2_to_openapi3(spec)
    if server_url:
        spec["servers"] = [{"url": server_url}]
    REPAIRS.get(provider, lambda _spec: None)(spec)
    return cls(provider, spec)


class Contract:
    """One provider's description, ready to validate requests and responses."""

    def __init__(self, provider: str, spec: dict):
        self.provider = provider
        self.spec = spec
        self.server_url = spec["servers"][0]["url"].rstrip("/")
        parts = urlsplit(self.server_url)
        self.host_url = f"{parts.scheme}://{parts.netloc}"
        self.base_path = parts.path.rstrip("/")
        self.api = OpenAPI.from_dict(spec, config=Config(extra_format_validators=FORMATS.get(provider, {})))

    @classmethod
    def for_provider(cls, provider: str, server_url: str | None = None) -> "Contract":
        """Load `provider`'s description (skipping the test when absent). `server_url` replaces the
        description's `servers`, for providers whose host is per customer (Jira sites, GitLab)."""
        require_spec(provider)
        return _build(cls, provider, server_url)

    def mock_request(self, recorded: RecordedRequest) -> MockRequest:
        if not recorded.path.startswith(self.base_path + "/") and recorded.path != self.base_path:
            raise AssertionError(f"{recorded.path} is not under {self.provider}'s base path {self.base_path!r}")
        content_type = recorded.headers.get("content-type", "application/json").split(";")[0].strip()
        return MockRequest(self.host_url, recorded.method, recorded.path, args=recorded.query,
                           headers=recorded.headers, data=recorded.body or None, content_type=content_type)

    def check_request(self, recorded: RecordedRequest) -> None:
        """Raise openapi-core's error (a RequestValidationError, or PathNotFound/OperationNotFound
        for calls the description does not have) unless the request matches."""
        self.api.validate_request(self.mock_request(recorded))

    def request_errors(self, recorded: RecordedRequest) -> list[Exception]:
        return list(self.api.iter_request_errors(self.mock_request(recorded)))

    def unknown_query_parameters(self, recorded: RecordedRequest) -> list[str]:
        """Query parameters the matched operation does not declare. openapi-core ignores them, but a
        provider may reject them or, worse, silently ignore a misspelt filter."""
        request = self.mock_request(recorded)
        try:
            found = APICallPathFinder(self.api.spec).find(request.method, request.host_url + request.path)
        except PathError:
            return []  # reported by request_errors already
        declared = {p["name"] for level in (found.path, found.operation) if "parameters" in level
                    for p in level / "parameters" if p["in"] == "query"}
        schemes = self.spec.get("components", {}).get("securitySchemes", {})
        declared |= {scheme["name"] for scheme in schemes.values()
                     if scheme.get("type") == "apiKey" and scheme.get("in") == "query"}
        template = str(found.path).split("#", 1)[1] if "#" in str(found.path) else ""
        declared |= DOCUMENTED_ELSEWHERE.get(self.provider, {}).get((request.method, template), set())
        return sorted({name for name, _ in recorded.query} - declared)

    def check_response(self, recorded: RecordedRequest) -> None:
        """Validate what the fake answered against the description's response schema."""
        assert recorded.status is not None, "the request has no recorded response"
        content_type = recorded.response_headers.get("content-type", "application/json").split(";")[0].strip()
        response = MockResponse(recorded.response_body, status_code=recorded.status, content_type=content_type)
        self.api.validate_response(self.mock_request(recorded), response)


# -- checks the fakes run on every request they receive ---------------------------------------------

@dataclass(frozen=True)
class Description:
    """Which provider description a fake's requests are checked against.

    `locate` turns what the fake received into the request as the description sees it (e.g. the
    Atlassian gateway's `/ex/jira/{cloudId}` prefix removed), or None for a call the description
    does not cover (the gateway's own `accessible-resources`, an OAuth endpoint)."""

    provider: str
    server_url: str | None = None
    locate: Callable[[RecordedRequest], RecordedRequest | None] = lambda recorded: recorded

    def unavailable(self) -> str | None:
        """Why requests cannot be checked here (one line), or None when they can."""
        if self.provider not in FIXTURE_SPECS and not SPECS_DIR.is_dir():
            return f"request validation skipped: {SPECS_DIR} is absent (a clone without ../shared/specs)"
        if not spec_path(self.provider).is_file():
            return f"request validation skipped: no API description {spec_path(self.provider)}"
        return None

    def violations(self, recorded: RecordedRequest) -> list[str]:
        """Every way `recorded` breaks the description, as readable lines; [] when it keeps it."""
        request = self.locate(recorded)
        if request is None or self.unavailable():
            return []
        with _BUILD_LOCK:  # fakes answer on several threads; build each description once
            contract = _build(Contract, self.provider, self.server_url)
        where = f"{self.provider}: {recorded.method} {recorded.path}"
        try:
            errors = contract.request_errors(request)
        except AssertionError as error:  # not under the description's base path
            return [f"{where}: {error}"]
        lines = [f"{where}: {_describe(error)}" for error in errors]
        if not errors:
            lines += [f"{where}: query parameter {name!r} is not in the description"
                      for name in contract.unknown_query_parameters(request)]
        if not errors and self.provider in GRAPHQL_SCHEMAS and request.path.endswith("/graphql"):
            lines += [f"{where}: GraphQL: {problem}" for problem in graphql_problems(self.provider, request.body)]
        return lines


@lru_cache(maxsize=None)
def graphql_schema(provider: str):
    import graphql
    return graphql.build_schema(GRAPHQL_SCHEMAS[provider].read_text())


def graphql_problems(provider: str, body: bytes) -> list[str]:
    """What is wrong with a GraphQL request body: the document against the schema, and the
    variables against the document's declarations (coerced as a server would)."""
    import graphql
    try:
        sent = json.loads(body)
        document = graphql.parse(sent["query"])
    except (ValueError, KeyError, TypeError, graphql.GraphQLError) as error:
        return [f"not a GraphQL request: {error}"]
    schema = graphql_schema(provider)
    problems = [error.message for error in graphql.validate(schema, document)]
    if not problems:
        result = graphql.execute_sync(schema, document, variable_values=sent.get("variables") or {})
        problems = [error.message for error in result.errors or [] if not error.path]  # coercion, not resolving
    return problems


# Query parameters a provider documents outside its published description; each with its reason.
DOCUMENTED_ELSEWHERE: dict[str, dict[tuple[str, str], set[str]]] = {
    # Trello's description lists only `id` for board cards; its REST reference ("Get Cards on a
    # Board") and paging guide document these, and the API honours them.
    "trello": {("get", "/boards/{id}/cards"): {"limit", "before", "since", "fields", "filter"}},
    # Graph's description leaves out calendarView/delta's window (required on a first read, "event:
    # delta" reference) and the $skiptoken / $deltatoken of the links it hands back itself; its paging
    # guide: a long collection answers "@odata.nextLink", a URL carrying an opaque `$skiptoken` that the
    # client follows as is, while the description declares only $top and $skip.
    "graph": {**{("get", path): {"startDateTime", "endDateTime", "$skiptoken", "$deltatoken"}
                 for path in ("/me/calendarView/delta", "/me/calendars/{calendar-id}/calendarView/delta")},
              ("get", "/me/joinedTeams"): {"$skiptoken"}, ("get", "/teams/{team-id}/channels"): {"$skiptoken"}},
}

_BUILD_LOCK = threading.Lock()


def _describe(error: Exception) -> str:
    causes = [str(getattr(cause, "message", cause)) for cause in getattr(error, "schema_errors", ()) or ()]
    inner = error.__cause__
    detail = f" ({inner})" if inner is not None and str(inner) not in str(error) else ""
    return f"{type(error).__name__}: {error}{detail}" + (f" [{'; '.join(causes)}]" if causes else "")
