"""The audit log: append-only events, one row per authentication event or change."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel


class AuditEventImmutable(RuntimeError):
    """Audit events are never updated or deleted (only their App's deletion removes them)."""


class AuditEvent(TenantModel):
    """What happened, who did it, to what, and from where. Never edited after insert."""

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("evt"), editable=False)
    occurred_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=64)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, null=True, blank=True)
    target_type = models.CharField(max_length=32, null=True, blank=True)
    target_id = models.CharField(max_length=128, null=True, blank=True)
    ip = models.CharField(max_length=64, null=True, blank=True)
    user_agent = models.CharField(max_length=512, null=True, blank=True)
    request_id = models.CharField(max_length=128, null=True, blank=True)
    changes = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["app", "-id"]),
            models.Index(fields=["app", "action", "-id"]),
            models.Index(fields=["app", "actor_id", "-id"]),
            models.Index(fields=["app", "target_id", "-id"]),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditEventImmutable("audit events cannot be modified")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditEventImmutable("audit events cannot be deleted")
