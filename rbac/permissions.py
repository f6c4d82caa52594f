"""Permission names, patterns and their expansion. Pure functions: no database access.

A permission is `resource.action` (lowercase `[a-z0-9_-]` on each side). Heimdall's management
permissions live in the reserved `heimdall:` namespace. A role grant is a name or a pattern:
`*`, `resource.*`, `*.action`, or the same forms under `heimdall:` (`heimdall:*`). A pattern never
crosses namespaces: `*` matches the App's declared permissions only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NAMESPACE = "heimdall:"

MANAGEMENT_PERMISSIONS: tuple[str, ...] = (
    "heimdall:users.read",
    "heimdall:users.write",
    "heimdall:roles.read",
    "heimdall:roles.write",
    "heimdall:clients.read",
    "heimdall:clients.write",
    "heimdall:invites.read",
    "heimdall:invites.write",
    "heimdall:audit.read",
    "heimdall:app.read",
    "heimdall:app.write",
)
OPERATOR_PERMISSIONS: tuple[str, ...] = ("heimdall:apps.read", "heimdall:apps.write")

# A client with `actsForUsers` may act for any user of its App, carrying at most its
# `delegablePermissions`. Acting as any user is as much as managing users, so creating such a
# client, turning the flag on or off, or managing (changing, rotating, deleting) a client that has
# it requires holding this permission, on top of every permission in its `delegablePermissions`.
ACTS_FOR_USERS_REQUIRES = "heimdall:users.write"

PERMISSION_PART = r"[a-z0-9_-]{1,64}"
_PART = PERMISSION_PART
PERMISSION_RE = re.compile(rf"^{_PART}\.{_PART}$")
_GRANT_RE = re.compile(rf"^(heimdall:)?(\*|{_PART}\.{_PART}|{_PART}\.\*|\*\.{_PART})$")


def is_permission_name(value: str) -> bool:
    """A declarable permission: `resource.action`, outside the reserved namespace."""
    return bool(PERMISSION_RE.fullmatch(value))


def is_grant(value: str) -> bool:
    """A valid role grant: a permission name or pattern, optionally under `heimdall:`."""
    return bool(_GRANT_RE.fullmatch(value))


def is_pattern(grant: str) -> bool:
    return "*" in grant


def management_permissions(*, operator: bool) -> frozenset[str]:
    perms = set(MANAGEMENT_PERMISSIONS)
    if operator:
        perms.update(OPERATOR_PERMISSIONS)
    return frozenset(perms)


def _matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    resource, _, action = pattern.partition(".")
    n_resource, _, n_action = name.partition(".")
    return (resource == "*" or resource == n_resource) and (action == "*" or action == n_action)


def expand(grants: Iterable[str], *, declared: Iterable[str], management: Iterable[str]) -> frozenset[str]:
    """The concrete permissions `grants` give, against the App's current universe."""
    declared_set = frozenset(declared)
    management_bare = frozenset(p[len(NAMESPACE) :] for p in management)
    result: set[str] = set()
    for grant in grants:
        if grant.startswith(NAMESPACE):
            bare = grant[len(NAMESPACE) :]
            result.update(NAMESPACE + p for p in management_bare if _matches(bare, p))
        elif "*" in grant:
            result.update(p for p in declared_set if _matches(grant, p))
        elif grant in declared_set:
            result.add(grant)
    return frozenset(result)


def undeclared(grants: Iterable[str], *, declared: Iterable[str], management: Iterable[str]) -> list[str]:
    """Exact (non-pattern) grants that name no permission of the App."""
    known = set(declared) | set(management)
    return [g for g in grants if not is_pattern(g) and g not in known]


def covers(held: str, wanted: str) -> bool:
    """Does grant `held` include everything grant `wanted` can ever match (now or later)?"""
    held_ns, wanted_ns = held.startswith(NAMESPACE), wanted.startswith(NAMESPACE)
    if held_ns != wanted_ns:
        return False
    if held_ns:
        held, wanted = held[len(NAMESPACE) :], wanted[len(NAMESPACE) :]
    if held == "*" or held == wanted:
        return True
    if wanted == "*":
        return False
    h_resource, _, h_action = held.partition(".")
    w_resource, _, w_action = wanted.partition(".")
    return (h_resource in ("*", w_resource)) and (h_action in ("*", w_action))


@dataclass(frozen=True)
class Ceiling:
    """What a caller may hand out: the permissions it holds now, and the patterns it holds (so it
    may grant a pattern only when it holds one at least as broad: patterns grow with the App)."""

    granted: frozenset[str]
    patterns: tuple[str, ...]

    def allows(self, grant: str) -> bool:
        if "*" in grant and grant.startswith(NAMESPACE):
            return True  # the heimdall: namespace never grows: its expansion is checked instead
        if "*" in grant:
            return any(covers(held, grant) for held in self.patterns)
        return grant in self.granted or any(covers(held, grant) for held in self.patterns)

    def beyond(self, grants: Iterable[str], expanded: Iterable[str]) -> list[str]:
        """The grants (patterns or names) and expanded permissions this caller does not hold."""
        return sorted({g for g in grants if not self.allows(g)} | (set(expanded) - self.granted))
