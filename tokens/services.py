"""Signing keys, M2M clients, access-token issuance and revocation.

Every write is a keyword-only service that records its audit event in its own transaction.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core import crypto
from core.changes import publish_change
from core.context import Actor, system_scope, tenant_scope
from core.errors import ApiError, not_found
from core.ids import new_id
from rbac.permissions import Ceiling
from tenants.models import App
from tokens.models import Client, RevokedToken, SigningKey
from tokens.state import AppSnapshot, ClientCredentials, get_state

# ---- signing keys ---------------------------------------------------------------------------


def _new_signing_key(*, app: App, status: str) -> SigningKey:
    private = rsa.generate_private_key(
        public_exponent=65537, key_size=int(settings.HEIMDALL["SIGNING_KEY_BITS"])
    )
    kid = new_id("key")
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningKey.objects.create(
        app=app,
        kid=kid,
        status=status,
        public_pem=public_pem.decode(),
        private_key_encrypted=crypto.encrypt_private_key(der, key_id=kid),
        activated_at=timezone.now() if status == SigningKey.Status.CURRENT else None,
    )


def signing_keys_provision(*, app: App) -> None:
    """Give a new App its signing key and its pre-published next key (and tell every process
    there are new kids to accept)."""
    with tenant_scope(app):
        _new_signing_key(app=app, status=SigningKey.Status.CURRENT)
        _new_signing_key(app=app, status=SigningKey.Status.NEXT)
    publish_change(kind="app", app_id=app.id)


# The longest lifetime any token can be given (settings and per-client TTLs are capped at a day).
# Retired keys stay published that long, whatever the TTLs were when their tokens were signed.
MAX_TOKEN_LIFETIME_SECONDS = 86_400


@transaction.atomic
def signing_keys_rotate(*, app: App, actor: Actor) -> SigningKey:
    """Promote the published next key to signing, publish a fresh next key, retire the old one.

    The retired public key stays in the JWKS until every token it signed has expired (the longest
    lifetime any token can have, plus a minute of clock skew); then it is deleted.
    """
    with tenant_scope(app):
        keys = {k.status: k for k in SigningKey.objects.select_for_update().exclude(status="retired")}
        now = timezone.now()
        old = keys.get(SigningKey.Status.CURRENT)
        promoted = keys.get(SigningKey.Status.NEXT) or _new_signing_key(app=app, status="next")
        if old is not None:
            old.status = SigningKey.Status.RETIRED
            old.retire_until = now + timedelta(seconds=MAX_TOKEN_LIFETIME_SECONDS + 60)
            old.save(update_fields=["status", "retire_until"])
        promoted.status = SigningKey.Status.CURRENT
        promoted.activated_at = now
        promoted.save(update_fields=["status", "activated_at"])
        fresh = _new_signing_key(app=app, status=SigningKey.Status.NEXT)
        SigningKey.objects.filter(status=SigningKey.Status.RETIRED, retire_until__lte=now).delete()
        audit_record(
            app=app,
            action="signing_key.rotated",
            actor=actor,
            target_type="signing_key",
            target_id=promoted.kid,
            changes={"retired": old.kid if old else None, "next": fresh.kid},
        )
        publish_change(kind="app", app_id=app.id)
    return promoted


def published_keys(*, app: App) -> list[SigningKey]:
    """Keys in the JWKS: current, next, and retired ones whose tokens may still be alive."""
    with tenant_scope(app):
        now = timezone.now()
        return [
            k
            for k in SigningKey.objects.order_by("created_at")
            if k.status != SigningKey.Status.RETIRED or (k.retire_until and k.retire_until > now)
        ]


# ---- clients ----------------------------------------------------------------------------------


def client_authenticate(*, client_id: str, client_secret: str) -> ClientCredentials | None:
    """The client whose id and secret (or unexpired previous secret) match, or None.

    Served from the authorization state's cache (digests only), so a token request does not
    query the client row; changes to a client (rotation, deletion) publish a subject change."""
    if len(client_id) > 40 or len(client_secret) > 200:
        return None
    client = get_state().client(client_id)
    digest = crypto.secret_digest(client_secret)  # the same work whether or not the client exists
    if client is None:
        return None
    if hmac.compare_digest(digest, client.secret_digest):
        return client
    if (
        client.previous_secret_digest
        and client.previous_secret_expires_at
        and client.previous_secret_expires_at > time.time()
        and hmac.compare_digest(digest, client.previous_secret_digest)
    ):
        return client
    return None


def client_create(
    *,
    app: App,
    actor: Actor,
    name: str,
    roles: list[str] | None = None,
    permissions: list[str] | None = None,
    access_token_ttl_seconds: int | None = None,
    acts_for_users: bool = False,
    delegable_permissions: list[str] | None = None,
    ceiling: Ceiling | None = None,
) -> tuple[Client, str]:
    """Create an M2M client; returns it with its secret, which is never retrievable again."""
    from rbac.services import validate_grants, validate_role_names

    roles = list(dict.fromkeys(roles or []))
    permissions = list(dict.fromkeys(permissions or []))
    delegable = list(dict.fromkeys(delegable_permissions or []))
    with transaction.atomic(), tenant_scope(app):
        validate_role_names(app=app, roles=roles, field="roles", ceiling=ceiling)
        validate_grants(app=app, grants=permissions, field="permissions", ceiling=ceiling)
        validate_grants(app=app, grants=delegable, field="delegablePermissions", ceiling=ceiling)
        secret = crypto.new_secret("client_secret")
        client = Client.objects.create(
            app=app,
            name=name,
            roles=roles,
            permissions=permissions,
            access_token_ttl_seconds=access_token_ttl_seconds,
            secret_digest=crypto.secret_digest(secret),
            acts_for_users=acts_for_users,
            delegable_permissions=delegable,
        )
        audit_record(
            app=app,
            action="client.created",
            actor=actor,
            target_type="client",
            target_id=client.id,
            changes={
                "name": name,
                "roles": roles,
                "permissions": permissions,
                "accessTokenTtlSeconds": access_token_ttl_seconds,
                "actsForUsers": acts_for_users,
                "delegablePermissions": delegable,
            },
        )
        publish_change(kind="subject", app_id=app.id, key=client.id)
    return client, secret


# ---- access tokens ------------------------------------------------------------------------------


def access_token_sign(
    *,
    app: AppSnapshot,
    subject: str,
    client_id: str,
    roles: list[str] | tuple[str, ...],
    scope: list[str] | frozenset[str],
    ttl: int,
    narrowed: bool,
    act: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign an RFC 9068 access token with the App's current key. Pure: writes nothing."""
    if app.signing_kid is None:
        raise ApiError(500, "no_signing_key", "This App has no signing key. Run rotate_signing_keys.")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": app.issuer,
        "sub": subject,
        "aud": app.issuer,
        "app": app.id,
        "client_id": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "scope": " ".join(sorted(scope)),
        "roles": list(roles),
    }
    if narrowed:
        claims["narrowed"] = True
    if act:
        claims["act"] = act
    if extra:
        claims.update(extra)
    key = get_state().private_key(app.signing_kid)
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": app.signing_kid, "typ": "at+jwt"})
    return token, claims


def _invalid_scope(detail: str) -> ApiError:
    return ApiError(400, "invalid_scope", detail, oauth=True)


def requested_scope(raw: Any, granted: frozenset[str]) -> tuple[frozenset[str], bool]:
    """(scope to grant, narrowed?) for an optional space-separated `scope` request."""
    if raw is None or raw == "":
        return granted, False
    if not isinstance(raw, str) or len(raw) > 8192:
        raise _invalid_scope("scope must be a space-separated string of permission names.")
    asked = frozenset(raw.split())
    beyond = sorted(asked - granted)
    if beyond:
        raise _invalid_scope(
            f"The client does not hold: {', '.join(beyond[:10])}. Ask only for permissions it holds."
        )
    return asked, asked != granted


def client_credentials_grant(*, client_id: str, client_secret: str, scope: Any) -> dict[str, Any]:
    """Authenticate a client and issue it an access token (one short transaction)."""
    client = client_authenticate(client_id=client_id, client_secret=client_secret)
    if client is None or get_state().app(client.app_id) is None:  # unknown, wrong, or App deleted
        _client_auth_failed(client_id)
        raise ApiError(
            401,
            "invalid_client",
            "Client authentication failed: check clientId and clientSecret.",
            headers={"WWW-Authenticate": 'Basic realm="heimdall"'},
            oauth=True,
        )
    state = get_state()
    snapshot = state.app(client.app_id)
    if snapshot is None or snapshot.status != "active":
        raise ApiError(
            400, "unauthorized_client", "This client's App is suspended; it cannot get tokens.", oauth=True
        )
    granted = snapshot.grants(tuple(client.roles), frozenset(client.permissions))
    scope_set, narrowed = requested_scope(scope, granted)
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
    actor = Actor("client", client.id)
    with transaction.atomic():
        audit_record(
            app_id=client.app_id,
            action="token.issued",
            actor=actor,
            target_type="token",
            target_id=claims["jti"],
            changes={"grantType": "client_credentials", "scope": claims["scope"], "expiresIn": ttl},
        )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": claims["scope"],
    }


# Failed authentications of one client recorded in its audit log per window; past that they are
# only counted, so whoever knows a client id cannot flood its App's audit log.
AUDITED_CLIENT_FAILURES = 20


def _client_auth_failed(client_id: str) -> None:
    """Record a failed client authentication in the client's App, when the client exists."""
    from accounts.models import LoginFailure

    if not client_id.startswith("m2m_") or len(client_id) > 40:
        return
    with system_scope():  # the failing client's App, to record the event there
        client = Client.objects.select_related("app").filter(pk=client_id).first()
    if client is None:
        return
    now = timezone.now()
    key = f"cl:{client.id}"
    window = timedelta(seconds=int(settings.HEIMDALL["LOGIN_FAILURE_WINDOW_SECONDS"]))
    with transaction.atomic():
        recent = LoginFailure.objects.filter(key=key, created_at__gt=now - window).count()
        LoginFailure.objects.create(key=key, created_at=now)
        if recent == 0:  # a new window: sweep this client's rows that no window counts any more
            LoginFailure.objects.filter(key=key, created_at__lte=now - window).delete()
        if recent >= AUDITED_CLIENT_FAILURES:
            return
        audit_record(
            app=client.app,
            action="client.authentication_failed",
            actor=Actor("anonymous", None),
            target_type="client",
            target_id=client.id,
            changes={"reason": "invalid_secret"},
        )


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
            action="token.revoked",
            actor=actor,
            target_type="token",
            target_id=jti,
            changes={"subject": claims.get("sub")},
        )
        publish_change(kind="jti", app_id=app.id, key=jti, data={"exp": claims["exp"]})


def client_get(*, client_id: str) -> Client:
    """The current App's client with that id, or 404 (same answer for another App's)."""
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        raise not_found("client")
    return client


def _client_changes_audit(
    app: App, actor: Actor, client: Client, action: str, changes: dict[str, Any]
) -> None:
    audit_record(
        app=app, action=action, actor=actor, target_type="client", target_id=client.id, changes=changes
    )


def client_update(
    *,
    app: App,
    actor: Actor,
    client_id: str,
    name: str | None = None,
    roles: list[str] | None = None,
    permissions: list[str] | None = None,
    access_token_ttl_seconds: int | object | None = ...,
    delegable_permissions: list[str] | None = None,
    acts_for_users: bool | None = None,
    ceiling: Ceiling | None = None,
) -> Client:
    """Change a client. New roles/permissions apply to its existing tokens at once."""
    from rbac.services import holder_check, validate_grants, validate_role_names

    with transaction.atomic(), tenant_scope(app):
        client = Client.objects.select_for_update().filter(pk=client_id).first()
        if client is None:
            raise not_found("client")
        holder_check(app=app, roles=client.roles, permissions=client.permissions, ceiling=ceiling)
        changes: dict[str, Any] = {}
        if name is not None and name != client.name:
            changes["name"] = {"from": client.name, "to": name}
            client.name = name
        if roles is not None:
            roles = list(dict.fromkeys(roles))
            validate_role_names(app=app, roles=roles, field="roles", ceiling=ceiling)
            if roles != client.roles:
                changes["roles"] = {"from": client.roles, "to": roles}
                client.roles = roles
        if permissions is not None:
            permissions = list(dict.fromkeys(permissions))
            validate_grants(app=app, grants=permissions, field="permissions", ceiling=ceiling)
            if permissions != client.permissions:
                changes["permissions"] = {"from": client.permissions, "to": permissions}
                client.permissions = permissions
        if delegable_permissions is not None:
            delegable = list(dict.fromkeys(delegable_permissions))
            validate_grants(app=app, grants=delegable, field="delegablePermissions", ceiling=ceiling)
            if delegable != client.delegable_permissions:
                changes["delegablePermissions"] = {"from": client.delegable_permissions, "to": delegable}
                client.delegable_permissions = delegable
        if acts_for_users is not None and acts_for_users != client.acts_for_users:
            changes["actsForUsers"] = {"from": client.acts_for_users, "to": acts_for_users}
            client.acts_for_users = acts_for_users
        if (
            access_token_ttl_seconds is not ...
            and access_token_ttl_seconds != client.access_token_ttl_seconds
        ):
            changes["accessTokenTtlSeconds"] = {
                "from": client.access_token_ttl_seconds,
                "to": access_token_ttl_seconds,
            }
            client.access_token_ttl_seconds = access_token_ttl_seconds  # type: ignore[assignment]
        if changes:
            client.save()
            _client_changes_audit(app, actor, client, "client.updated", changes)
            publish_change(kind="subject", app_id=app.id, key=client.id)
    return client


def client_delete(*, app: App, actor: Actor, client_id: str, ceiling: Ceiling | None = None) -> None:
    """Delete a client; every token it holds stops working at once."""
    from rbac.services import holder_check

    with transaction.atomic(), tenant_scope(app):
        client = client_get(client_id=client_id)
        holder_check(app=app, roles=client.roles, permissions=client.permissions, ceiling=ceiling)
        Client.objects.filter(pk=client.pk).delete()  # keeps client.id for the event
        _client_changes_audit(app, actor, client, "client.deleted", {"name": client.name})
        publish_change(kind="subject", app_id=app.id, key=client_id)


def client_secret_rotate(
    *,
    app: App,
    actor: Actor,
    client_id: str,
    grace_period_seconds: int = 0,
    ceiling: Ceiling | None = None,
) -> tuple[Client, str]:
    """Issue a new secret; the old one keeps working for `grace_period_seconds` (0: not at all).
    Only a caller holding everything the client holds may rotate it (else it could become it)."""
    from rbac.services import holder_check

    with transaction.atomic(), tenant_scope(app):
        client = Client.objects.select_for_update().filter(pk=client_id).first()
        if client is None:
            raise not_found("client")
        holder_check(app=app, roles=client.roles, permissions=client.permissions, ceiling=ceiling)
        secret = crypto.new_secret("client_secret")
        if grace_period_seconds > 0:
            client.previous_secret_digest = client.secret_digest
            client.previous_secret_expires_at = timezone.now() + timedelta(seconds=grace_period_seconds)
        else:
            client.previous_secret_digest = None
            client.previous_secret_expires_at = None
        client.secret_digest = crypto.secret_digest(secret)
        client.save()
        _client_changes_audit(
            app, actor, client, "client.secret_rotated", {"gracePeriodSeconds": grace_period_seconds}
        )
        publish_change(kind="subject", app_id=app.id, key=client.id)
    return client, secret
