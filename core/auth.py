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
    """Enforces the view's `required_permissions[action]` (ViewSets) or `[method]` (APIViews)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        method = request.method or "GET"
        if method != "OPTIONS" and not hasattr(view, method.lower()):
            return True  # DRF answers 405 for a method the view does not serve, token or not
        principal = request.user
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated()
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
