"""Reads of memberships that other apps need (authorization state, role deletion)."""

from __future__ import annotations

from accounts.models import Membership
from core.context import system_scope


def membership_state(*, app_id: str, user_id: str) -> tuple[str, list[str]] | None:
    """(status, roles) of user `user_id` (a membership) of an App, or None."""
    with system_scope():  # authorization-state loader: one membership, by App and identity
        row = Membership.objects.filter(app_id=app_id, pk=user_id).values_list("status", "roles").first()
    return row


def members_holding_role(*, role: str, limit: int) -> list[str]:
    """Ids of users of the current App that hold `role`."""
    return list(
        Membership.objects.filter(roles_index__contains=f",{role},").values_list("id", flat=True)[:limit]
    )
