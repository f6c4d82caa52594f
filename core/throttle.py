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

from django.db import transaction
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


def attempt(*, limits: list[Limit], oauth: bool = True) -> list[int]:
    """Count one attempt against each key; 429 `too_many_attempts` (with Retry-After) when a key
    already had its limit in the window. Returns the recorded rows, for `success`."""
    now = timezone.now()
    span = window()
    keys = [limit.key for limit in limits]
    with transaction.atomic():
        rows = ThrottleHit.objects.bulk_create([ThrottleHit(key=key, created_at=now) for key in keys])
    recorded = [row.pk for row in rows if row.pk is not None]
    if not recorded:  # some backends do not return ids from bulk_create
        recorded = list(ThrottleHit.objects.filter(key__in=keys, created_at=now).values_list("pk", flat=True))
    for limit in limits:
        recent = list(
            ThrottleHit.objects.filter(key=limit.key, created_at__gt=now - span)
            .order_by("-created_at", "-pk")
            .values_list("created_at", flat=True)[: limit.max_attempts + 1]
        )
        if len(recent) > limit.max_attempts:
            ThrottleHit.objects.filter(pk__in=recorded).delete()
            # recent[0] is (about) this attempt; once the oldest of the `limit` before it leaves
            # the window, an attempt is let through again.
            retry_after = max(1, int((recent[limit.max_attempts] + span - now).total_seconds()) + 1)
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
    """The credential was good: per-identity counts start over; this attempt no longer counts."""
    ThrottleHit.objects.filter(key__in=[limit.key for limit in limits if limit.reset_on_success]).delete()
    if recorded:
        ThrottleHit.objects.filter(pk__in=recorded).delete()


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
