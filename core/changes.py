"""Typed changes that cached authorization state depends on, and how they are published.

Each owner of a table publishes the change it made as one of the dataclasses below, inside the
transaction of the change: `publish(AppChanged(app_id=...))`. `publish` writes a `StateChange`
row and, on PostgreSQL, queues a NOTIFY that reaches every listening process when (and only if)
the transaction commits. Local listeners (this process's caches) are told at once and again after
commit, so this process never serves a stale answer and a reload that raced the commit is
discarded. The change follower (tokens.sync) turns rows back into these types with `from_row`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import connection, transaction
from django.utils import timezone

from core.models import StateChange

NOTIFY_CHANNEL = "heimdall_state"


@dataclass(frozen=True)
class AppChanged:
    """An App's status, settings, declared permissions, roles or signing keys changed."""

    kind: ClassVar[str] = "app"
    app_id: str

    def row(self) -> tuple[str, str, Any]:
        return self.app_id, "", None


@dataclass(frozen=True)
class SubjectChanged:
    """A token subject (an M2M client or a user's membership) changed or is gone."""

    kind: ClassVar[str] = "subject"
    app_id: str
    subject_id: str

    def row(self) -> tuple[str, str, Any]:
        return self.app_id, self.subject_id, None


@dataclass(frozen=True)
class TokenRevoked:
    """An access token (`jti`) or a whole sign-in session (`sid`) ends before it expires.

    `expires_at` (epoch seconds) is when every token it covers would have expired anyway."""

    kind: ClassVar[str] = "jti"
    app_id: str
    token_id: str
    expires_at: float

    def row(self) -> tuple[str, str, Any]:
        return self.app_id, self.token_id, {"exp": self.expires_at}


Change = AppChanged | SubjectChanged | TokenRevoked
_KINDS: dict[str, type[Change]] = {c.kind: c for c in (AppChanged, SubjectChanged, TokenRevoked)}

Listener = Callable[[Change], None]
_listeners: list[Listener] = []


def from_row(kind: str, app_id: str | None, key: str, data: Any) -> Change | None:
    """A change log row as its typed change (None for a kind this version does not know)."""
    if app_id is None or kind not in _KINDS:
        return None
    if kind == TokenRevoked.kind:
        exp = (data or {}).get("exp") if isinstance(data, dict) else None
        return TokenRevoked(app_id=app_id, token_id=key, expires_at=float(exp or 0) or _far_future())
    if kind == SubjectChanged.kind:
        return SubjectChanged(app_id=app_id, subject_id=key)
    return AppChanged(app_id=app_id)


def _far_future() -> float:
    # A revocation whose expiry was lost is kept for the longest token lifetime (a day).
    return timezone.now().timestamp() + 86_400


def add_listener(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def notify_local(change: Change) -> None:
    for listener in _listeners:
        listener(change)


def publish(change: Change) -> None:
    """Record `change`; call inside the transaction that makes it."""
    app_id, key, data = change.row()
    StateChange.objects.create(kind=change.kind, app_id=app_id, key=key, data=data, created_at=timezone.now())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])
    notify_local(change)
    transaction.on_commit(lambda: notify_local(change))
