"""Revoking access tokens before they expire (RFC 7009's access-token half)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from audit.actions import Action
from audit.services import audit_record
from core.changes import TokenRevoked, publish
from core.context import Actor, tenant_scope
from tenants.models import App
from tokens.models import RevokedToken


def access_token_revoke(*, app: App, actor: Actor, claims: dict[str, Any]) -> None:
    """Revoke one access token (by its jti) until it would have expired anyway."""
    jti = claims["jti"]
    expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
    with transaction.atomic(), tenant_scope(app):
        _, created = RevokedToken.objects.get_or_create(
            jti=jti, defaults={"app": app, "expires_at": expires_at}
        )
        if not created:
            return
        audit_record(
            app=app,
            action=Action.TOKEN_REVOKED,
            actor=actor,
            target_type="token",
            target_id=jti,
            changes={"subject": claims.get("sub")},
        )
        publish(TokenRevoked(app_id=app.id, token_id=jti, expires_at=float(claims["exp"])))


