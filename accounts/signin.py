"""Signing members in: the password check with its throttling, and refresh-token rotation.

The grants that call these live in `tokens.grants`; they pass in `issue`, the token service
(`tokens.sessions`), so the check, the rotation and the issuance commit in one transaction while
accounts knows nothing of tokens.

No user enumeration: a wrong password, an unknown email and a non-member get the same
`invalid_grant` body, after the same Argon2id work (an unknown email is verified against a dummy
hash), and all three count towards throttling alike. The App's audit log records them all as
`user.login_failed`; a non-member is recorded as an unknown user, so no App learns who else exists.

Throttling (core.throttle) counts per identity+App (keyed digest of slug and email) and per
client IP and App; an attempt is recorded *before* the password is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, RefreshToken
from accounts.passwords import HASHER, needs_rehash, password_verify
from accounts.services import email_normalize, refresh_tokens_revoke
from audit.actions import Action
from audit.services import audit_record
from core import context, crypto, throttle
from core.conf import heimdall_settings
from core.context import Actor, system_scope, tenant_scope
from core.errors import ApiError, oauth_error
from core.ids import new_id
from tenants.models import App

_GENERIC = "The username, password or app is not correct."

# issue(app, membership, family, client_id, ceiling) -> token response; runs inside the
# transaction that records the sign-in or the rotation.
Issue = Callable[[App, Membership, str, "str | None", "str | None"], dict[str, Any]]


def _invalid_grant(detail: str = _GENERIC) -> ApiError:
    return oauth_error("invalid_grant", detail)


def _identity_key(app_slug: str, email: str) -> str:
    return "id:" + crypto.secret_digest(f"login:{app_slug}:{email}")[:64]


def _ip_key(app_slug: str, ip: str | None) -> str | None:
    # Per App: one tenant's failures (or a load balancer's single address) must not lock
    # password sign-in for every other tenant.
    return "ip:" + crypto.secret_digest(f"ip:{app_slug}:{ip}")[:64] if ip else None


def sign_in_limits(*, app_slug: str, email: str) -> list[throttle.Limit]:
    limits = [
        throttle.Limit(
            _identity_key(app_slug, email), heimdall_settings.LOGIN_MAX_FAILURES_PER_IDENTITY, reset_on_success=True
        )
    ]
    ip_key = _ip_key(app_slug, context.request_info().ip)
    if ip_key:
        limits.append(throttle.Limit(ip_key, heimdall_settings.LOGIN_MAX_FAILURES_PER_IP))
    return limits


# ---- password grant ----------------------------------------------------------------------------


def _who(email: str | None, username: str) -> dict[str, Any]:
    """How a refused sign-in names its username in the audit log: the email when it is one;
    otherwise (it may be a password typed into the wrong field) only a keyed digest."""
    if email is not None:
        return {"email": email}
    return {"email": None, "usernameDigest": crypto.secret_digest(f"username:{username}")[:16]}


def _login_failed(app: App | None, who: dict[str, Any], reason: str, user_id: str | None) -> None:
    if app is None:
        return
    with transaction.atomic():
        audit_record(
            app=app,
            action=Action.USER_LOGIN_FAILED,
            actor=Actor.anonymous(),
            target_type="user",
            target_id=user_id,
            changes={**who, "reason": reason},
        )


def password_sign_in(
    *, app_slug: str, username: str, password: str, issue: Issue, client_id: str | None, app: App | None = None
) -> dict[str, Any]:
    """Check a member's password in App `app_slug` (throttled); on success record the sign-in and
    `issue` the session's tokens in one transaction. `client_id` was authenticated already; `app`
    is the App of that slug when the caller has read it already (None: read here).

    Beyond the Argon2id verification, a successful sign-in costs 10 round trips: the throttle's
    hit (one autocommitted INSERT) and count (one query), the membership, then one transaction
    (BEGIN, the two events and the refresh token, the throttle reset, the last-login update,
    COMMIT). The statements that lock rows other sign-ins also lock (the member's throttle rows,
    the membership) come last, so a sign-in holds those locks only for its COMMIT."""
    try:
        email = email_normalize(username, field="username")
    except ApiError:
        email = None  # not an email: no account can match, but the attempt is counted all the same
    limits = sign_in_limits(app_slug=app_slug[:63], email=email or username.strip().lower()[:254])
    recorded = throttle.attempt(limits=limits)

    if app is None or app.slug != app_slug:
        app = App.objects.filter(slug=app_slug).first() if len(app_slug) <= 63 else None
    membership = None
    if app is not None and email is not None:
        with tenant_scope(app):  # this App's membership of that email, with its own password
            membership = Membership.objects.select_related("identity").filter(identity__email=email).first()
    # Unknown email, non-member, or a member without a password here: the dummy hash does the
    # same Argon2id work, so timing tells nothing either.
    verified = password_verify(membership.password_hash if membership is not None else None, password)
    who = _who(email, username)

    if membership is None or app is None:
        _login_failed(app, who, "unknown_user", None)
        raise _invalid_grant()
    if not verified:
        _login_failed(app, who, "wrong_password", membership.id)
        raise _invalid_grant()
    if not app.is_active or membership.status != Membership.Status.ACTIVE:
        reason = "app_suspended" if not app.is_active else "user_suspended"
        _login_failed(app, who, reason, membership.id)
        raise _invalid_grant()

    updates: dict[str, Any] = {"last_login_at": timezone.now()}
    if membership.password_hash and needs_rehash(membership.password_hash):
        updates["password_hash"] = HASHER.hash(password)
    with transaction.atomic(), tenant_scope(app):
        audit_record(
            app=app,
            action=Action.USER_LOGIN_SUCCEEDED,
            actor=Actor("user", membership.id),
            target_type="user",
            target_id=membership.id,
            changes={"email": email},
        )
        tokens = issue(app, membership, new_id("ses"), client_id, None)
        # Row locks shared with concurrent sign-ins of this member, taken last (see above).
        throttle.success(limits=limits, recorded=recorded)
        Membership.objects.filter(pk=membership.pk, password_hash=membership.password_hash).update(**updates)
        return tokens


# ---- refresh grant -----------------------------------------------------------------------------


def refresh_token_rotate(*, raw: str, client_id: str | None, issue: Issue) -> dict[str, Any]:
    """Rotate a refresh token and `issue` the session's next tokens, in one transaction. A token
    presented twice ends its whole session. `client_id` is the authenticated client, if any."""
    digest = crypto.secret_digest(raw)
    refusal: tuple[str, str] | None = None
    with transaction.atomic():
        with system_scope(reason="the token names its App; it is found by digest"):
            row = (
                RefreshToken.objects.select_for_update()
                .select_related("app", "membership")
                .filter(digest=digest)
                .first()
            )
        if row is None:
            raise _invalid_grant("The refresh token is not valid.")
        app, membership = row.app, row.membership
        now = timezone.now()
        with tenant_scope(app):
            if row.used_at is not None:
                revoked = refresh_tokens_revoke(tokens=RefreshToken.objects.filter(family=row.family))
                audit_record(
                    app=app,
                    action=Action.REFRESH_TOKEN_REUSE_DETECTED,
                    actor=Actor.anonymous(),
                    target_type="user",
                    target_id=membership.id,
                    changes={"session": row.family, "revoked": revoked},
                )
                refusal = (
                    "reused",
                    "This refresh token was already used; its session has ended. Sign in again.",
                )
            elif (
                row.revoked_at is not None
                or row.expires_at <= now
                # A session ended while this token was being rotated leaves it unrevoked: any
                # revoked token in the family means the session is over.
                or RefreshToken.objects.filter(family=row.family, revoked_at__isnull=False).exists()
            ):
                refresh_tokens_revoke(tokens=RefreshToken.objects.filter(family=row.family))
                refusal = ("expired_or_revoked", "The refresh token is expired or revoked. Sign in again.")
            elif not app.is_active or membership.status != Membership.Status.ACTIVE:
                refusal = ("suspended", "The account or its App is suspended.")
            elif row.client_id is not None and client_id != row.client_id:
                refusal = (
                    "wrong_client",
                    "This refresh token belongs to another client; authenticate as it.",
                )
            else:
                row.used_at = now
                row.save(update_fields=["used_at"])
                return issue(app, membership, row.family, client_id, row.scope)
    with transaction.atomic(), tenant_scope(app):
        audit_record(
            app=app,
            action=Action.TOKEN_REFRESH_FAILED,
            actor=Actor.anonymous(),
            target_type="user",
            target_id=membership.id,
            changes={"session": row.family, "reason": refusal[0]},
        )
    raise _invalid_grant(refusal[1])


def refresh_token_revoke(*, caller: Any, token: str) -> bool:
    """RFC 7009 for refresh tokens: end the token's whole session. Holding the token is authority
    enough; an authenticated caller must belong to the token's App."""
    if not token.startswith(crypto.SECRET_PREFIXES["refresh_token"]):
        return False
    with transaction.atomic():
        with system_scope(reason="found by digest, then required to belong to the caller's App"):
            row = (
                RefreshToken.objects.select_related("app", "membership")
                .filter(digest=crypto.secret_digest(token))
                .first()
            )
        if row is None or (caller is not None and row.app_id != caller.app_id):
            return True  # nothing of the caller's to revoke; RFC 7009 answers 200 all the same
        actor = caller.actor if caller is not None else Actor("user", row.membership_id)
        with tenant_scope(row.app):
            count = refresh_tokens_revoke(tokens=RefreshToken.objects.filter(family=row.family))
            if count:
                audit_record(
                    app=row.app,
                    action=Action.REFRESH_TOKEN_REVOKED,
                    actor=actor,
                    target_type="session",
                    target_id=row.family,
                    changes={"revoked": count},
                )
    return True


def refresh_token_create(
    *, app: App, membership: Membership, family: str, client_id: str | None, scope: str | None
) -> tuple[str, int]:
    """A new refresh token of session `family` (shown once; its digest stored). Call inside the
    issuing transaction. Returns (token, lifetime in seconds)."""
    refresh = crypto.new_secret("refresh_token")
    ttl = int(app.setting("refreshTokenTtlSeconds"))
    RefreshToken.objects.create(
        app=app,
        family=family,
        membership=membership,
        digest=crypto.secret_digest(refresh),
        expires_at=timezone.now() + timedelta(seconds=ttl),
        client_id=client_id,
        scope=scope,
    )
    return refresh, ttl


def refresh_token_introspect(*, app_id: str, token: str) -> dict[str, Any] | None:
    if not token.startswith(crypto.SECRET_PREFIXES["refresh_token"]):
        return None
    with system_scope(reason="found by digest, then required to belong to the caller's App"):
        row = (
            RefreshToken.objects.select_related("membership", "app")
            .filter(digest=crypto.secret_digest(token))
            .first()
        )
    if row is None or row.app_id != app_id:
        return None
    active = (
        row.used_at is None
        and row.revoked_at is None
        and row.expires_at > timezone.now()
        and row.app.is_active
        and row.membership.status == Membership.Status.ACTIVE
    )
    if not active:
        return {"active": False}
    answer: dict[str, Any] = {
        "active": True,
        "token_type": "refresh_token",
        "sub": row.membership_id,
        "app": row.app_id,
        "client_id": row.client_id or row.app_id,
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
    }
    if row.scope is not None:
        answer["scope"] = row.scope
    return answer
