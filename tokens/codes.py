"""One-time authorization codes (RFC 6749 section 4.1, PKCE RFC 7636 S256 only).

A layer above (social sign-in) issues a code once it has signed a member in; the token endpoint's
`authorization_code` grant redeems it here, so the code table and its rules live with the tokens
they turn into. A code lives 60 s and is single use: redeeming it a second time is `invalid_grant`
and ends the session the first redemption started (its refresh tokens and, through `sid`, its
access tokens), as RFC 6749 section 4.1.2 advises. A refused redemption burns the code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, RefreshToken
from accounts.services import refresh_tokens_revoke
from audit.actions import Action
from audit.services import audit_record
from core import crypto
from core.context import Actor, system_scope, tenant_scope
from core.errors import ApiError, oauth_error
from core.ids import new_id
from tenants.models import App
from tokens.models import AuthorizationCode
from tokens.sessions import session_tokens_issue
from tokens.state import ClientCredentials

CODE_TTL_SECONDS = 60
_PURGE_AFTER = timedelta(days=1)  # used/expired codes are kept this long for reuse detection
_PREFIX = crypto.SECRET_PREFIXES["authorization_code"]
# RFC 7636: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
PKCE_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def pkce_s256(verifier: str) -> str:
    """The S256 code challenge of `verifier`: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_code_issue(
    *, app: App, membership: Membership, redirect_uri: str, code_challenge: str, via: str
) -> str:
    """A fresh code for `membership` of `app` (shown once; its digest stored), recorded as
    `authorization_code.issued` (without the code). Runs in its own (or the caller's) transaction."""
    raw = crypto.new_secret("authorization_code")
    now = timezone.now()
    with transaction.atomic(), tenant_scope(app):
        AuthorizationCode.objects.filter(expires_at__lt=now - _PURGE_AFTER).delete()
        row = AuthorizationCode.objects.create(
            app=app,
            digest=crypto.secret_digest(raw),
            membership=membership,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            via=via,
            expires_at=now + timedelta(seconds=CODE_TTL_SECONDS),
        )
        audit_record(
            app=app,
            action=Action.AUTHORIZATION_CODE_ISSUED,
            actor=Actor("user", membership.id),
            target_type="authorization_code",
            target_id=row.id,
            changes={"via": via, "redirectUri": redirect_uri, "expiresIn": CODE_TTL_SECONDS},
        )
    return raw


def _invalid_grant(detail: str) -> ApiError:
    return oauth_error("invalid_grant", detail)


def authorization_code_redeem(
    *, raw: str, redirect_uri: str, code_verifier: str | None, client: ClientCredentials | None, scope: Any
) -> dict[str, Any]:
    """Exchange a code for the member's tokens (a new session), or refuse with `invalid_grant`
    (`invalid_request` when the verifier is missing). `client` (already authenticated,
    optional: PKCE protects public clients) must be of the code's App. Every refusal of a code
    that exists burns it and is audited with its reason."""
    digest = crypto.secret_digest(raw) if raw.startswith(_PREFIX) and len(raw) <= 200 else None
    refusal: tuple[str, str] | None = None
    with transaction.atomic():
        row = None
        if digest is not None:
            with system_scope(reason="found by digest; everything after runs in its App"):
                row = (
                    AuthorizationCode.objects.select_for_update(of=("self",))
                    .select_related("app", "membership")
                    .filter(digest=digest)
                    .first()
                )
        if row is None:
            raise _invalid_grant("The authorization code is not valid.")
        error = "invalid_grant"
        app, membership = row.app, row.membership
        now = timezone.now()
        with tenant_scope(app):
            if row.used_at is not None:
                revoked = 0
                if row.session is not None:
                    revoked = refresh_tokens_revoke(tokens=RefreshToken.objects.filter(family=row.session))
                audit_record(
                    app=app,
                    action=Action.AUTHORIZATION_CODE_REUSE_DETECTED,
                    actor=Actor.anonymous(),
                    target_type="authorization_code",
                    target_id=row.id,
                    changes={"session": row.session, "revoked": revoked, "user": membership.id},
                )
                raise_after = _invalid_grant(
                    "This authorization code was already used; what it issued has been revoked. Sign in again."
                )
            else:
                if row.expires_at <= now:
                    refusal = ("expired", "The authorization code has expired. Sign in again.")
                elif client is not None and client.app_id != app.id:
                    refusal = ("wrong_client", "The authorization code was not issued for this client's App.")
                elif not hmac.compare_digest(redirect_uri, row.redirect_uri):
                    refusal = ("redirect_uri_mismatch", "redirect_uri differs from the authorization request's.")
                elif not code_verifier:
                    error = "invalid_request"
                    refusal = ("code_verifier_missing", "code_verifier is required: Heimdall codes are PKCE (S256) bound.")
                elif not PKCE_RE.fullmatch(code_verifier) or not hmac.compare_digest(
                    pkce_s256(code_verifier), row.code_challenge
                ):
                    refusal = ("code_verifier_mismatch", "code_verifier does not match the code_challenge.")
                elif not app.is_active or membership.status != Membership.Status.ACTIVE:
                    refusal = ("suspended", "The account or its App is suspended.")
                row.used_at = now
                if refusal is None:
                    row.session = new_id("ses")
                    row.save(update_fields=["used_at", "session"])
                    return session_tokens_issue(
                        app=app,
                        membership=membership,
                        session=row.session,
                        client_id=client.id if client is not None else None,
                        scope=scope,
                        ceiling=None,
                        grant_type="authorization_code",
                    )
                row.save(update_fields=["used_at"])  # a refused redemption burns the code
                audit_record(
                    app=app,
                    action=Action.AUTHORIZATION_CODE_REDEEM_FAILED,
                    actor=Actor.anonymous(),
                    target_type="authorization_code",
                    target_id=row.id,
                    changes={"reason": refusal[0], "user": membership.id},
                )
                raise_after = oauth_error(error, refusal[1])
    raise raise_after
