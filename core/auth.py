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
    """Enforces the view's `required_permissions[action]` (ViewSets) or `[method]` (APIViews)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated()
        method = request.method or "GET"
        if method != "OPTIONS" and not hasattr(view, method.lower()):
            return True  # DRF answers 405 for a method the view does not serve
        try:
            permission = _requirement(view.required_permissions, _key(method, getattr(view, "action", None)))
        except LookupError:
            raise permission_denied(f"(undeclared for {method})") from None
        if permission is None:
            return True
        if not principal.has(permission, method=method):
            raise permission_denied(permission)
        return True


def _key(method: str, action: str | None) -> str:
    """The `required_permissions` key: the action for a ViewSet, else the method. HEAD is
    answered from the GET action by DRF but stays a key of its own (undeclared: 403), as it is
    for an APIView."""
    return action if action is not None and method != "HEAD" else method


def _requirement(required: dict[str, str | None], key: str) -> str | None:
    if key in required:
        return required[key]
    if "*" in required:
        return required["*"]
    raise LookupError(f"undeclared: {key!r}")


def declared_permission(view: Any, method: str) -> tuple[bool, str | None]:
    """What `RequiresPermission` demands for `method` on a view, without a request.

    `view` is a URL callback (a router's: `.cls` and `.actions`; an APIView's: `.view_class`) or
    an APIView class. Returns `(served, permission)`: served False means DRF answers 405;
    permission None means any valid token. A served method its view does not declare raises
    LookupError (RequiresPermission answers 403 to it).
    """
    from rest_framework.viewsets import ViewSetMixin  # here: DRF's settings import this module

    method = method.upper()
    actions: dict[str, str] | None = getattr(view, "actions", None)
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None) or view
    action: str | None = None
    if actions is not None:  # a ViewSet bound by a router: method -> action
        served_methods = {m.upper() for m in actions} | {"OPTIONS"}
        if "GET" in served_methods:
            served_methods.add("HEAD")
        action = "metadata" if method == "OPTIONS" else actions.get(method.lower())
    elif issubclass(view_class, ViewSetMixin):
        raise TypeError("pass the router's callback for a ViewSet: its actions come from the route")
    else:
        served_methods = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)}
        if "GET" in served_methods:
            served_methods.add("HEAD")  # Django's View.setup answers HEAD with get()
    if method not in served_methods:
        return False, None
    try:
        return True, _requirement(view_class.required_permissions, _key(method, action))
    except LookupError as exc:
        raise LookupError(f"{view_class.__name__}.required_permissions: {exc}") from None


def current_principal(request: Request) -> Principal:
    principal = request.user
    assert isinstance(principal, Principal)
    return principal
