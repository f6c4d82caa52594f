"""Request context, authentication/tenancy, and problem+json for everything that escapes.

`RequestContextMiddleware` gives every request an id (echoing a sane `X-Request-Id`), records the
client address and user agent for the audit log, turns any non-JSON error page (Django's 404/405,
a 500) into problem+json, and logs unexpected exceptions without leaking them. It also refuses
a NUL character in the path or query string (400; PostgreSQL cannot store one), once for all
endpoints; JSON bodies get the same rule from core.parsers.

Bearer-token authentication and the request's App come next, from `tokens.authn.TenantMiddleware`.
"""

from __future__ import annotations

import logging
import random  # request ids are correlation handles, not secrets
import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from core import context
from core.conf import heimdall_settings
from core.errors import PROBLEM_CONTENT_TYPE, ApiError, error_response, oauth_error, problem_response
from core.parsers import NUL, NUL_MESSAGE, printable

logger = logging.getLogger("heimdall.request")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_STATUS_CODES = {
    400: ("bad_request", "The request could not be understood."),
    403: ("permission_denied", "This request is not allowed."),
    404: ("not_found", "No resource exists at this path."),
    405: ("method_not_allowed", "This method is not allowed on this path."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send the request body as application/json."),
    500: ("internal_error", "Heimdall hit an unexpected error. Quote the requestId if it persists."),
}


def client_ip(request: HttpRequest) -> str | None:
    hops = heimdall_settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else f"req_{random.getrandbits(96):024x}"
        info = context.RequestInfo(
            request_id=request_id,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512] or None,
        )
        token = context.set_request(info)
        try:
            refusal = _nul_refusal(request)
            response = error_response(refusal) if refusal is not None else self.get_response(request)
            if response.status_code >= 400 and not _is_json(response):
                code, detail = _STATUS_CODES.get(response.status_code, ("error", "The request failed."))
                replacement = problem_response(response.status_code, code, detail)
                if response.has_header("Allow"):
                    replacement["Allow"] = response["Allow"]
                response = replacement
            response["X-Request-Id"] = request_id
            return response
        finally:
            context.reset_request(token)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ApiError):
            return error_response(exception)
        if isinstance(exception, (OperationalError, InterfaceError)):
            # The database is unreachable or the connection died mid-request (a crash, a
            # failover): nothing was committed on this connection, so the client may retry.
            logger.error("database unavailable: %s", type(exception).__name__, exc_info=exception)
            code = "temporarily_unavailable" if is_oauth_path(request) else "service_unavailable"
            return error_response(
                ApiError(
                    503,
                    code,
                    "Heimdall cannot reach its database right now; nothing was changed. Retry shortly.",
                    headers={"Retry-After": "1"},
                    oauth=is_oauth_path(request),
                )
            )
        # Everything else goes through Django's own handling (404, 403, 400 for suspicious
        # requests, logged 500 via handler500); __call__ turns any HTML page into problem+json.
        return None


def is_oauth_path(request: HttpRequest) -> bool:
    return request.path_info.startswith("/v1/oauth/")


def _nul_refusal(request: HttpRequest) -> ApiError | None:
    """A NUL character in the path or the query string would reach the database (where
    PostgreSQL refuses it with a 500); refuse it here, once, for every endpoint."""
    field = None
    if NUL in request.path:
        field = "path"
    else:
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or NUL in query:
            field = "query"
            for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
                if NUL in name or NUL in value:
                    field = printable(name)
                    break
    if field is None:
        return None
    message = f"{field} {NUL_MESSAGE}"
    errors = [{"field": field, "code": "nul_character", "message": NUL_MESSAGE}]
    if is_oauth_path(request):
        return oauth_error("invalid_request", message, errors=errors)
    return ApiError(400, "validation_error", f"The request is invalid: {message}", errors=errors)


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.startswith(PROBLEM_CONTENT_TYPE) or content_type.startswith("application/json")
