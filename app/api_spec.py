"""The OpenAPI 3.0 description of /api/v1, served at /api/v1/openapi.json."""
from __future__ import annotations

from app.models.integration import INTEGRATION_STATUSES

INTEGRATION_SCHEMA = {
    "type": "object",
    "required": ["slug", "name", "scope", "auth_kind", "configured", "connected", "status",
                 "account", "last_sync_at", "last_sync_status"],
    "additionalProperties": False,
    "properties": {
        "slug": {"type": "string", "example": "jira"},
        "name": {"type": "string", "example": "Jira"},
        "scope": {"type": "string", "enum": ["global", "per_user"]},
        "auth_kind": {"type": "string", "enum": ["oauth2", "api_key"]},
        "configured": {"type": "boolean", "description": "The provider's app or key is set up."},
        "connected": {"type": "boolean", "description": "Credentials for this connection are stored."},
        "status": {"type": "string", "enum": list(INTEGRATION_STATUSES)},
        "account": {"type": "string", "nullable": True, "description": "Who or what the connection reached."},
        "last_sync_at": {"type": "string", "format": "date-time", "nullable": True},
        "last_sync_status": {"type": "string", "nullable": True},
    },
}


def openapi_document(server_url: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "TimeHub API", "version": "1.0.0",
                 "description": "Read the state of TimeHub's integrations. Authenticate with the browser session "
                                "or a personal API token (`Authorization: Bearer th_...`, created under Account)."},
        "servers": [{"url": f"{server_url}/api/v1"}],
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
        "paths": {
            "/integrations": {
                "get": {
                    "operationId": "listIntegrations",
                    "summary": "Every provider as the caller sees it: team-wide ones and the caller's own.",
                    "responses": {
                        "200": {"description": "The integrations.", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["integrations"], "additionalProperties": False,
                            "properties": {"integrations": {"type": "array",
                                                            "items": {"$ref": "#/components/schemas/Integration"}}},
                        }}}},
                        "401": {"description": "Not signed in and no valid token.",
                                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "schemas": {
                "Integration": INTEGRATION_SCHEMA,
                # RFC 9457 problem details; every error under /api/v1 has this shape.
                "Problem": {"type": "object", "required": ["type", "title", "status"],
                            "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                           "status": {"type": "integer"}, "detail": {"type": "string"},
                                           "error": {"type": "string"}, "message": {"type": "string"}}},
            },
        },
    }
