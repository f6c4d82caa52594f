"""Reads of memberships and sessions that the authorization state (tokens.state) needs."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from accounts.models import Membership, RefreshToken
from core.context import system_scope


def membership_state(*, app_id: str, user_id: str) -> tuple[str, list[str]] | None:
    """(status, roles) of user `user_id` (a membership) of an App, or None."""
    with system_scope(reason="authorization-state loader: one membership, by App and identity"):
        row = Membership.objects.filter(app_id=app_id, pk=user_id).values_list("status", "roles").first()
    return row


def ended_sessions(*, within_seconds: int) -> dict[str, float]:
    """Sign-in sessions (refresh-token families) ended in the last `within_seconds`, each with
    the time (epoch seconds) until which its access tokens must still be refused."""
    since = timezone.now() - timedelta(seconds=within_seconds)
    with system_scope(reason="authorization-state loader: every App's recently ended sessions"):
        rows = (
            RefreshToken.objects.filter(revoked_at__gt=since)
            .values("family")
            .annotate(ended=Max("revoked_at"))
            .values_list("family", "ended")
        )
        return {family: (ended + timedelta(seconds=within_seconds)).timestamp() for family, ended in rows}
