"""Opaque, prefixed, time-ordered identifiers (`app_…`, `usr_…`, `evt_…`).

The body is 26 Crockford base32 characters: 48 bits of milliseconds then 80 random bits, so
ordering by id is ordering by creation time. Lists page newest first on the primary key alone.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from functools import partial

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_lock = threading.Lock()
_last = (0, 0)


def new_id(prefix: str) -> str:
    """A new id such as `usr_01jdx5…`; unique and sortable by creation time.

    Within one process ids strictly increase, even inside one millisecond (the random part is
    incremented), so rows written together list in the order they were written.
    """
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        last_millis, last_random = _last
        if millis <= last_millis and last_random < (1 << 80) - 1:
            millis, random_part = last_millis, last_random + 1
        else:
            random_part = secrets.randbits(80)
        _last = (millis, random_part)
    return f"{prefix}_{_encode(millis, 10)}{_encode(random_part, 16)}"


def id_factory(prefix: str) -> Callable[[], str]:
    """A model-field default that mints ids with `prefix` (kept importable for migrations)."""
    return partial(new_id, prefix)


def looks_like_id(value: str, prefix: str) -> bool:
    body = value[len(prefix) + 1 :]
    return value.startswith(prefix + "_") and len(body) == 26 and all(c in _ALPHABET for c in body)
