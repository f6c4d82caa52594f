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

from core.errors import ApiError, validation_error
from core.ids import looks_like_id

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


# A cursor is the unpadded URL-safe base64 of an id this API issued (core.ids): `prefix_` then
# 26 Crockford base32 characters. Base64 of at most 64 bytes is at most 86 characters.
_CURSOR_RAW_RE = re.compile(r"[A-Za-z0-9_-]{1,86}")
_ID_PREFIX_RE = re.compile(r"[a-z][a-z0-9]{0,7}")


def _cursor_error() -> ApiError:
    return validation_error("cursor", "invalid_cursor", "cursor is not one this API returned")


def decode_cursor(raw: str) -> str:
    """The id a cursor stands for; 400 `validation_error` (field `cursor`) unless `raw` is exactly
    what encode_cursor makes of a well-formed id (printable ASCII, bounded, the id alphabet), so
    nothing else (NUL bytes, control characters, odd Unicode) reaches the database."""
    if not _CURSOR_RAW_RE.fullmatch(raw):
        raise _cursor_error()
    try:
        value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _cursor_error() from None
    prefix = value.partition("_")[0]
    if (
        not _ID_PREFIX_RE.fullmatch(prefix)
        or not looks_like_id(value, prefix)
        or encode_cursor(value) != raw  # one canonical spelling per cursor
    ):
        raise _cursor_error()
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
