"""The audit log: append-only events, one row per authentication event or change, hash-chained
per App once sealed (audit.chain, audit.services)."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.ids import id_factory
from core.tenancy import TenantModel


class AuditEventImmutable(RuntimeError):
    """Audit events are never updated or deleted (only their App's deletion removes them)."""


class AuditEvent(TenantModel):
    """What happened, who did it, to what, and from where. Never edited after insert.

    Every token issuance inserts one row, so each index here is paid on the hot path (and again
    when the row is sealed: that UPDATE changes indexed columns, so it is not HOT). The indexes
    are exactly what the queries need (migration 0003_audit_index_diet says which query uses
    which); anything else is left out:

    - the primary key (`id`, time-ordered): single-row access, and the id order of everything;
    - `(app, -id)`: the list API's default page, newest first, and deleting an App's events
      (so the foreign key needs no index of its own: `db_index=False` on `app`);
    - `(app, action, -id)`, `(app, actor_id, -id)`, `(app, target_id, -id)`: the list API's
      filters, each selective enough that a scan of the App's whole log would be the alternative;
    - `audit_event_unsealed`, partial: the sealer's work queue;
    - `(app, seq)` unique, partial on sealed rows (unsealed rows have no position, so they do not
      enter it at insert): the chain walk, export and prune, and the no-fork guarantee;
    - on PostgreSQL, a BRIN index on `occurred_at` (since/until filters, prune by age): rows are
      appended in time order, so a few summary pages serve time ranges, and an insert into an
      unsummarised range costs nothing. On PostgreSQL no `varchar_pattern_ops` copies of `id`
      and `app_id` either: nothing searches them with LIKE.
    """

    id = models.CharField(primary_key=True, max_length=40, default=id_factory("evt"), editable=False)
    # Covered by the (app, -id) index below.
    app = models.ForeignKey("tenants.App", on_delete=models.CASCADE, related_name="+", db_index=False)
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=64)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, null=True, blank=True)
    target_type = models.CharField(max_length=32, null=True, blank=True)
    target_id = models.CharField(max_length=128, null=True, blank=True)
    ip = models.CharField(max_length=64, null=True, blank=True)
    user_agent = models.CharField(max_length=512, null=True, blank=True)
    request_id = models.CharField(max_length=128, null=True, blank=True)
    changes = models.JSONField(null=True, blank=True)
    # The chain (audit.chain): null until the event is sealed, then set once by
    # audit.services.audit_chain_seal and never changed.
    seq = models.BigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["app", "-id"]),
            models.Index(fields=["app", "action", "-id"]),
            models.Index(fields=["app", "actor_id", "-id"]),
            models.Index(fields=["app", "target_id", "-id"]),
            # The sealer's work queue: small, as events are sealed within seconds.
            models.Index(fields=["app", "id"], condition=models.Q(seq__isnull=True), name="audit_event_unsealed"),
        ]
        constraints = [
            # Two sealers can never give two events one position: the chain cannot fork.
            # Partial: an unsealed event (seq null) has no position and costs no entry here.
            models.UniqueConstraint(
                fields=["app", "seq"], condition=models.Q(seq__isnull=False), name="audit_event_app_seq_unique"
            ),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditEventImmutable("audit events cannot be modified")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditEventImmutable("audit events cannot be deleted")


class AuditChainHead(TenantModel):
    """The end of one App's chain, locked (SELECT ... FOR UPDATE) by whoever extends or prunes it.

    `seq`/`hash`: the last sealed event (0 and the genesis hash before any). `checkpoint_seq`/
    `checkpoint_hash`: the last pruned event, where verification starts; `pruned_count` events
    were removed by retention in all.
    """

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    checkpoint_seq = models.BigIntegerField(default=0)
    checkpoint_hash = models.CharField(max_length=64)
    pruned_count = models.BigIntegerField(default=0)
    sealed_at = models.DateTimeField(null=True)
    pruned_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app"], name="audit_chain_head_app_unique")]
