"""Password and refresh-token grants, brute-force throttling, and refresh-token revocation.

No user enumeration: a wrong password, an unknown email and a non-member get the same
`invalid_grant` body, after the same Argon2id work (an unknown email is verified against a dummy
hash), and all three count towards throttling alike. The App's audit log records them all as
`user.login_failed`; a non-member is recorded as an unknown user, so no App learns who else exists.

Throttling state lives in the database (`LoginFailure`), so every instance counts the same
failures: per identity+App (keyed digest of slug and email) and per client IP.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Identity, LoginFailure, Membership, RefreshToken
from accounts.passwords import HASHER, needs_rehash, password_verify
from accounts.services import email_normalize
from audit.services import audit_record
from core import context, crypto
from core.context import Actor, system_scope, tenant_scope
from core.errors import ApiError
from core.ids import new_id
from tenants.models import App
from tokens.oauth import oauth_error
from tokens.services import access_token_sign, requested_scope
from tokens.state import get_state

_GENERIC = "The username, password or app is not correct."


def _invalid_grant(detail: str = _GENERIC) -> ApiError:
    return oauth_error("invalid_grant", detail)


# ---- throttling --------------------------------------------------------------------------------


def _identity_key(app_slug: str, email: str) -> str:
    return "id:" + crypto.secret_digest(f"login:{app_slug}:{email}")[:64]


def _ip_key(ip: str | None) -> str | None:
    return f"ip:{ip}"[:80] if ip else None


def throttle_check(*, identity_key: str, ip_key: str | None) -> None:
    """429 `too_many_attempts` with Retry-After when either key has too many recent failures."""
    conf = settings.HEIMDALL
    window = timedelta(seconds=int(conf["LOGIN_FAILURE_WINDOW_SECONDS"]))
    now = timezone.now()
    since = now - window
    for key, limit in (
        (identity_key, int(conf["LOGIN_MAX_FAILURES_PER_IDENTITY"])),
        (ip_key, int(conf["LOGIN_MAX_FAILURES_PER_IP"])),
    ):
        if key is None:
            continue
        recent = list(
            LoginFailure.objects.filter(key=key, created_at__gt=since)
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:limit]
        )
        if len(recent) >= limit:
            # Allowed again when the oldest of the last `limit` failures leaves the window.
            retry_after = max(1, int((recent[-1] + window - now).total_seconds()) + 1)
            raise ApiError(
                429,
                "too_many_attempts",
                f"Too many failed sign-in attempts. Retry in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
                oauth=True,
            )


def _failure_record(*, identity_key: str, ip_key: str | None) -> None:
    now = timezone.now()
    rows = [LoginFailure(key=identity_key, created_at=now)]
    if ip_key:
        rows.append(LoginFailure(key=ip_key, created_at=now))
    LoginFailure.objects.bulk_create(rows)
    if random.random() < 0.02:  # occasional sweep of rows that no window can still count
        horizon = now - timedelta(seconds=int(settings.HEIMDALL["LOGIN_FAILURE_WINDOW_SECONDS"]))
        LoginFailure.objects.filter(created_at__lt=horizon).delete()


# ---- issuing user tokens -----------------------------------------------------------------------


def _issue(
    *,
    app: App,
    membership: Membership,
    family: str,
    client_id: str | None,
    scope: Any,
    grant_type: str,
) -> dict[str, Any]:
    """Access + refresh token for a member. Call inside the transaction that records it."""
    snapshot = get_state().app(app.id)
    assert snapshot is not None
    roles = tuple(membership.roles)
    granted = snapshot.grants(roles, frozenset())
    scope_set, narrowed = requested_scope(scope, granted)
    ttl = int(snapshot.settings["accessTokenTtlSeconds"])
    token, claims = access_token_sign(
        app=snapshot,
        subject=membership.identity_id,
        client_id=client_id or app.id,
        roles=roles,
        scope=scope_set,
        ttl=ttl,
        narrowed=narrowed,
        extra={"sid": family, "mid": membership.id},
    )
    refresh = crypto.new_secret("refresh_token")
    refresh_ttl = int(snapshot.settings["refreshTokenTtlSeconds"])
    RefreshToken.objects.create(
        app=app,
        family=family,
        membership=membership,
        digest=crypto.secret_digest(refresh),
        expires_at=timezone.now() + timedelta(seconds=refresh_ttl),
    )
    audit_record(
        app=app,
        action="token.issued",
        actor=Actor("user", membership.identity_id),
        target_type="token",
        target_id=claims["jti"],
        changes={"grantType": grant_type, "scope": claims["scope"], "expiresIn": ttl, "session": family},
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "scope": claims["scope"],
    }


def _client_for(app: App, creds: tuple[str, str] | None) -> str | None:
    """A confidential client sent with a user grant must authenticate and belong to the App."""
    if creds is None:
        return None
    from tokens.services import client_authenticate

    client = client_authenticate(client_id=creds[0], client_secret=creds[1])
    if client is None or client.app_id != app.id:
        raise oauth_error("invalid_client", "Client authentication failed.", status=401)
    return client.id


# ---- password grant ----------------------------------------------------------------------------


def password_grant(
    request: HttpRequest, params: dict[str, str], creds: tuple[str, str] | None
) -> dict[str, Any]:
    username, password, app_slug = params.get("username"), params.get("password"), params.get("app")
    if not username or password is None or not app_slug:
        raise oauth_error(
            "invalid_request", "The password grant needs username, password and app (the App slug)."
        )
    try:
        email = email_normalize(username, field="username")
    except ApiError:
        email = username.strip().lower()[:254]
    identity_key = _identity_key(app_slug[:63], email)
    ip_key = _ip_key(context.request_info().ip)
    throttle_check(identity_key=identity_key, ip_key=ip_key)

    app = App.objects.filter(slug=app_slug).first() if len(app_slug) <= 63 else None
    with system_scope():  # identities are global; membership is checked against the App below
        identity = Identity.objects.filter(email=email).first()
    verified = password_verify(identity.password_hash if identity else None, password)
    membership = None
    if app is not None and identity is not None:
        with tenant_scope(app):
            membership = Membership.objects.filter(identity=identity).first()

    if not verified or membership is None or app is None:
        with transaction.atomic():
            _failure_record(identity_key=identity_key, ip_key=ip_key)
            if app is not None:
                known = membership is not None
                audit_record(
                    app=app,
                    action="user.login_failed",
                    actor=Actor.anonymous(),
                    target_type="user" if known else None,
                    target_id=membership.identity_id if known else None,  # type: ignore[union-attr]
                    changes={"email": email, "reason": "wrong_password" if known else "unknown_user"},
                )
        raise _invalid_grant()

    assert identity is not None
    client_id = _client_for(app, creds)
    refusal = None
    if not app.is_active:
        refusal = ("app_suspended", "This App is suspended; nobody can sign in to it.")
    elif membership.status != Membership.Status.ACTIVE:
        refusal = ("user_suspended", "This account is suspended in this App.")
    if refusal is not None:
        with transaction.atomic():
            audit_record(
                app=app,
                action="user.login_failed",
                actor=Actor.anonymous(),
                target_type="user",
                target_id=identity.id,
                changes={"email": email, "reason": refusal[0]},
            )
        raise _invalid_grant(refusal[1])

    with transaction.atomic(), tenant_scope(app):
        LoginFailure.objects.filter(key=identity_key).delete()
        if identity.password_hash and needs_rehash(identity.password_hash):
            Identity.objects.filter(pk=identity.pk, password_hash=identity.password_hash).update(
                password_hash=HASHER.hash(password)
            )
        Membership.objects.filter(pk=membership.pk).update(last_login_at=timezone.now())
        audit_record(
            app=app,
            action="user.login_succeeded",
            actor=Actor("user", identity.id),
            target_type="user",
            target_id=identity.id,
            changes={"email": email},
        )
        return _issue(
            app=app,
            membership=membership,
            family=new_id("ses"),
            client_id=client_id,
            scope=params.get("scope"),
            grant_type="password",
        )


# ---- refresh grant -----------------------------------------------------------------------------


def refresh_grant(
    request: HttpRequest, params: dict[str, str], creds: tuple[str, str] | None
) -> dict[str, Any]:
    """Rotate a refresh token. A token presented twice revokes its whole family."""
    raw = params.get("refresh_token")
    if not raw:
        raise oauth_error("invalid_request", "refresh_token is required.")
    digest = crypto.secret_digest(raw)
    refusal: str | None = None
    with transaction.atomic():
        with system_scope():  # the token names its App; it is found by digest
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
                revoked = RefreshToken.objects.filter(family=row.family, revoked_at__isnull=True).update(
                    revoked_at=now
                )
                audit_record(
                    app=app,
                    action="refresh_token.reuse_detected",
                    actor=Actor.anonymous(),
                    target_type="user",
                    target_id=membership.identity_id,
                    changes={"session": row.family, "revoked": revoked},
                )
                refusal = "This refresh token was already used; its session has been revoked. Sign in again."
            elif row.revoked_at is not None or row.expires_at <= now:
                refusal = "The refresh token is expired or revoked. Sign in again."
            elif not app.is_active or membership.status != Membership.Status.ACTIVE:
                refusal = "The account or its App is suspended."
            else:
                client_id = _client_for(app, creds)
                row.used_at = now
                row.save(update_fields=["used_at"])
                return _issue(
                    app=app,
                    membership=membership,
                    family=row.family,
                    client_id=client_id,
                    scope=params.get("scope"),
                    grant_type="refresh_token",
                )
    raise _invalid_grant(refusal)


def refresh_token_revoke(*, caller: Any, token: str) -> bool:
    """RFC 7009 for refresh tokens: revoke the token's whole session (family). Holding the token
    is authority enough; an authenticated caller must belong to the token's App."""
    if not token.startswith(crypto.SECRET_PREFIXES["refresh_token"]):
        return False
    with transaction.atomic():
        with system_scope():  # found by digest, then required to belong to the caller's App
            row = (
                RefreshToken.objects.select_related("app", "membership")
                .filter(digest=crypto.secret_digest(token))
                .first()
            )
        if row is None or (caller is not None and row.app_id != caller.app_id):
            return True  # nothing of the caller's to revoke; RFC 7009 answers 200 all the same
        actor = caller.actor if caller is not None else Actor("user", row.membership.identity_id)
        with tenant_scope(row.app):
            count = RefreshToken.objects.filter(family=row.family, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            if count:
                audit_record(
                    app=row.app,
                    action="refresh_token.revoked",
                    actor=actor,
                    target_type="session",
                    target_id=row.family,
                    changes={"revoked": count},
                )
    return True


def refresh_token_introspect(*, app_id: str, token: str) -> dict[str, Any] | None:
    if not token.startswith(crypto.SECRET_PREFIXES["refresh_token"]):
        return None
    with system_scope():  # found by digest, then required to belong to the caller's App
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
    return {
        "active": True,
        "token_type": "refresh_token",
        "sub": row.membership.identity_id,
        "app": row.app_id,
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
    }
