"""Token exchange (RFC 8693): an agent client trades a user's access token for a narrower,
shorter-lived one that says who is acting.

The agent authenticates as its client, which must have been created with `actsForUsers: true`;
the result grants what the user holds now ∩ the client's `delegablePermissions` ∩ the requested
`scope` (asking beyond that is `invalid_scope`), lives at most the App's
`delegatedTokenTtlSeconds` and never past the subject token, and carries `sub` = the user,
`client_id` = the agent and `act: {"sub": agent}`. It keeps the user's session (`sid`), so it
dies with that session, the user's suspension, the agent's deletion, or any change of the
agent's secret or delegation rights (the `agv` fingerprint, checked by tokens.state). A
delegated token cannot itself be exchanged: chains of agents are refused rather than widened.
"""

from __future__ import annotations

import re
import time
from typing import Any

from audit.actions import Action
from audit.services import audit_record_durable
from core.context import Actor
from core.errors import ApiError, oauth_error
from tokens.grants.base import GrantRequest, authenticated_client, invalid_scope
from tokens.keys import access_token_sign
from tokens.state import get_state

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
MIN_LIFETIME = 1
MAX_LIFETIME = 999_999_999  # nine digits; the App's delegatedTokenTtlSeconds caps it anyway
# expires_in as RFC 6749 forms carry it: ASCII digits only (str.isdigit() also takes "²").
EXPIRES_IN_PATTERN = r"^[0-9]{1,9}$"


def _invalid_request(detail: str) -> ApiError:
    return oauth_error("invalid_request", detail)


def _requested_lifetime(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not re.fullmatch(EXPIRES_IN_PATTERN, raw) or int(raw) < MIN_LIFETIME:
        raise _invalid_request("expires_in must be a positive whole number of seconds.")
    return int(raw)


def token_exchange_grant(request: GrantRequest) -> dict[str, Any]:
    agent = authenticated_client(request)
    state = get_state()
    snapshot = state.app(agent.app_id)
    if snapshot is None or snapshot.status != "active":
        raise oauth_error("unauthorized_client", "This client's App is suspended; it cannot get tokens.")
    if not agent.acts_for_users:
        raise oauth_error(
            "unauthorized_client", "This client may not act for users: create it with actsForUsers: true."
        )
    subject_token = request.get("subject_token")
    if not subject_token:
        raise _invalid_request("subject_token is required (the user's access token).")
    if request.get("subject_token_type") != ACCESS_TOKEN_TYPE:
        raise _invalid_request(f"subject_token_type must be {ACCESS_TOKEN_TYPE}.")
    requested_type = request.get("requested_token_type")
    if requested_type not in (None, "", ACCESS_TOKEN_TYPE):
        raise _invalid_request(f"requested_token_type must be {ACCESS_TOKEN_TYPE}.")
    if request.get("actor_token"):
        raise _invalid_request("actor_token is not supported: the acting client authenticates itself.")
    lifetime = _requested_lifetime(request.get("expires_in"))

    check = state.check(subject_token)
    claims = check.claims
    if not check.ok or claims is None or check.subject is None or check.app is None:
        raise _invalid_request("The subject_token is not a valid, unexpired, unrevoked access token.")
    if check.app.id != agent.app_id:
        raise _invalid_request("The subject_token belongs to another App.")
    if not str(claims["sub"]).startswith("usr_"):
        raise _invalid_request("The subject_token must be a user's access token.")
    if "act" in claims:
        raise _invalid_request("A delegated token cannot be exchanged again.")

    # What the user may do now (capped by the subject token's own scope) ∩ what the agent may
    # ever receive by delegation.
    available = check.granted() & agent.delegable_permissions
    raw_scope = request.get("scope")
    if raw_scope:
        if len(raw_scope) > 8192:
            raise invalid_scope("scope is too long.")
        asked = frozenset(raw_scope.split())
        beyond = sorted(asked - available)
        if beyond:
            raise invalid_scope(
                f"Not delegable for this user and agent: {', '.join(beyond[:10])}. "
                "Ask only for what the user holds and the client may receive."
            )
        granted = asked
    else:
        granted = available

    now = time.time()
    ttl = int(snapshot.settings["delegatedTokenTtlSeconds"])
    if lifetime is not None:
        ttl = min(ttl, lifetime)
    ttl = min(ttl, int(claims["exp"] - now))
    if ttl < MIN_LIFETIME:
        raise _invalid_request("The subject_token expires too soon to delegate.")
    extra: dict[str, Any] = {"agv": agent.delegation_fingerprint}
    if isinstance(claims.get("sid"), str):
        extra["sid"] = claims["sid"]
    token, issued = access_token_sign(
        app=snapshot,
        subject=str(claims["sub"]),
        client_id=agent.id,
        roles=tuple(check.subject.roles),
        scope=granted,
        ttl=ttl,
        narrowed=True,
        act={"sub": agent.id},
        extra=extra,
    )
    # The only write: one autocommitted INSERT, committed before the token is answered.
    audit_record_durable(
        app_id=agent.app_id,
        action=Action.TOKEN_ISSUED,
        actor=Actor("client", agent.id),
        target_type="token",
        target_id=issued["jti"],
        changes={
            "grantType": GRANT_TYPE,
            "subject": claims["sub"],
            "actor": agent.id,
            "scope": issued["scope"],
            "expiresIn": ttl,
        },
    )
    return {
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": issued["scope"],
    }
