"""The caller of a management request, and the one declarative permission guard.

Views declare what they need as `required_permissions` (see `RequiresPermission`), and the guard
enforces it for every view. Services then apply the finer rules that depend on the target (the
grant ceiling: nobody manages beyond what they hold). `Principal` is the caller as core sees it;
the bearer-token implementation, its middleware and DRF authentication live in `tokens.authn`,
next to the authorization state they need.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from core.context import Actor
from core.errors import permission_denied


class Principal(ABC):
    """A verified caller, and the App (`tenant`, a tenants App) the request acts in."""

    tenant: Any
    acting: bool  # an operator acting inside another App through Heimdall-App

    @property
    @abstractmethod
    def claims(self) -> dict[str, Any]: ...

    @property
    @abstractmethod
    def subject_id(self) -> str: ...

    @property
    @abstractmethod
    def kind(self) -> str:
        """`client` or `user`."""

    @property
    @abstractmethod
    def actor(self) -> Actor: ...

    @property
    @abstractmethod
    def grant_ceiling(self) -> Any:
        """What this caller may hand out or manage (an rbac Ceiling), or None for no limit."""

    @abstractmethod
    def has(self, permission: str, *, method: str = "GET") -> bool:
        """May this caller use `permission` in the request's App?"""

    @property
    def is_authenticated(self) -> bool:  # DRF's IsAuthenticated reads this
        return True


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
