"""Signing keys: provisioning, rotation, the published set (JWKS) and signing access tokens.

Lifecycle of an App's keys: `next` (published, not yet signing) -> `current` (signing; exactly
one per App) -> `retired` (published until `retire_until`, when every token it signed has expired).

Each key has one algorithm (tokens.algorithms), taken from the App's `signingAlgorithm` setting
when the key is generated. Changing the setting changes no existing key: the next rotation
generates the fresh *next* key with the new algorithm (published from then on), and the rotation
after that makes it sign. So a key of a new algorithm is always in the JWKS before it signs
anything, exactly as with same-algorithm rotation, and older keys keep verifying their tokens
until they are retired (or revoked).
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record
from core import crypto
from core.changes import AppChanged, publish
from core.conf import MAX_TOKEN_LIFETIME_SECONDS, heimdall_settings
from core.context import Actor, tenant_scope
from core.errors import ApiError
from core.ids import new_id
from tenants.models import App
from tokens import algorithms
from tokens.models import SigningKey
from tokens.state import AppSnapshot, get_state


def _new_signing_key(*, app: App, status: str) -> SigningKey:
    """A fresh key pair of the algorithm the App's `signingAlgorithm` setting names now."""
    algorithm = app.setting("signingAlgorithm")
    private = algorithms.generate_private_key(algorithm, rsa_bits=heimdall_settings.SIGNING_KEY_BITS)
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
        algorithm=algorithm,
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
    publish(AppChanged(app_id=app.id))


@transaction.atomic
def signing_keys_rotate(*, app: App, actor: Actor, revoke: bool = False) -> SigningKey:
    """Promote the published next key to signing, publish a fresh next key, retire the old one.

    The promoted key keeps the algorithm it was generated with (it has been published since);
    the fresh next key has the algorithm the App's `signingAlgorithm` setting names now. After a
    change of the setting, the first rotation publishes a key of the new algorithm and the second
    makes it sign.

    The retired public key stays in the JWKS until every token it signed has expired (the longest
    lifetime any token can have, plus a minute of clock skew); then it is deleted.

    With `revoke` (the old key is compromised) the old key is deleted at once instead: every
    token it signed, and anything signed with it later, fails on every instance as soon as the
    change reaches it, and the JWKS stops listing it.
    """
    with tenant_scope(app):
        app.refresh_from_db(fields=["settings"])  # `signingAlgorithm` as committed now
        keys = {k.status: k for k in SigningKey.objects.select_for_update().exclude(status="retired")}
        now = timezone.now()
        old = keys.get(SigningKey.Status.CURRENT)
        old_kid = old.kid if old is not None else None
        promoted = keys.get(SigningKey.Status.NEXT) or _new_signing_key(app=app, status="next")
        if old is not None and revoke:
            old.delete()
        elif old is not None:
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
            action=Action.SIGNING_KEY_ROTATED,
            actor=actor,
            target_type="signing_key",
            target_id=promoted.kid,
            changes={
                "retired": old_kid,
                "next": fresh.kid,
                "algorithm": promoted.algorithm,
                "nextAlgorithm": fresh.algorithm,
            },
        )
        if old_kid is not None and revoke:
            audit_record(
                app=app,
                action=Action.SIGNING_KEY_REVOKED,
                actor=actor,
                target_type="signing_key",
                target_id=old_kid,
                changes={"revoked": old_kid, "replacedBy": promoted.kid},
            )
        publish(AppChanged(app_id=app.id))
    return promoted


def published_keys(*, app: App) -> list[SigningKey]:
    """Keys in the JWKS: current, next, and retired ones whose tokens may still be alive. The
    authorization state (tokens.state) trusts exactly these keys."""
    with tenant_scope(app):
        return list(SigningKey.objects.filter(SigningKey.published_q(timezone.now())).order_by("created_at"))


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
    """Sign an RFC 9068 access token with the App's current key, with that key's algorithm (which
    is not necessarily the App's `signingAlgorithm` setting: see the module doc). Pure: writes
    nothing."""
    if app.signing_kid is None:
        raise ApiError(500, "no_signing_key", "This App has no signing key. Run rotate_signing_keys.")
    now = int(time.time())
    if app.tokens_valid_after is not None:
        # Right after a reactivation, a token issued in the second of the last suspension would
        # count as issued before it (iat is whole seconds): date it the next second.
        now = max(now, int(app.tokens_valid_after) + 1)
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
    algorithm = algorithms.algorithm_of_private_key(key)
    token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": app.signing_kid, "typ": "at+jwt"})
    return token, claims


