"""drf-spectacular wiring: the bearer-token security scheme; the error responses every operation can
give (401, 403, 429; 400 and 415 where there is a body; 404 on lists and paths with an id) added to each
operation under ``/api/v1/``; free-text request strings marked as refusing NUL characters."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_COMMON = {
    "401": "No valid credentials (`not_authenticated`, `authentication_failed`).",
    "403": "The client lacks the scope for this call (`permission_denied`), or the money-moving "
    "scope it needs waits for a second person's approval (`scope_awaiting_approval`).",
    "429": "Too many requests for this client (`throttled`); see `Retry-After`.",
}
_WITH_BODY = {
    "400": "Invalid input (`invalid`, `malformed_request`).",
    "415": "Only `application/json` bodies are accepted (`unsupported_media_type`).",
}
_LIST = {"404": "Not found (`not_found`), including a page number past the end."}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A token issued to an API client by an administrator (shown once, stored hashed): "
                "`Authorization: Bearer bo_…`. The client's scopes decide which calls it may make."
            ),
        }


NO_NUL_PATTERN = "^[^\\x00]*$"


def _forbid_nul(node) -> None:
    """Free-text request strings refuse NUL (DRF does, and PostgreSQL cannot store it): say so."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not ({"format", "enum", "pattern"} & node.keys()):
            node["pattern"] = NO_NUL_PATTERN
        for value in node.values():
            _forbid_nul(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_nul(value)


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: document the error body for the statuses every call may return."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in schemas.items():
        if name.endswith("Request"):
            _forbid_nul(component)
    if "Error" not in schemas:
        return result
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            extra = dict(_COMMON)
            if "requestBody" in operation:
                extra.update(_WITH_BODY)
            if method == "get" or "{" in path:
                extra.update(_LIST)
            for status, description in extra.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}},
                )
    return result
