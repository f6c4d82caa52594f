"""Publishing changes that cached authorization state depends on.

`publish_change` writes a `StateChange` row inside the caller's transaction and, on PostgreSQL,
queues a NOTIFY that is delivered to every listening process when (and only if) the transaction
commits. Local listeners (this process's caches) are told at once and again after commit, so this
process never serves a stale answer and a reload that raced the commit is discarded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.models import StateChange

NOTIFY_CHANNEL = "heimdall_state"

Listener = Callable[[str, str | None, str, Any], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def notify_local(kind: str, app_id: str | None, key: str, data: Any) -> None:
    for listener in _listeners:
        listener(kind, app_id, key, data)


def publish_change(*, kind: str, app_id: str | None, key: str = "", data: Any = None) -> None:
    """Record that cached state of `kind` changed; call inside the change's transaction."""
    StateChange.objects.create(kind=kind, app_id=app_id, key=key, data=data, created_at=timezone.now())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])
    notify_local(kind, app_id, key, data)
    transaction.on_commit(lambda: notify_local(kind, app_id, key, data))
