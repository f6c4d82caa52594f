"""JSON input that cannot hurt: no NUL characters (PostgreSQL refuses them in text and jsonb, so
they would surface as 500s) and no nesting deep enough to exhaust the stack.

`JSONParser` is the only DRF parser; `core.views.parse_json_object` (the lean endpoints) applies
the same rules through `scan`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import exceptions, parsers

NUL = "\x00"
# Far above any legitimate body of this API (metadata included), far below the recursion limit.
MAX_DEPTH = 64
NUL_MESSAGE = "must not contain NUL characters or unpaired UTF-16 surrogates"


def unstorable(text: str) -> bool:
    """Text no database takes: a NUL, or a lone surrogate (JSON's "\\ud800"), which is not
    Unicode that UTF-8 can encode."""
    if NUL in text:
        return True
    if text.isascii():  # O(1) in CPython: ASCII holds no surrogate
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class TooDeep(ValueError):
    """The JSON nests containers more than MAX_DEPTH levels."""


def printable(name: str) -> str:
    """A name safe to echo in an error: NUL shown as the JSON escape `\\u0000`."""
    return name.replace(NUL, "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def scan(data: Any) -> str | None:
    """The path (`a.b[2]`, "body" for the top level) of the first string, key or value, that
    contains NUL; None when there is none. Raises TooDeep beyond MAX_DEPTH. Iterative, so a
    deep document cannot exhaust the stack here."""
    if type(data) is dict:
        flat = _scan_flat(data)
        if flat is not _NOT_FLAT:
            return flat
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if unstorable(value):
                return path or "body"
        elif isinstance(value, Mapping):
            if depth >= MAX_DEPTH:
                raise TooDeep(f"JSON nests more than {MAX_DEPTH} levels")
            children = []
            for key, item in value.items():
                name = f"{path}.{printable(str(key))}" if path else printable(str(key))
                if isinstance(key, str) and unstorable(key):
                    return name
                children.append((item, name, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                raise TooDeep(f"JSON nests more than {MAX_DEPTH} levels")
            stack.extend(reversed([(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]))
    return None


_NOT_FLAT: Any = object()
_SCALARS = (str, int, float, bool, type(None))


def _scan_flat(data: dict[Any, Any]) -> str | None:
    """`scan` of the common body, one object of scalars (every hot endpoint's), in the same order
    (keys first, then string values) without building a path per key; _NOT_FLAT otherwise."""
    for key, value in data.items():
        if type(key) is not str or type(value) not in _SCALARS:
            return _NOT_FLAT
    for key in data:
        if unstorable(key):
            return printable(key)
    for key, value in data.items():
        if type(value) is str and unstorable(value):
            return printable(key) or "body"
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing deep nesting (ParseError -> 400 malformed_json) and NUL
    characters anywhere (ValidationError naming the field -> 400 validation_error)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            where = scan(data)
        except (RecursionError, TooDeep) as exc:
            raise exceptions.ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels") from exc
        if where is not None:
            raise exceptions.ValidationError({where: [NUL_MESSAGE]}, code="nul_character")
        return data
