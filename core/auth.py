"""The caller of a management request, and the one declarative permission guard.

Views declare what they need as `required_permissions = {"GET": "heimdall:users.read", ...}`;
`RequiresPermission` enforces it for every view. Nothing else in a view checks permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from core.context import Actor
from core.errors import permission_denied
from rbac.permissions import MANAGEMENT_PERMISSIONS, Ceiling

if TYPE_CHECKING:
    from tenants.models import App
    from tokens.state import Check

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Principal:
    """A verified bearer token's subject, and the App the request acts in."""

    check: Check
    tenant: App
    acting: bool  # an operator acting inside another App through Heimdall-App

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
    def is_authenticated(self) -> bool:  # DRF's IsAuthenticated reads this
        return True

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
        """May this caller use `permission` in the request's App?"""
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


class RequiresPermission(permissions.BasePermission):
    """Enforces the view's `required_permissions[method]` (a `heimdall:` permission)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated()
        # Fail closed: a view must declare every method it serves (None = any valid token).
        required: dict[str, str | None] = view.required_permissions
        method = request.method or "GET"
        if method != "OPTIONS" and not hasattr(view, method.lower()):
            return True  # DRF answers 405 for a method the view does not serve
        if method not in required and "*" not in required:
            raise permission_denied(f"(undeclared for {method})")
        permission = required.get(method, required.get("*"))
        if permission is None:
            return True
        if not principal.has(permission, method=request.method or "GET"):
            raise permission_denied(permission)
        return True


def current_principal(request: Request) -> Principal:
    principal = request.user
    assert isinstance(principal, Principal)
    return principal
