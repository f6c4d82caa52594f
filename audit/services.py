"""Recording audit events. Every write path calls `audit_record` inside its own transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from core import context
from core.context import Actor

# Keys whose values must never reach the log, at any depth of `changes`.
_SECRET_KEYS = {
    "password",
    "newpassword",
    "currentpassword",
    "clientsecret",
    "client_secret",
    "secret",
    "token",
    "refreshtoken",
    "refresh_token",
    "accesstoken",
    "access_token",
    "privatekey",
}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("[redacted]" if k.lower().replace("-", "") in _SECRET_KEYS else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def audit_record(
    *,
    app: Any = None,
    app_id: str | None = None,
    action: Action,
    actor: Actor,
    target_type: str | None = None,
    target_id: str | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to `app`'s log (`app` is the tenants App; typed loosely, as audit sits
    below tenants in the layers). Must run inside the transaction of the change it records.

    Request context (ip, user agent, request id) is taken from the current request. Values under
    secret-looking keys in `changes` are redacted as a second line of defence.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the transaction of its change")
    if not isinstance(action, Action):
        raise TypeError(f"audit actions are audit.actions.Action members, not {action!r}")
    info = context.request_info()
    if app is not None:
        app_id = app.pk
    if app_id is None:
        raise ValueError("audit_record needs the App (or its id) whose log the event belongs to")
    event = AuditEvent(
        app_id=app_id,
        occurred_at=timezone.now(),
        action=action.value,
        actor_type=actor.type,
        actor_id=actor.id,
        target_type=target_type,
        target_id=target_id,
        ip=info.ip,
        user_agent=(info.user_agent or None) and info.user_agent[:512],
        request_id=info.request_id or None,
        changes=_scrub(changes) if changes else None,
    )
    event.save()
    return event
