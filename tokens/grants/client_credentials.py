"""`client_credentials`: an M2M client gets an access token for itself (RFC 6749 section 4.4)."""

from __future__ import annotations

from typing import Any

from audit.actions import Action
from audit.services import audit_record_durable
from core.context import Actor
from core.errors import oauth_error
from tokens.grants.base import GrantRequest, authenticated_client, requested_scope
from tokens.keys import access_token_sign
from tokens.state import get_state


def client_credentials_grant(request: GrantRequest) -> dict[str, Any]:
    """Authenticate the client and issue it an access token.

    The `token.issued` event is the only write, so it is one autocommitted INSERT
    (`audit_record_durable`): the token is returned only after its event is committed (durable
    with `synchronous_commit=on`); if the insert fails, the request fails and the signed token is
    never shown. Revocation needs no row here: it goes by the token's `jti`, which is the event's
    target."""
    client = authenticated_client(request)
    snapshot = get_state().app(client.app_id)
    if snapshot is None or snapshot.status != "active":
        raise oauth_error("unauthorized_client", "This client's App is suspended; it cannot get tokens.")
    granted = snapshot.grants(tuple(client.roles), frozenset(client.permissions))
    scope_set, narrowed = requested_scope(request.get("scope"), granted)
    ttl = client.access_token_ttl_seconds or int(snapshot.settings["m2mTokenTtlSeconds"])
    token, claims = access_token_sign(
        app=snapshot,
        subject=client.id,
        client_id=client.id,
        roles=client.roles,
        scope=scope_set,
        ttl=ttl,
        narrowed=narrowed,
    )
    audit_record_durable(
        app_id=client.app_id,
        action=Action.TOKEN_ISSUED,
        actor=Actor("client", client.id),
        target_type="token",
        target_id=claims["jti"],
        changes={"grantType": "client_credentials", "scope": claims["scope"], "expiresIn": ttl},
    )
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": claims["scope"]}
