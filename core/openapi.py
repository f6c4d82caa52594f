"""OpenAPI post-processing: every operation documents its problem+json error responses."""

from __future__ import annotations

from typing import Any

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

_COMMON = {
    "400": "Malformed JSON or invalid fields (`validation_error`, `malformed_json`).",
    "401": "Missing, invalid, expired or revoked token (`invalid_token`).",
    "403": "The token lacks the permission named in `detail` (`permission_denied`).",
    "404": "No such resource in this App (`not_found`); another App's resources look the same.",
}
_PUBLIC = {"400": _COMMON["400"]}


def add_problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: Any
) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
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
    for _path, operations in result.get("paths", {}).items():
        for _method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            is_public = not operation.get("security") or operation.get("security") == [{}]
            for status, description in (_PUBLIC if is_public else _COMMON).items():
                operation["responses"].setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
                    },
                )
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and "content" in response:
                    content = response["content"]
                    if "application/json" in content and "application/problem+json" not in content:
                        content["application/problem+json"] = content.pop("application/json")
    result.setdefault("components", {}).setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token issued by Heimdall's POST /v1/oauth/token.",
    }
    return result


def register_extensions() -> None:
    """Teach drf-spectacular our bearer authentication (called from CoreConfig.ready)."""
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class BearerTokenScheme(OpenApiAuthenticationExtension):
        target_class = "tokens.authn.BearerTokenAuthentication"
        name = "bearerAuth"

        def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
            return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
