"""Who holds a role: answered by the apps that own role holders, registered with rbac.

Users (accounts) and M2M clients (tokens) hold roles, and both sit above rbac in the layers, so
rbac cannot ask them directly. Each registers a query from its models module, which Django always
imports at start-up. Deleting a role asks every *expected* kind of holder; if one has not
registered, the deletion is refused (fail closed) rather than dropping a role that may be held.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import ApiError

# holders(role, limit) -> ids of holders of `role` in the App in context (at most `limit`)
HolderQuery = Callable[[str, int], list[str]]

EXPECTED_HOLDER_KINDS = frozenset({"user", "client"})
_queries: dict[str, HolderQuery] = {}


def role_holders_register(kind: str, query: HolderQuery) -> None:
    if kind not in EXPECTED_HOLDER_KINDS:
        raise ValueError(f"unknown role holder kind {kind!r}; add it to EXPECTED_HOLDER_KINDS")
    _queries[kind] = query


def role_holders(role: str, *, limit: int) -> list[str]:
    """Ids of subjects of the current App holding `role`; 503 if any kind of holder cannot be
    asked (so a role is never deleted on a partial answer)."""
    missing = EXPECTED_HOLDER_KINDS - set(_queries)
    if missing:
        raise ApiError(
            503,
            "role_check_unavailable",
            "Cannot verify that nobody holds this role; nothing was changed. Retry, or report it.",
        )
    found: list[str] = []
    for kind in sorted(_queries):
        found += _queries[kind](role, limit)
    return found[:limit]
