"""`refresh_token`: rotate a refresh token for the session's next tokens (RFC 6749 section 6).

Presenting an already-used refresh token ends the whole session (reuse detection)."""

from __future__ import annotations

from typing import Any

from accounts.models import Membership
from accounts.signin import refresh_token_rotate
from core.errors import oauth_error
from tenants.models import App
from tokens.grants.base import GrantRequest, authenticated_client, invalid_client
from tokens.sessions import session_tokens_issue


def refresh_token_grant(request: GrantRequest) -> dict[str, Any]:
    raw = request.get("refresh_token")
    if not raw:
        raise oauth_error("invalid_request", "refresh_token is required.")
    scope = request.get("scope")
    # A client sent along must authenticate (before the token is looked at) and belong to the
    # token's App, checked once the token names it.
    client = authenticated_client(request) if request.has_client else None

    def issue(app: App, membership: Membership, session: str, client_id: str | None, ceiling: str | None) -> dict[str, Any]:
        if client is not None and client.app_id != app.id:
            raise invalid_client("Client authentication failed.")
        return session_tokens_issue(
            app=app,
            membership=membership,
            session=session,
            client_id=client_id,
            scope=scope,
            ceiling=ceiling,
            grant_type="refresh_token",
        )

    return refresh_token_rotate(raw=raw, client_id=client.id if client else None, issue=issue)
