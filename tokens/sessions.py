"""Starting and continuing a member's sign-in session: the one service that issues user tokens.

Every grant that signs a user in (password and refresh today; invites, social sign-in and token
exchange next) ends here, inside the transaction that records why: an RFC 9068 access token
carrying the session id (`sid`), a rotated refresh token, and the `token.issued` event.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Membership
from accounts.signin import refresh_token_create
from audit.actions import Action
from audit.services import audit_record
from core.context import Actor
from tenants.models import App
from tokens.grants.base import requested_scope
from tokens.keys import access_token_sign
from tokens.state import get_state


def session_tokens_issue(
    *,
    app: App,
    membership: Membership,
    session: str,
    client_id: str | None,
    scope: Any,
    ceiling: str | None,
    grant_type: str,
) -> dict[str, Any]:
    """Access + refresh token for a member in `session`. Call inside the transaction that
    records the sign-in. `ceiling` is the session's narrowed scope (refreshes never widen it);
    `scope` is what this request asks for (any explicit scope caps the token)."""
    snapshot = get_state().app(app.id)
    assert snapshot is not None
    roles = tuple(membership.roles)
    granted = snapshot.grants(roles, frozenset())
    if ceiling is not None:
        granted = granted & frozenset(ceiling.split())
    scope_set, narrowed = requested_scope(scope, granted)
    narrowed = narrowed or ceiling is not None
    ttl = int(snapshot.settings["accessTokenTtlSeconds"])
    token, claims = access_token_sign(
        app=snapshot,
        subject=membership.id,
        client_id=client_id or app.id,
        roles=roles,
        scope=scope_set,
        ttl=ttl,
        narrowed=narrowed,
        extra={"sid": session},
    )
    refresh, _ = refresh_token_create(
        app=app,
        membership=membership,
        family=session,
        client_id=client_id,
        scope=claims["scope"] if narrowed else None,
    )
    audit_record(
        app=app,
        action=Action.TOKEN_ISSUED,
        actor=Actor("user", membership.id),
        target_type="token",
        target_id=claims["jti"],
        changes={"grantType": grant_type, "scope": claims["scope"], "expiresIn": ttl, "session": session},
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "scope": claims["scope"],
    }
