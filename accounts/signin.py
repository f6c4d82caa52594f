"""Password and refresh-token grants, brute-force throttling, and refresh-token revocation.

No user enumeration: a wrong password, an unknown email and a non-member get the same
`invalid_grant` body, after the same Argon2id work (an unknown email is verified against a dummy
hash), and all three count towards throttling alike. The App's audit log records them all as
`user.login_failed`; a non-member is recorded as an unknown user, so no App learns who else exists.

Throttling state lives in the database (`LoginFailure`), so every instance counts the same
attempts: per identity+App (keyed digest of slug and email) and per client IP. An attempt is
recorded *before* the password is checked and withdrawn when it succeeds, so concurrent guesses
cannot slip past the limit while their hashes are being verified.
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
from accounts.services import email_normalize, refresh_tokens_revoke
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


def _window() -> timedelta:
    return timedelta(seconds=int(settings.HEIMDALL["LOGIN_FAILURE_WINDOW_SECONDS"]))


def _limit(key: str) -> int:
    conf = settings.HEIMDALL
    if key.startswith("ip:"):
        return int(conf["LOGIN_MAX_FAILURES_PER_IP"])
    return int(conf["LOGIN_MAX_FAILURES_PER_IDENTITY"])


def throttle_attempt(*, keys: list[str], oauth: bool = True) -> list[int]:
    """Count one attempt against each key, *before* the credential is checked.

    429 `too_many_attempts` (with Retry-After) when a key already has its limit of attempts in
    the window; that refused attempt is withdrawn, so waiting is enough to get through. Returns
    the ids of the recorded attempts, for `throttle_success`.
    """
    now = timezone.now()
    window = _window()
    with transaction.atomic():
        rows = LoginFailure.objects.bulk_create([LoginFailure(key=key, created_at=now) for key in keys])
    recorded = [row.pk for row in rows if row.pk is not None]
    if not recorded:  # some backends do not return ids from bulk_create
        recorded = list(
            LoginFailure.objects.filter(key__in=keys, created_at=now).values_list("pk", flat=True)
        )
    for key in keys:
        limit = _limit(key)
        recent = list(
            LoginFailure.objects.filter(key=key, created_at__gt=now - window)
            .order_by("-created_at", "-pk")
            .values_list("created_at", flat=True)[: limit + 1]
        )
        if len(recent) > limit:
            LoginFailure.objects.filter(pk__in=recorded).delete()
            # recent[0] is (about) this attempt; once the oldest of the `limit` before it leaves
            # the window, an attempt is let through again.
            retry_after = max(1, int((recent[limit] + window - now).total_seconds()) + 1)
            raise ApiError(
                429,
                "too_many_attempts",
                f"Too many failed sign-in attempts. Retry in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
                oauth=oauth,
            )
    if random.random() < 0.02:  # an occasional sweep of rows no window can still count
        LoginFailure.objects.filter(created_at__lt=now - window).delete()
    return recorded


def throttle_success(*, keys: list[str], recorded: list[int] | None = None) -> None:
    """A success resets the identity's count; the attempt no longer counts against the IP."""
    LoginFailure.objects.filter(key__in=[k for k in keys if not k.startswith("ip:")]).delete()
    if recorded:
        LoginFailure.objects.filter(pk__in=recorded).delete()


def _identity_key(app_slug: str, email: str) -> str:
    return "id:" + crypto.secret_digest(f"login:{app_slug}:{email}")[:64]


def _ip_key(ip: str | None) -> str | None:
    return f"ip:{ip}"[:80] if ip else None


# ---- issuing user tokens -----------------------------------------------------------------------


def _issue(
    *,
    app: App,
    membership: Membership,
    family: str,
    client_id: str | None,
    scope: Any,
    ceiling: str | None,
    grant_type: str,
) -> dict[str, Any]:
    """Access + refresh token for a member. Call inside the transaction that records it.

    `ceiling` is the narrowed scope of the session (refreshes never widen it)."""
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
        extra={"sid": family},
    )
    refresh = crypto.new_secret("refresh_token")
    refresh_ttl = int(snapshot.settings["refreshTokenTtlSeconds"])
    RefreshToken.objects.create(
        app=app,
        family=family,
        membership=membership,
        digest=crypto.secret_digest(refresh),
        expires_at=timezone.now() + timedelta(seconds=refresh_ttl),
        client_id=client_id,
        scope=claims["scope"] if narrowed else None,
    )
    audit_record(
        app=app,
        action="token.issued",
        actor=Actor("user", membership.id),
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


def _login_failed(app: App | None, email: str, reason: str, user_id: str | None) -> None:
    if app is None:
        return
    with transaction.atomic():
        audit_record(
            app=app,
            action="user.login_failed",
            actor=Actor.anonymous(),
            target_type="user",
            target_id=user_id,
            changes={"email": email, "reason": reason},
        )


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
        email = None  # not an email: no account can match, but the attempt is counted all the same
    keys = [_identity_key(app_slug[:63], email or username.strip().lower()[:254])]
    ip_key = _ip_key(context.request_info().ip)
    if ip_key:
        keys.append(ip_key)
    recorded = throttle_attempt(keys=keys)

    app = App.objects.filter(slug=app_slug).first() if len(app_slug) <= 63 else None
    with system_scope():  # identities are global; membership is checked against the App below
        identity = Identity.objects.filter(email=email).first() if email else None
    # A password another App's admin chose is no password here: it is checked like a missing one
    # (against the dummy hash), so this App cannot even learn whether it is right.
    trusted_hash = None
    if identity is not None and app is not None and identity.password_app_id in (None, app.id):
        trusted_hash = identity.password_hash
    verified = password_verify(trusted_hash, password)
    membership = None
    if app is not None:
        with tenant_scope(app):  # the same query for an unknown email: equal work, equal timing
            membership = Membership.objects.filter(identity_id=identity.pk if identity else "").first()

    if membership is None or app is None or identity is None:
        _login_failed(app, email or username[:254], "unknown_user", None)
        raise _invalid_grant()
    if not verified:
        _login_failed(app, email or "", "wrong_password", membership.id)
        raise _invalid_grant()
    if not app.is_active or membership.status != Membership.Status.ACTIVE:
        reason = "app_suspended" if not app.is_active else "user_suspended"
        _login_failed(app, email or "", reason, membership.id)
        raise _invalid_grant()

    client_id = _client_for(app, creds)
    with transaction.atomic(), tenant_scope(app):
        throttle_success(keys=keys, recorded=recorded)
        if identity.password_hash and needs_rehash(identity.password_hash):
            with system_scope():  # the identity row, shared by the person's Apps
                Identity.objects.filter(pk=identity.pk, password_hash=identity.password_hash).update(
                    password_hash=HASHER.hash(password)
                )
        Membership.objects.filter(pk=membership.pk).update(last_login_at=timezone.now())
        audit_record(
            app=app,
            action="user.login_succeeded",
            actor=Actor("user", membership.id),
            target_type="user",
            target_id=membership.id,
            changes={"email": email},
        )
        return _issue(
            app=app,
            membership=membership,
            family=new_id("ses"),
            client_id=client_id,
            scope=params.get("scope"),
            ceiling=None,
            grant_type="password",
        )


# ---- refresh grant -----------------------------------------------------------------------------


def refresh_grant(
    request: HttpRequest, params: dict[str, str], creds: tuple[str, str] | None
) -> dict[str, Any]:
    """Rotate a refresh token. A token presented twice ends its whole session."""
    raw = params.get("refresh_token")
    if not raw:
        raise oauth_error("invalid_request", "refresh_token is required.")
    digest = crypto.secret_digest(raw)
    refusal: tuple[str, str] | None = None
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
                revoked = refresh_tokens_revoke(tokens=RefreshToken.objects.filter(family=row.family))
                audit_record(
                    app=app,
                    action="refresh_token.reuse_detected",
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
            elif row.client_id is not None and (creds is None or creds[0] != row.client_id):
                refusal = (
                    "wrong_client",
                    "This refresh token belongs to another client; authenticate as it.",
                )
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
                    ceiling=row.scope,
                    grant_type="refresh_token",
                )
    with transaction.atomic(), tenant_scope(app):
        audit_record(
            app=app,
            action="token.refresh_failed",
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
        with system_scope():  # found by digest, then required to belong to the caller's App
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
