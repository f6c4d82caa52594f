"""The hash chain of an App's audit log: the canonical form of an event and its hash.

Each App's sealed events form one chain, numbered by `seq` from 1. An event's hash is

    hash = SHA-256(canonical JSON of {
        "id", "app", "seq", "prevHash", "occurredAt", "action", "actor", "target", "context", "changes"
    }) as 64 lowercase hex digits

where `prevHash` is the previous event's `hash` (for seq 1, GENESIS_HASH: 64 zeros), `app` is the
App's id, `occurredAt` is RFC 3339 UTC with a `Z` (microseconds only when non-zero, as the API
writes it), `actor` is `{"type", "id"}`, `target` is `{"type", "id"}` or null, `context` is
`{"ip", "userAgent", "requestId"}` and `changes` is the stored object or null. Canonical JSON is
UTF-8 JSON with keys sorted at every depth, no insignificant whitespace (`,` and `:` separators)
and non-ASCII characters written as themselves: Python's
`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.

So anyone holding an export can recompute every hash: the `hash` of one line is the `prevHash`
of the next.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.serializers import rfc3339

GENESIS_HASH = "0" * 64


def canonical_content(event: Any, *, seq: int, prev_hash: str) -> dict[str, Any]:
    """The hashed fields of `event` (an AuditEvent) at position `seq` after `prev_hash`."""
    target = (
        None
        if event.target_type is None and event.target_id is None
        else {"type": event.target_type, "id": event.target_id}
    )
    return {
        "id": event.id,
        "app": event.app_id,
        "seq": seq,
        "prevHash": prev_hash,
        "occurredAt": rfc3339(event.occurred_at),
        "action": event.action,
        "actor": {"type": event.actor_type, "id": event.actor_id},
        "target": target,
        "context": {"ip": event.ip, "userAgent": event.user_agent, "requestId": event.request_id},
        "changes": event.changes,
    }


def canonical_json(content: dict[str, Any]) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(event: Any, *, seq: int, prev_hash: str) -> str:
    """The hash `event` has (or must have) at position `seq` after `prev_hash`."""
    return hashlib.sha256(canonical_json(canonical_content(event, seq=seq, prev_hash=prev_hash))).hexdigest()
