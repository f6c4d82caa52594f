"""Bearer-token authentication: the caller of a management request and the request's App.

`TenantMiddleware` verifies a bearer token once, through the in-memory authorization state, and
sets the request's App (the token's, or the `Heimdall-App` header's for an operator) in context,
so tenant-owned querysets are scoped before any view runs. `Heimdall-App` without a bearer
token is refused with 403 on every path. `BearerTokenAuthentication` hands DRF the principal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core import context
from core.auth import Principal
from core.context import Actor
from core.errors import ApiError, error_response, problem_response
from core.middleware import is_oauth_path
from rbac.permissions import MANAGEMENT_PERMISSIONS, Ceiling
from tenants.models import App
from tokens.state import Check, get_state

_SLUG_RE = re.compile(r"^[a-z0-9-]{3,63}$")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class TokenPrincipal(Principal):
    """A verified bearer token's subject, and the App the request acts in."""

    check: Check
    tenant: App
    acting: bool

    @property
    def claims(self) -> dict[str, Any]:
        assert self.check.claims is not None
        return self.check.claims

    @property
    def subject_id(self) -> str:
        return str(self.claims["sub"])

    @property
    def kind(self) -> str:
        return "client" if self.subject_id.startswith("m2m_") else "user"

    @property
    def actor(self) -> Actor:
        if self.acting:
            return Actor("operator", self.subject_id)
        return Actor(self.kind, self.subject_id)

    @property
    def grant_ceiling(self) -> Ceiling | None:
        """What this caller may hand out or manage: what it holds (operators acting: anything)."""
        if self.acting:
            return None
        check = self.check
        assert check.app is not None and check.subject is not None and check.claims is not None
        patterns: tuple[str, ...] = ()
        if not check.claims.get("narrowed"):
            raw = [g for role in check.subject.roles for g in check.app.roles.get(role, ())]
            patterns = tuple(raw) + tuple(check.subject.permissions)
        return Ceiling(granted=check.granted(), patterns=patterns)

    def has(self, permission: str, *, method: str = "GET") -> bool:
        if self.acting:
            operator_permission = "heimdall:apps.read" if method in _SAFE_METHODS else "heimdall:apps.write"
            return self.check.decide(operator_permission)[0] and permission in MANAGEMENT_PERMISSIONS
        return self.check.decide(permission)[0]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Hands DRF the principal that TenantMiddleware already verified."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        raw = request._request
        principal = getattr(raw, "heimdall_principal", None)
        if principal is not None:
            return principal, None
        if getattr(raw, "heimdall_auth_error", None):
            raise exceptions.AuthenticationFailed("invalid_token")
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="heimdall"'


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
                    oauth=is_oauth_path(request),
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


def resolve_principal(token: str, acting_slug: str | None) -> TokenPrincipal | None:
    """The Principal for a bearer token (None when the token is not valid now)."""
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
        if not _SLUG_RE.fullmatch(acting_slug):
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
        return TokenPrincipal(check=check, tenant=target, acting=True)
    app = App.objects.filter(pk=check.app.id).first()
    if app is None:
        return None
    return TokenPrincipal(check=check, tenant=app, acting=False)
