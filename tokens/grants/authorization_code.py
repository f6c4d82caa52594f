"""`authorization_code`: redeem a one-time Heimdall code with its PKCE verifier (RFC 6749
section 4.1.3, RFC 7636). Codes come from social sign-in (`/v1/oauth/callback`)."""

from __future__ import annotations

from typing import Any

from core.errors import oauth_error
from tokens.codes import authorization_code_redeem
from tokens.grants.base import GrantRequest, authenticated_client


def authorization_code_grant(request: GrantRequest) -> dict[str, Any]:
    code, redirect_uri, verifier = request.get("code"), request.get("redirect_uri"), request.get("code_verifier")
    if not code or not redirect_uri:
        raise oauth_error("invalid_request", "The authorization_code grant needs code and redirect_uri.")
    # A confidential client sent along authenticates first; public clients rely on PKCE. A
    # missing code_verifier is refused by the redemption, which audits it and burns the code.
    client = authenticated_client(request) if request.has_client else None
    return authorization_code_redeem(
        raw=code, redirect_uri=redirect_uri, code_verifier=verifier, client=client, scope=request.get("scope")
    )
