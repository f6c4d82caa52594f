"""Cursor pagination over time-ordered ids: `{"data": [...], "nextCursor": "…" | null}`.

The cursor is the last id of the page (ids are not secrets: each is in the page itself).

Ids sort by creation time (core.ids), so a page is "the next `limit` rows with an id below the
cursor": stable under concurrent inserts, no offsets, one indexed range scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from core.errors import validation_error

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_LIMIT_RE = re.compile(r"^[0-9]{1,3}$")


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT  # absent; an empty `limit=` is no integer and is refused below
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    if not _LIMIT_RE.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise validation_error("limit", "out_of_range", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(last_id: str) -> str:
    return last_id


# A cursor is the last id of the previous page, as this API issues ids (core.ids): `prefix_` then
# 26 Crockford base32 characters. Any such id pages (rows below it); anything else is refused, so
# nothing else (NUL bytes, control characters, odd Unicode) reaches the database. The document
# gives the same pattern (core.openapi.CURSOR_SCHEMA).
CURSOR_PATTERN = "^[a-z][a-z0-9]{0,7}_[0-9a-hjkmnp-tv-z]{26}$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)


def decode_cursor(raw: str) -> str:
    """The id a cursor stands for; 400 `validation_error` (field `cursor`) unless it is one."""
    if not _CURSOR_RE.fullmatch(raw):
        raise validation_error("cursor", "invalid_cursor", "cursor is not one this API returned")
    return raw


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
