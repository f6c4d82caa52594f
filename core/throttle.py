"""Every limiter Heimdall has, on one table (`ThrottleHit`) shared by all instances.

An attempt is recorded *before* the credential it carries is checked, and withdrawn when it is
refused by the limit (so waiting is enough) or when the credential proves good (`success`). So
concurrent guesses cannot slip past a limit while their hashes are being verified, and every
instance on the database counts the same attempts. Callers choose the keys (keyed digests or ids,
never raw input) and the limit of each.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from core.conf import heimdall_settings
from core.errors import ApiError
from core.models import ThrottleHit


@dataclass(frozen=True)
class Limit:
    key: str
    max_attempts: int
    # Cleared by a success (a per-identity count), or only withdrawn for this attempt (per-IP).
    reset_on_success: bool = False


def window() -> timedelta:
    return timedelta(seconds=heimdall_settings.LOGIN_FAILURE_WINDOW_SECONDS)


def _record(keys: list[str], now: Any) -> list[int]:
    """Insert one hit per key and return their ids: one INSERT, committed on its own when no
    transaction is open (one round trip, where bulk_create would add BEGIN and COMMIT)."""
    quote = connection.ops.quote_name
    table = quote(ThrottleHit._meta.db_table)
    fields = {field.name: field for field in ThrottleHit._meta.concrete_fields}
    key_column, time_column, id_column = (quote(str(fields[name].column)) for name in ("key", "created_at", "id"))
    when = fields["created_at"].get_db_prep_save(now, connection)
    rows = ", ".join(["(%s, %s)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {time_column}) VALUES {rows} RETURNING {id_column}",  # noqa: S608
            [value for key in keys for value in (key, when)],
        )
        return [row[0] for row in cursor.fetchall()]


def _recent(limits: list[Limit], since: Any) -> dict[str, list[Any]]:
    """Per key, the times of its hits after `since`, newest first, at most its limit + 1: one
    query for all the keys (a window function numbers each key's hits)."""
    most = max(limit.max_attempts for limit in limits) + 1
    rows = (
        ThrottleHit.objects.filter(key__in=[limit.key for limit in limits], created_at__gt=since)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("key")], order_by=[F("created_at").desc(), F("pk").desc()])
        )
        .filter(rank__lte=most)
        .values_list("key", "created_at", "rank")
    )
    recent: dict[str, list[Any]] = {}
    for key, created_at, _rank in sorted(rows, key=lambda row: (row[0], row[2])):
        recent.setdefault(key, []).append(created_at)
    return {limit.key: recent.get(limit.key, [])[: limit.max_attempts + 1] for limit in limits}


def attempt(*, limits: list[Limit], oauth: bool = True) -> list[int]:
    """Count one attempt against each key; 429 `too_many_attempts` (with Retry-After) when a key
    already had its limit in the window. Returns the recorded rows, for `success`.

    Two round trips: the hits are inserted and committed first (so concurrent attempts see each
    other), then every key's recent hits are read in one query."""
    now = timezone.now()
    span = window()
    recorded = _record([limit.key for limit in limits], now)
    recent = _recent(limits, now - span)
    for limit in limits:
        times = recent[limit.key]
        if len(times) > limit.max_attempts:
            ThrottleHit.objects.filter(pk__in=recorded).delete()
            # times[0] is (about) this attempt; once the oldest of the `limit` before it leaves
            # the window, an attempt is let through again.
            retry_after = max(1, int((times[limit.max_attempts] + span - now).total_seconds()) + 1)
            raise ApiError(
                429,
                "too_many_attempts",
                f"Too many failed attempts. Retry in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
                oauth=oauth,
            )
    if random.random() < 0.02:
        ThrottleHit.objects.filter(created_at__lt=now - span).delete()
    return recorded


def success(*, limits: list[Limit], recorded: list[int] | None = None) -> None:
    """The credential was good: per-identity counts start over; this attempt no longer counts.
    One DELETE."""
    reset = [limit.key for limit in limits if limit.reset_on_success]
    if not reset and not recorded:
        return
    ThrottleHit.objects.filter(Q(key__in=reset) | Q(pk__in=recorded or [])).delete()


def record_and_count(*, key: str) -> int:
    """Record one event under `key` and return how many came before it in the window (for
    limits that only cap side effects, e.g. audit events of failed client authentications)."""
    now = timezone.now()
    span = window()
    with transaction.atomic():
        recent = ThrottleHit.objects.filter(key=key, created_at__gt=now - span).count()
        ThrottleHit.objects.create(key=key, created_at=now)
        if recent == 0:  # a new window: sweep this key's rows that no window counts any more
            ThrottleHit.objects.filter(key=key, created_at__lte=now - span).delete()
    return recent
