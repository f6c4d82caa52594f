"""Cursor pagination over time-ordered ids: `{"data": [...], "nextCursor": "…" | null}`.

Ids sort by creation time (core.ids), so a page is "the next `limit` rows with an id below the
cursor": stable under concurrent inserts, no offsets, one indexed range scan.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from core.errors import validation_error

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_LIMIT_RE = re.compile(r"^[0-9]{1,3}$")


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    if not _LIMIT_RE.match(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise validation_error("limit", "out_of_range", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> str:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = ""
    if not value or len(value) > 64 or "_" not in value:
        raise validation_error("cursor", "invalid_cursor", "cursor is not one this API returned")
    return value


def paginate(
    queryset: QuerySet,
    params: Any,
    serialize: Callable[[Any], dict[str, Any]],
    *,
    key: str = "pk",
) -> dict[str, Any]:
    """Newest first by `key` (an id column), `limit` rows after `cursor`."""
    limit = parse_limit(params.get("limit"))
    cursor = params.get("cursor")
    queryset = queryset.order_by(f"-{key}")
    if cursor:
        queryset = queryset.filter(**{f"{key}__lt": decode_cursor(cursor)})
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(str(getattr(rows[-1], key))) if more and rows else None
    return {"data": [serialize(row) for row in rows], "nextCursor": next_cursor}
