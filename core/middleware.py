"""Request context, authentication/tenancy, and problem+json for everything that escapes.

`RequestContextMiddleware` gives every request an id (echoing a sane `X-Request-Id`), records the
client address and user agent for the audit log, turns any non-JSON error page (Django's 404/405,
a 500) into problem+json, and logs unexpected exceptions without leaking them. It also refuses
a NUL character in the path or query string (400; PostgreSQL cannot store one), once for all
endpoints; JSON bodies get the same rule from core.parsers.

`TenantMiddleware` verifies a bearer token once, through the in-memory authorization state, and
sets the request's App (the token's, or the `Heimdall-App` header's for an operator) in context,
so tenant-owned querysets are scoped before any view runs. `Heimdall-App` without a bearer
token is refused with 403 on every path.
"""

from __future__ import annotations

import random  # request ids are correlation handles, not secrets
import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core import context
from core.auth import Principal
from core.errors import PROBLEM_CONTENT_TYPE, ApiError, error_response, problem_response
from core.parsers import NUL, NUL_MESSAGE, printable

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_SLUG_RE = re.compile(r"^[a-z0-9-]{3,63}$")

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
    hops = int(settings.HEIMDALL["TRUSTED_PROXY_COUNT"])
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
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else f"req_{random.getrandbits(96):024x}"
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
        # Everything else goes through Django's own handling (404, 403, 400 for suspicious
        # requests, logged 500 via handler500); __call__ turns any HTML page into problem+json.
        return None


def _is_oauth(request: HttpRequest) -> bool:
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
    if _is_oauth(request):
        from tokens.oauth import oauth_error

        return oauth_error("invalid_request", message, errors=errors)
    return ApiError(400, "validation_error", f"The request is invalid: {message}", errors=errors)


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.startswith(PROBLEM_CONTENT_TYPE) or content_type.startswith("application/json")


class TenantMiddleware:
    """Resolve the caller and the request's App from the bearer token."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.heimdall_principal = None  # type: ignore[attr-defined]
        request.heimdall_auth_error = None  # type: ignore[attr-defined]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header[:7].lower() == "bearer ":
            if "HTTP_HEIMDALL_APP" in request.META:
                # Only an operator's bearer token may act in another App; anyone else sending
                # the header (client credentials, /v1/authorize, no credentials) is refused.
                return problem_response(
                    403,
                    "permission_denied",
                    "Only operator clients, with their bearer token, may send the Heimdall-App header.",
                    errors=[{"field": "Heimdall-App", "code": "not_operator", "message": "operator only"}],
                    oauth=_is_oauth(request),
                )
            return self.get_response(request)
        try:
            principal = resolve_principal(header[7:].strip(), request.META.get("HTTP_HEIMDALL_APP"))
        except ApiError as exc:
            return error_response(exc)
        if principal is None:
            request.heimdall_auth_error = "invalid_token"  # type: ignore[attr-defined]
            return self.get_response(request)
        request.heimdall_principal = principal  # type: ignore[attr-defined]
        tenant_token = context.set_tenant(principal.tenant)
        try:
            return self.get_response(request)
        finally:
            context.reset_tenant(tenant_token)


def resolve_principal(token: str, acting_slug: str | None) -> Principal | None:
    """The Principal for a bearer token (None when the token is not valid now)."""
    from tenants.models import App
    from tokens.state import get_state

    check = get_state().check(token)
    if not check.ok:
        return None
    assert check.app is not None
    if acting_slug is not None and not check.app.is_operator:
        raise ApiError(
            403,
            "permission_denied",
            "Only operator clients may send the Heimdall-App header.",
            errors=[{"field": "Heimdall-App", "code": "not_operator", "message": "operator only"}],
        )
    if acting_slug is not None and acting_slug != check.app.slug:
        if not _SLUG_RE.match(acting_slug):
            raise ApiError(
                400,
                "validation_error",
                "The Heimdall-App header must be an App slug.",
                errors=[{"field": "Heimdall-App", "code": "invalid_slug", "message": "not a slug"}],
            )
        target = App.objects.filter(slug=acting_slug).first()
        if target is None:
            raise ApiError(
                404,
                "not_found",
                f"No App with slug '{acting_slug}' exists (Heimdall-App header).",
                errors=[{"field": "Heimdall-App", "code": "unknown_app", "message": acting_slug}],
            )
        return Principal(check=check, tenant=target, acting=True)
    app = App.objects.filter(pk=check.app.id).first()
    if app is None:
        return None
    return Principal(check=check, tenant=app, acting=False)
