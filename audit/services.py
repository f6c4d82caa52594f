"""Recording audit events, and the tamper-evident chain they form.

Every write path calls `audit_record` inside its own transaction. That insert is all the hot path
pays (token issuance writes one event per token): the event is stored *unsealed* (`seq`, `hash`
null), and no per-App lock is taken inside the request's transaction.

Sealing makes it tamper-evident. `audit_chain_seal(app_id=...)` runs in its own short
transactions: it locks the App's chain head (`AuditChainHead`, SELECT ... FOR UPDATE), takes the
App's unsealed committed events in id order and gives each the next `seq`, the previous event's
hash as `prev_hash`, and its own `hash` (audit.chain documents the canonical form). Sealers of one
App therefore take turns, and the unique (app, seq) constraint refuses a fork even if they did
not. Verification, export and pruning seal first; `audit_chain_seal_all()` is the periodic
housekeeping (meant to run every few seconds beside the change follower). **The window:** an event is
tamper-evident once sealed, within seconds of its commit; until then it is an ordinary row.

Verification (`audit_chain_verify`) walks the chain in `seq` order from the last prune checkpoint
(or `from_seq`), recomputing each hash and checking each link, then checks that the walk ends at
the head. Retention (`audit_prune`) removes a sealed prefix of the chain, after verifying it, and
keeps the last removed event's seq and hash on the head as the checkpoint verification starts
from. Events are otherwise never deleted (`AuditEvent.delete` raises); pruning is the one path.

The chain shows that the log was altered; it cannot stop a database superuser from rewriting the
whole chain and its head consistently. Keep `lastSeq`/`lastHash` of verifications (or exports)
elsewhere to catch that too.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from audit.actions import Action
from audit.chain import GENESIS_HASH, event_hash
from audit.models import AuditChainHead, AuditEvent
from core import context
from core.context import Actor, system_scope
from core.ids import new_id

logger = logging.getLogger("heimdall.audit")

SEAL_BATCH = 1000  # events sealed per transaction
VERIFY_CHUNK = 1000  # events read per query when walking the chain
EXPORT_CHUNK = 500  # events read per query when exporting
PRUNE_BATCH = 10_000  # events deleted per transaction

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


def _event_fields(
    *,
    app_id: str,
    action: Action,
    actor: Actor,
    target_type: str | None,
    target_id: str | None,
    changes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The columns of a new event (request context from the current request, secrets scrubbed)."""
    if not isinstance(action, Action):
        raise TypeError(f"audit actions are audit.actions.Action members, not {action!r}")
    info = context.request_info()
    return {
        "app_id": app_id,
        "occurred_at": timezone.now(),
        "action": action.value,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "target_type": target_type,
        "target_id": target_id,
        "ip": info.ip,
        "user_agent": (info.user_agent or None) and info.user_agent[:512],
        "request_id": info.request_id or None,
        "changes": _scrub(changes) if changes else None,
    }


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
    if app is not None:
        app_id = app.pk
    if app_id is None:
        raise ValueError("audit_record needs the App (or its id) whose log the event belongs to")
    event = AuditEvent(
        **_event_fields(
            app_id=app_id, action=action, actor=actor, target_type=target_type, target_id=target_id, changes=changes
        )
    )
    with _in_log_of(app_id):
        event.save()
    return event


@contextmanager
def _in_log_of(app_id: str) -> Iterator[None]:
    """Where an event of `app_id` may be written: the current context when it is that App; else
    (an operator's change logged in the target App, a token issued before any App is in context)
    system scope, as the row-level-security policy admits a row of the App in context only."""
    current = context.current_app()
    if current is not None and current.pk == app_id:
        yield
    else:
        with system_scope(reason="audit: the event goes in the log the caller names (an operator's in another App's)"):
            yield


_COLUMNS = (
    "id",
    "app_id",
    "occurred_at",
    "action",
    "actor_type",
    "actor_id",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "request_id",
    "changes",
)


def _field(name: str) -> Field:
    field = AuditEvent._meta.get_field(name)
    assert isinstance(field, Field)
    return field


@functools.cache
def _insert_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(_field(name).column)) for name in _COLUMNS)
    values = ", ".join(["%s"] * len(_COLUMNS))
    return f"INSERT INTO {quote(AuditEvent._meta.db_table)} ({columns}) VALUES ({values})"  # noqa: S608


def audit_record_durable(
    *,
    app_id: str,
    action: Action,
    actor: Actor,
    target_type: str | None = None,
    target_id: str | None = None,
    changes: dict[str, Any] | None = None,
) -> str:
    """Append an event that is a change by itself (an issued token: nothing else is written) and
    return its id only once it is committed. Returns the event's id.

    Outside a transaction (the token endpoint) it is ONE autocommitted INSERT: the database
    commits the statement before it answers, so with `synchronous_commit=on` the event is on disk
    when this returns, and the caller answers only after that. One round trip instead of three
    (BEGIN, INSERT, COMMIT), and none of the ORM's save machinery on the hot path. Inside a
    transaction (tests, or a caller with other changes) it is an ordinary insert of that
    transaction, committed or rolled back with it, like `audit_record`.

    The row is the one `audit_record` writes (same columns, context, scrubbing), unsealed: the
    chain seals it later like any other (audit_chain_seal).
    """
    fields = _event_fields(
        app_id=app_id, action=action, actor=actor, target_type=target_type, target_id=target_id, changes=changes
    )
    event_id = new_id("evt")
    params: list[Any] = [event_id]
    for name in _COLUMNS[1:]:
        value = fields[name]
        if name in ("changes", "occurred_at"):  # JSON and time zone handling as the ORM does them
            value = _field(name).get_db_prep_save(value, connection)
        params.append(value)
    with _in_log_of(app_id), connection.cursor() as cursor:
        cursor.execute(_insert_sql(), params)
    return event_id


# ---- the chain ------------------------------------------------------------------------------------
#
# These functions take an App id and filter by it explicitly, so they run in system_scope(): they
# are called from requests (the App in context), management commands and housekeeping (none).


class AuditChainBroken(RuntimeError):
    """The chain cannot be extended or pruned as stored (see `verification` when set)."""

    def __init__(self, message: str, verification: ChainVerification | None = None) -> None:
        super().__init__(message)
        self.verification = verification


@dataclass(frozen=True)
class ChainVerification:
    """The outcome of walking one App's chain.

    `reason` when invalid: `hash_mismatch` (the event's content no longer matches its hash: it was
    edited), `chain_broken` (the event does not follow the one before it: events were removed or
    rewritten before it), `head_mismatch` (the chain ends before or apart from its recorded head:
    events were removed at the end; no event to name), `beyond_head` (an event claims a position
    past the head), `head_missing` (sealed events exist but their head row is gone).
    """

    valid: bool
    checked_events: int
    from_seq: int
    last_seq: int
    last_hash: str
    first_invalid_event_id: str | None = None
    reason: str | None = None


def _head_locked(app_id: str) -> AuditChainHead:
    """The App's chain head, created on first use, locked until the transaction ends."""
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(app_id=app_id, hash=GENESIS_HASH, checkpoint_hash=GENESIS_HASH)],
        ignore_conflicts=True,
    )
    head = AuditChainHead.objects.select_for_update().get(app_id=app_id)
    if head.sealed_at is None and AuditEvent.objects.filter(app_id=app_id, seq__isnull=False).exists():
        # A fresh head beside sealed events: the head row was deleted. Never restart the chain.
        raise AuditChainBroken(f"the audit chain head of App {app_id} is missing")
    return head


def _seal_batch(app_id: str, limit: int) -> int:
    with system_scope(reason="sealing: one App, named by id, from requests and housekeeping"), transaction.atomic():
        head = _head_locked(app_id)
        events = list(AuditEvent.objects.filter(app_id=app_id, seq__isnull=True).order_by("id")[:limit])
        if not events:
            return 0
        seq, prev = head.seq, head.hash
        for event in events:
            seq += 1
            event.seq, event.prev_hash = seq, prev
            event.hash = prev = event_hash(event, seq=seq, prev_hash=prev)
        # Sealing sets the null chain columns once (`seq IS NULL` in the WHERE); the rows are
        # otherwise never written. Plain executemany: bulk_update's CASE expressions cost ~1 ms a row.
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET seq = %s, prev_hash = %s, hash = %s "  # noqa: S608 - fixed names
                "WHERE id = %s AND app_id = %s AND seq IS NULL",
                [(e.seq, e.prev_hash, e.hash, e.id, app_id) for e in events],
            )
            updated = cursor.rowcount
        if updated != len(events):
            raise AuditChainBroken(f"unsealed events of App {app_id} vanished while being sealed")
        head.seq, head.hash, head.sealed_at = seq, prev, timezone.now()
        head.save(update_fields=["seq", "hash", "sealed_at"])
        return len(events)


def audit_chain_seal(*, app_id: str, batch_size: int = SEAL_BATCH) -> int:
    """Seal the App's unsealed events (committed ones, in id order); returns how many.

    Call it outside a transaction: each batch is its own short transaction holding the App's chain
    head lock, which is all sealers of that App wait on (writers of events never take it).
    """
    sealed = 0
    while True:
        count = _seal_batch(app_id, batch_size)
        sealed += count
        if count < batch_size:
            return sealed


def audit_chain_seal_all() -> dict[str, int]:
    """Seal every App's pending events (periodic housekeeping); returns {app_id: sealed} for the
    Apps that had any. One App's failure is logged and does not stop the others."""
    with system_scope(reason="housekeeping: which Apps have unsealed events"):
        app_ids = list(
            AuditEvent.objects.filter(seq__isnull=True).order_by().values_list("app_id", flat=True).distinct()
        )
    sealed: dict[str, int] = {}
    for app_id in sorted(app_ids):
        try:
            sealed[app_id] = audit_chain_seal(app_id=app_id)
        except Exception:  # housekeeping goes on with the other Apps; verify reports the broken one
            logger.exception("sealing the audit chain of App %s failed", app_id)
    return sealed


def _walk(app_id: str, head: AuditChainHead, from_seq: int | None, to_seq: int) -> ChainVerification:
    start = min(max(head.checkpoint_seq, (from_seq or 1) - 1), to_seq)
    expected_seq = start + 1
    # From the checkpoint (or the very start) the first link is checked too; from a later
    # `from_seq`, the first event's own prev_hash is taken as given.
    expected_prev: str | None = head.checkpoint_hash if start == head.checkpoint_seq else None
    last_hash = expected_prev or ""
    checked = 0

    def outcome(event_id: str | None = None, reason: str | None = None) -> ChainVerification:
        return ChainVerification(
            valid=reason is None,
            checked_events=checked,
            from_seq=start + 1,
            last_seq=expected_seq - 1,
            last_hash=last_hash,
            first_invalid_event_id=event_id,
            reason=reason,
        )

    cursor = start
    while True:
        with system_scope(reason="chain walk: one App, named by id"):
            chunk = list(
                AuditEvent.objects.filter(app_id=app_id, seq__gt=cursor, seq__lte=to_seq).order_by("seq")[
                    :VERIFY_CHUNK
                ]
            )
        for event in chunk:
            assert event.seq is not None and event.prev_hash is not None
            if event.seq != expected_seq or (expected_prev is not None and event.prev_hash != expected_prev):
                return outcome(event.id, "chain_broken")
            if event.hash != event_hash(event, seq=event.seq, prev_hash=event.prev_hash):
                return outcome(event.id, "hash_mismatch")
            checked += 1
            expected_seq += 1
            expected_prev = last_hash = event.hash
        if len(chunk) < VERIFY_CHUNK:
            break
        cursor = chunk[-1].seq or 0
    if to_seq == head.seq:
        if expected_seq - 1 != head.seq or (expected_prev is not None and expected_prev != head.hash):
            return outcome(None, "head_mismatch")
        with system_scope(reason="chain walk: one App, named by id"):
            beyond = AuditEvent.objects.filter(app_id=app_id, seq__gt=head.seq).order_by("seq").first()
        if beyond is not None:
            return outcome(beyond.id, "beyond_head")
    return outcome()


def audit_chain_verify(
    *, app_id: str, from_seq: int | None = None, to_seq: int | None = None, seal: bool = True
) -> ChainVerification:
    """Walk the App's chain from the last prune checkpoint (or `from_seq`, if later) to its head
    (or `to_seq`): each event's hash recomputed, each link and position checked, and the walk
    must end exactly at the head. Seals pending events first unless `seal` is False."""
    try:
        if seal:
            audit_chain_seal(app_id=app_id)
    except AuditChainBroken:
        return ChainVerification(False, 0, 0, 0, "", None, "head_missing")
    for _attempt in range(3):
        with system_scope(reason="chain walk: one App, named by id"):
            head = AuditChainHead.objects.filter(app_id=app_id).first()
            if head is None:
                orphan = AuditEvent.objects.filter(app_id=app_id, seq__isnull=False).order_by("seq").first()
        if head is None:
            if orphan is not None:
                return ChainVerification(False, 0, 0, 0, "", orphan.id, "head_missing")
            return ChainVerification(True, 0, 1, 0, GENESIS_HASH)
        result = _walk(app_id, head, from_seq, head.seq if to_seq is None else min(to_seq, head.seq))
        if result.valid:
            return result
        # A prune that moved the checkpoint during the walk looks like a gap: walk again.
        with system_scope(reason="chain walk: one App, named by id"):
            unchanged = AuditChainHead.objects.filter(app_id=app_id, checkpoint_seq=head.checkpoint_seq).exists()
        if unchanged:
            return result
    return result


def audit_prune(*, app_id: str, older_than: datetime, actor: Actor, batch_size: int = PRUNE_BATCH) -> int:
    """Delete the App's sealed events that occurred before `older_than`; returns how many.

    Only a prefix of the chain goes: up to (not including) the first event at or after
    `older_than`, so the rest stays one unbroken chain. That prefix is verified first (pruning
    must not erase the evidence of tampering: AuditChainBroken, nothing deleted); then each batch,
    in its own transaction, moves the head's checkpoint to its last event and records
    `audit.pruned` in the App's log.
    """
    audit_chain_seal(app_id=app_id)
    with system_scope(reason="prune: one App, named by id, from the command line"):
        head = AuditChainHead.objects.filter(app_id=app_id).first()
        if head is None:
            return 0
        first_kept = (
            AuditEvent.objects.filter(app_id=app_id, seq__gt=head.checkpoint_seq, occurred_at__gte=older_than)
            .order_by("seq")
            .values_list("seq", flat=True)
            .first()
        )
    upto = head.seq if first_kept is None else first_kept - 1
    if upto <= head.checkpoint_seq:
        return 0
    check = audit_chain_verify(app_id=app_id, to_seq=upto, seal=False)
    if not check.valid:
        raise AuditChainBroken(
            f"the audit chain of App {app_id} is invalid at {check.first_invalid_event_id or 'its end'} "
            f"({check.reason}); nothing pruned",
            check,
        )
    deleted = 0
    while True:
        with system_scope(reason="prune: one App, named by id, from the command line"), transaction.atomic():
            head = _head_locked(app_id)
            if head.checkpoint_seq >= upto:
                return deleted
            bound = min(upto, head.checkpoint_seq + batch_size)
            last_hash = AuditEvent.objects.filter(app_id=app_id, seq=bound).values_list("hash", flat=True).first()
            if last_hash is None:
                raise AuditChainBroken(f"event {bound} of App {app_id}'s audit chain is missing; not pruning")
            # The one deletion path of audit events (a queryset delete: AuditEvent.delete refuses).
            count, _ = AuditEvent.objects.filter(
                app_id=app_id, seq__gt=head.checkpoint_seq, seq__lte=bound
            ).delete()
            previous = head.checkpoint_seq
            head.checkpoint_seq, head.checkpoint_hash = bound, last_hash
            head.pruned_count += count
            head.pruned_at = timezone.now()
            head.save(update_fields=["checkpoint_seq", "checkpoint_hash", "pruned_count", "pruned_at"])
            audit_record(
                app_id=app_id,
                action=Action.AUDIT_PRUNED,
                actor=actor,
                changes={
                    "fromSeq": previous + 1,
                    "toSeq": bound,
                    "count": count,
                    "olderThan": older_than.isoformat().replace("+00:00", "Z"),
                },
            )
            deleted += count


def audit_events_export(
    *, app_id: str, since: datetime | None = None, until: datetime | None = None, chunk_size: int | None = None
) -> Iterator[AuditEvent]:
    """The App's events oldest first, read `chunk_size` at a time: sealed events in chain order,
    then those not sealed yet in id order. Seal first (`audit_chain_seal`) for a complete chain.
    `since` <= occurredAt < `until`."""
    size = chunk_size or EXPORT_CHUNK
    with system_scope(reason="export: one App, named by id"):
        events = AuditEvent.objects.filter(app_id=app_id)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)

    def chunk(rows: Any) -> list[AuditEvent]:
        # The scope is left before the rows are yielded to the caller (a response being streamed).
        with system_scope(reason="export: one App, named by id"):
            return list(rows[:size])

    seq = 0
    while True:
        sealed = chunk(events.filter(seq__gt=seq).order_by("seq"))
        yield from sealed
        if len(sealed) < size:
            break
        seq = sealed[-1].seq or 0
    after = ""
    while True:
        pending = chunk(events.filter(seq__isnull=True, id__gt=after).order_by("id"))
        yield from pending
        if len(pending) < size:
            break
        after = pending[-1].id
