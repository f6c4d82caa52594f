"""Request-scoped context: the request's id, client address, caller and tenant (App).

Set by `core.middleware` for HTTP requests and by `tenant_scope()`/`system_scope()` for management
commands and tests. Context variables keep concurrent threads (gunicorn gthread) apart.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# The tenant is a `tenants.models.App`. core sits below every domain app, so it is held as `Any`
# here; callers in the domain layers know its type.
App = Any

logger = logging.getLogger("heimdall.system_scope")


@dataclass(frozen=True)
class Actor:
    """Who performs a change, as recorded in the audit log."""

    type: str  # user | client | operator | anonymous
    id: str | None = None

    @staticmethod
    def system() -> Actor:
        """The operator at the command line (bootstrap, rotate_signing_keys): no client id."""
        return Actor("operator", None)

    @staticmethod
    def anonymous() -> Actor:
        return Actor("anonymous", None)


@dataclass
class RequestInfo:
    request_id: str = ""
    ip: str | None = None
    user_agent: str | None = None


_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "heimdall_request", default=None
)
_tenant: contextvars.ContextVar[Any] = contextvars.ContextVar("heimdall_tenant", default=None)
# The reason of the innermost system scope, or "" outside one.
_system: contextvars.ContextVar[str] = contextvars.ContextVar("heimdall_system", default="")


def set_request(info: RequestInfo | None) -> contextvars.Token:
    return _request.set(info)


def reset_request(token: contextvars.Token) -> None:
    _request.reset(token)


def request_info() -> RequestInfo:
    return _request.get() or RequestInfo()


def request_id() -> str:
    info = _request.get()
    return info.request_id if info else ""


def current_app() -> App | None:
    """The App whose data the current code may see, or None."""
    return _tenant.get()


def set_tenant(app: App | None) -> contextvars.Token:
    return _tenant.set(app)


def reset_tenant(token: contextvars.Token) -> None:
    _tenant.reset(token)


def in_system_scope() -> bool:
    return bool(_system.get())


def system_scope_reason() -> str:
    """Why the current code sees every App's rows ("" outside a system scope)."""
    return _system.get()


@contextmanager
def tenant_scope(app: App) -> Iterator[App]:
    """Run a block as App `app`: tenant-owned querysets see that App's rows only.

    On PostgreSQL the database enforces the same (core.rls): the next statement runs with
    `heimdall.app_id` set to this App's id, so even a query that escapes the tenant manager sees
    this App's rows only.
    """
    token = _tenant.set(app)
    try:
        yield app
    finally:
        _tenant.reset(token)


@contextmanager
def system_scope(reason: str) -> Iterator[None]:
    """The explicit escape hatch: tenant-owned rows of every App are visible, to the tenant
    manager and (on PostgreSQL) to the row-level-security policies (`heimdall.system`).

    For operator and system code only (bootstrap, the authorization-state cache loaders, lookups
    by a globally unique digest). `reason` says why, in a few words; it is required, kept in context
    (`system_scope_reason()`) and logged at DEBUG on logger `heimdall.system_scope`. It is not an
    audit event: the scopes are entered by code on the hot paths (every cache miss of
    /v1/authorize), not by a person, and the set of reasons is fixed in the source.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("system_scope() needs a reason: say why this code must see every App's rows")
    logger.debug("system scope entered: %s", reason)
    token = _system.set(reason)
    try:
        yield
    finally:
        _system.reset(token)
