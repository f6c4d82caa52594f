"""OpenAPI post-processing: the document states what the server enforces, exactly.

- Every operation documents its problem+json error responses (the common ones here, the
  operation's own in its `extend_schema`).
- Request bodies of `StrictSerializer`s are `additionalProperties: false` (unknown fields are
  refused).
- Every string a request carries (body fields, query and path parameters) refuses NUL
  characters (core.parsers, core.middleware): a `pattern` says so unless a stricter one exists.
- Paginated lists (`{data, nextCursor}` pages) take `limit` and `cursor` with their real bounds
  (core.pagination).

`tests/fuzz/run.py` (a `.ci/run` step) fuzzes the running server against this document.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from core.pagination import CURSOR_PATTERN, MAX_LIMIT
from core.serializers import ProblemSerializer

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

_COMMON = {
    "400": "Malformed JSON or invalid fields (`validation_error`, `malformed_json`).",
    "401": "Missing, invalid, expired or revoked token (`invalid_token`).",
    "403": "The token lacks the permission named in `detail` (`permission_denied`).",
    "404": "No such resource in this App (`not_found`); another App's resources look the same.",
}
_PUBLIC = {
    "400": _COMMON["400"],
    "403": "The `Heimdall-App` header without an operator's bearer token (`permission_denied`).",
}
_BODY = {
    "415": "The body is not `application/json` (`unsupported_media_type`).",
}

# No NUL character anywhere (PostgreSQL cannot store one): the middleware and the JSON parser
# refuse it with 400 before any view runs.
NO_NUL_PATTERN = "^[^\\u0000]*$"
# core.pagination.decode_cursor: an id as this API issues them; an empty cursor is the first page.
CURSOR_SCHEMA = {"type": "string", "pattern": "^(" + CURSOR_PATTERN[1:-1] + ")?$"}
LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}

# Building blocks of URL patterns (ECMA-262 regexes, as JSON Schema reads them; Python's `re`
# reads them the same way). A port is 1-65535.
PORT_PATTERN = r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
DNS_NAME_PATTERN = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"

# tokens.oauth: any OAuth parameter but the presented tokens is at most this long.
OAUTH_PARAM_MAX_LENGTH = 8192

_PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"Page size, 1-{MAX_LIMIT} (default 50).",
        "schema": LIMIT_SCHEMA,
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "The previous page's `nextCursor`; omit (or leave empty) for the first page.",
        "schema": CURSOR_SCHEMA,
    },
]


_CONVENTIONS = """

Conventions this document relies on:

- JSON bodies are exact: an unknown field is refused (400 `validation_error`, code `unknown_field`)
  wherever a schema says `additionalProperties: false`. Booleans are JSON `true`/`false` and
  integers JSON integers (a zero fraction, `2.0`, counts as 2): `0`, `"true"` or `"42"` are refused.
- No string may contain a NUL character, in a body (at any depth), a query or a path (400).
- Unknown query parameters are ignored.
- A request line longer than the HTTP server in front accepts (gunicorn: 4094 bytes by default,
  `--limit-request-line`) is answered 414 by that server, before Heimdall sees it.
- The OAuth endpoints (`/v1/oauth/*`) follow RFC 6749: form-encoded bodies (every value a string,
  no parameter repeated, unknown parameters ignored), or JSON with camelCase names, where `null`
  counts as absent and unknown parameters must be strings. Client credentials go in HTTP Basic
  (`clientBasic`) or in the body.
- 422 answers a well-formed request that a rule refuses (an unknown role, a weak password);
  400 means the request itself is malformed.
"""


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM_REF}}}


def _refuse_nul(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Add NO_NUL_PATTERN to every unconstrained string in a request schema (in place)."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            seen.add(name)
            _refuse_nul(components.get(name), components, seen)
        return
    kinds = schema.get("type")
    is_string = kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
    if is_string and not {"pattern", "enum", "const", "format"} & set(schema):
        schema["pattern"] = NO_NUL_PATTERN
    for key in ("properties", "patternProperties"):
        for child in (schema.get(key) or {}).values():
            _refuse_nul(child, components, seen)
    for key in ("items", "additionalProperties", "propertyNames", "not"):
        _refuse_nul(schema.get(key), components, seen)
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for child in schema.get(key) or []:
            _refuse_nul(child, components, seen)


def _is_page(operation: dict[str, Any]) -> bool:
    ok = operation.get("responses", {}).get("200", {})
    for media in ok.get("content", {}).values():
        ref = media.get("schema", {}).get("$ref", "")
        if ref.endswith("Page"):
            return True
    return False


def add_problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: Any
) -> dict[str, Any]:
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault(
        "Problem",
        {
            "type": "object",
            "description": "RFC 9457 problem details; `code` is stable.",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "requestId": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
            "required": ["type", "title", "status", "detail", "code", "requestId"],
        },
    )
    seen: set[str] = set()
    for _path, operations in result.get("paths", {}).items():
        for _method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            security = operation.get("security")
            is_public = not security or security == [{}]
            common = dict(_PUBLIC if is_public else _COMMON)
            body = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                common.update(_BODY)
            # A lean view (core.views.LeanView) lists every answer it gives itself, and parses
            # its body itself: there must be one.
            if operation.pop("x-lean", False):
                common = {}
                if "requestBody" in operation:
                    operation["requestBody"]["required"] = True
            if operation.pop("x-body-required", False):
                operation["requestBody"]["required"] = True
            for status, description in common.items():
                operation["responses"].setdefault(status, _problem(description))
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    content = response.setdefault("content", {})
                    if "application/json" in content and "application/problem+json" not in content:
                        content["application/problem+json"] = content.pop("application/json")
                    if not content:
                        content["application/problem+json"] = {"schema": _PROBLEM_REF}
            if _is_page(operation):
                parameters = [
                    p for p in operation.get("parameters", []) if p.get("name") not in ("limit", "cursor")
                ]
                operation["parameters"] = parameters + [dict(p) for p in _PAGE_PARAMETERS]
            for parameter in operation.get("parameters", []):
                _refuse_nul(parameter.get("schema"), schemas, seen)
            for media in body.values():
                _refuse_nul(media.get("schema"), schemas, seen)
    info = result.setdefault("info", {})
    info["description"] = info.get("description", "") + _CONVENTIONS
    security_schemes = components.setdefault("securitySchemes", {})
    security_schemes["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token issued by Heimdall's POST /v1/oauth/token.",
    }
    security_schemes["clientBasic"] = {
        "type": "http",
        "scheme": "basic",
        "description": (
            "OAuth client authentication (RFC 6749 section 2.3.1): client id and secret, each "
            "form-urlencoded, as HTTP Basic. The OAuth endpoints also take them in the body."
        ),
    }
    return result


def register_extensions() -> None:
    """Teach drf-spectacular our bearer authentication and strict serializers (called from
    CoreConfig.ready)."""
    from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension

    class BearerTokenScheme(OpenApiAuthenticationExtension):
        target_class = "tokens.authn.BearerTokenAuthentication"
        name = "bearerAuth"

        def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
            return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}

    class OAuthParamsSchema(OpenApiSerializerExtension):
        target_class = "core.serializers.OAuthJsonParamsSerializer"
        match_subclasses = True

        def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
            schema: dict[str, Any] = auto_schema._map_basic_serializer(self.target, direction)
            schema["additionalProperties"] = {"type": ["string", "null"], "maxLength": OAUTH_PARAM_MAX_LENGTH}
            return schema

    class OAuthFormSchema(OpenApiSerializerExtension):
        target_class = "core.serializers.OAuthFormParamsSerializer"
        match_subclasses = True

        def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
            schema: dict[str, Any] = auto_schema._map_basic_serializer(self.target, direction)
            schema["additionalProperties"] = {"type": "string", "maxLength": OAUTH_PARAM_MAX_LENGTH}
            return schema

    class StrictSerializerSchema(OpenApiSerializerExtension):
        target_class = "core.serializers.StrictSerializer"
        match_subclasses = True

        def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
            schema: dict[str, Any] = auto_schema._map_basic_serializer(self.target, direction)
            if direction == "request":
                schema["additionalProperties"] = False
            return schema


def problems(**described: str) -> dict[int, Any]:
    """`responses` entries for an operation's own problem answers: `problems(e409="`role_exists`")`
    gives {409: problem+json described so}. The common 400/401/403/404 need not be listed."""
    return {
        int(key.lstrip("e")): OpenApiResponse(ProblemSerializer, description=text) for key, text in described.items()
    }
