"""One error type for business code, rendered as RFC 9457 problem+json everywhere.

Services raise `ApiError` (or a helper below); DRF's exception handler and the plain-Django
fallbacks all turn errors into the same body:
`{type, title, status, detail, code, requestId, errors?}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions as drf_exceptions

from core import context

logger = logging.getLogger("heimdall.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://heimdall.dev/problems/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """A refusal with an HTTP status, a stable snake_case `code` and a human `detail`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        oauth: bool = False,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        # OAuth endpoints add RFC 6749 `error`/`error_description` beside the problem fields.
        self.oauth = oauth

    def body(self) -> dict[str, Any]:
        return problem_body(self.status, self.code, self.detail, errors=self.errors, oauth=self.oauth)


def oauth_error(code: str, detail: str, status: int = 400, **kwargs: Any) -> ApiError:
    """An error in RFC 6749 shape (`error`, `error_description`) as well as problem+json."""
    return ApiError(status, code, detail, oauth=True, **kwargs)


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    oauth: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if oauth:
        body["error"] = code
        body["error_description"] = detail
    body.update(
        {
            "type": TYPE_BASE + code,
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            "code": code,
            "requestId": context.request_id(),
        }
    )
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    oauth: bool = False,
) -> HttpResponse:
    body = problem_body(status, code, detail, errors=errors, oauth=oauth)
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    if oauth:
        response["Cache-Control"] = "no-store"
    return response


def error_response(exc: ApiError) -> HttpResponse:
    return problem_response(
        exc.status, exc.code, exc.detail, errors=exc.errors, headers=exc.headers, oauth=exc.oauth
    )


# ---- helpers services use -------------------------------------------------------------------


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"No {what} with that identifier exists in this App.")


def permission_denied(permission: str) -> ApiError:
    return ApiError(
        403,
        "permission_denied",
        f"This token lacks the permission '{permission}'. Use a token whose roles grant it.",
    )


def validation_error(field: str, code: str, message: str) -> ApiError:
    return ApiError(
        400,
        "validation_error",
        f"The request is invalid: {message}",
        errors=[{"field": field, "code": code, "message": message}],
    )


def conflict(code: str, detail: str) -> ApiError:
    return ApiError(409, code, detail)


# ---- DRF ----------------------------------------------------------------------------------


def _flatten_validation(detail: Any, prefix: str = "") -> Iterable[dict[str, str]]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            field = f"{prefix}.{name}" if prefix and name else (name or prefix)
            yield from _flatten_validation(value, field)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                yield from _flatten_validation(value, f"{prefix}[{index}]" if prefix else str(index))
            else:
                yield from _flatten_validation(value, prefix)
    else:
        code = getattr(detail, "code", None) or "invalid"
        yield {"field": prefix or "body", "code": str(code), "message": str(detail)}


def problem_exception_handler(exc: Exception, ctx: dict[str, Any]) -> HttpResponse | None:
    """DRF's EXCEPTION_HANDLER: every exception becomes problem+json."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, drf_exceptions.ValidationError):
        errors = list(_flatten_validation(exc.detail))
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            400,
            "validation_error",
            f"The request body is invalid ({fields}). See `errors` for each field.",
            errors=errors,
        )
    if isinstance(exc, drf_exceptions.ParseError):
        return problem_response(
            400, "malformed_json", "The request body is not valid JSON. Send a JSON object."
        )
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return problem_response(
            415,
            "unsupported_media_type",
            "Send the request body as application/json.",
        )
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        return problem_response(
            401,
            "invalid_token",
            "Send a valid access token issued by Heimdall: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return problem_response(
            405, "method_not_allowed", f"{ctx['request'].method} is not allowed on this path."
        )
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return problem_response(406, "not_acceptable", "This API only produces JSON.")
    if isinstance(exc, drf_exceptions.Throttled):
        headers = {"Retry-After": str(int(getattr(exc, "wait", None) or 1))}
        return problem_response(429, "too_many_requests", "Slow down and retry later.", headers=headers)
    if isinstance(exc, (Http404, drf_exceptions.NotFound)):
        return problem_response(404, "not_found", "No resource exists at this path in this App.")
    if isinstance(exc, (DjangoPermissionDenied, drf_exceptions.PermissionDenied)):
        return problem_response(403, "permission_denied", "This token may not do that.")
    if isinstance(exc, drf_exceptions.APIException):
        status = exc.status_code
        return problem_response(status, "error", str(exc.detail))
    return None  # unexpected: the middleware turns it into a logged 500 problem


# ---- Django-level handlers (urls.handler404 / handler500) ---------------------------------------


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return problem_response(404, "not_found", "No resource exists at this path.")


def handler500(request: HttpRequest) -> HttpResponse:
    return problem_response(
        500,
        "internal_error",
        "Heimdall hit an unexpected error. It has been logged; retry, and quote the requestId if it persists.",
    )


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return problem_response(400, "bad_request", "The request could not be understood.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return problem_response(403, "permission_denied", "This request is not allowed.")
