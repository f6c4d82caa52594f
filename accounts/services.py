"""Users and memberships: every write, with its audit event, in one transaction.

An App only ever sees a user through its membership. Adding an identity that already exists to
another App creates a membership and leaves the identity's password (and other Apps' profiles)
untouched. Changes that alter what a user's tokens may do publish a subject change, so
`/v1/authorize` and introspection apply them at once; refresh tokens of a suspended or removed
member are revoked in the same transaction.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Identity, Membership, RefreshToken
from accounts.passwords import password_hash, password_validate, password_verify
from audit.actions import Action
from audit.services import audit_record
from core import throttle
from core.changes import SubjectChanged, TokenRevoked, publish
from core.conf import MAX_TOKEN_LIFETIME_SECONDS, heimdall_settings
from core.context import Actor, system_scope, tenant_scope
from core.errors import ApiError, conflict, not_found
from rbac.permissions import Ceiling
from rbac.services import holder_check, validate_role_names
from tenants.models import App

MAX_METADATA_BYTES = 16 * 1024


_LOCAL_FORBIDDEN = set(' "(),:;<>@[\\]')
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def email_normalize(raw: Any, *, field: str = "email") -> str:
    """Trim, Unicode-normalize (NFC) and lowercase an email; 400 when it is not one.

    Internationalized addresses (RFC 6531: `zoë@exämple.com`) are accepted; the domain must
    encode to IDNA. Quoted local parts and IP-literal domains are not.
    """
    if not isinstance(raw, str):
        raise _email_error(field)
    email = unicodedata.normalize("NFC", raw.strip()).lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or len(email) > 254
        or not 1 <= len(local) <= 64
        or any(unicodedata.category(c)[0] in "CZ" for c in email)  # controls, invisibles, spaces
        or any(c in _LOCAL_FORBIDDEN for c in local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise _email_error(field)
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise _email_error(field) from exc
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise _email_error(field)
    return email


def _email_error(field: str) -> ApiError:
    return ApiError(
        400,
        "validation_error",
        "email is not a valid email address.",
        errors=[{"field": field, "code": "invalid_email", "message": "not a valid email address"}],
    )


def metadata_validate(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise ApiError(
            400,
            "validation_error",
            "metadata must be a JSON object.",
            errors=[{"field": "metadata", "code": "invalid", "message": "must be an object"}],
        )
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise ApiError(
            400,
            "validation_error",
            f"metadata is at most {MAX_METADATA_BYTES} bytes of JSON.",
            errors=[{"field": "metadata", "code": "too_large", "message": "too large"}],
        )
    return metadata


def member_email(*, app: App, user_id: str) -> str | None:
    """The email of user `user_id` of `app` (a bearer token's subject), or None."""
    with tenant_scope(app):
        return Membership.objects.filter(pk=user_id).values_list("identity__email", flat=True).first()


def is_member(*, app: App, email: str) -> bool:
    with tenant_scope(app):
        return Membership.objects.filter(identity__email=email).exists()


def membership_get(*, user_id: str) -> Membership:
    """The current App's user `user_id`, or 404 (also for another App's users)."""
    membership = Membership.objects.select_related("identity").filter(pk=user_id).first()
    if membership is None:
        raise not_found("user")
    return membership


def _locked(user_id: str) -> Membership:
    membership = Membership.objects.select_for_update().filter(pk=user_id).first()
    if membership is None:
        raise not_found("user")
    return membership


def _audit(app: App, actor: Actor, action: Action, user_id: str, changes: dict[str, Any] | None = None) -> None:
    audit_record(app=app, action=action, actor=actor, target_type="user", target_id=user_id, changes=changes)


def _sessions_end(*, sessions: list[tuple[str, str]]) -> None:
    """Tell every process that these sign-in sessions (app id, refresh-token family) ended: their
    access tokens carry the session id (`sid`), refused from now on until any such token has
    expired. The revoked refresh-token rows are the durable record (`ended_sessions`)."""
    expires_at = (timezone.now() + timedelta(seconds=MAX_TOKEN_LIFETIME_SECONDS + 60)).timestamp()
    for app_id, family in sessions:
        publish(TokenRevoked(app_id=app_id, token_id=family, expires_at=expires_at))


def refresh_tokens_revoke(*, tokens: Any, end_sessions: bool = True) -> int:
    """Revoke a queryset of refresh tokens and (unless told not to) end their sessions, which
    stops the access tokens issued in them too; returns how many refresh tokens."""
    rows = list(tokens.filter(revoked_at__isnull=True).values_list("id", "app", "family"))
    if not rows:
        return 0
    with system_scope(reason="exactly the rows just read through the caller's (scoped) queryset"):
        RefreshToken.objects.filter(pk__in=[r[0] for r in rows]).update(revoked_at=timezone.now())
    if end_sessions:
        _sessions_end(sessions=sorted({(r[1], r[2]) for r in rows}, key=lambda pair: pair[1]))
    return len(rows)


def user_create(
    *,
    app: App,
    actor: Actor,
    email: str,
    password: str | None = None,
    display_name: str = "",
    roles: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    ceiling: Ceiling | None = None,
    hashed_password: str | None = None,
) -> Membership:
    """Add a user to `app`: a new identity, or a membership for a person other Apps know.

    Credentials are per App: a password given here is this membership's own, whether or not
    other Apps know the email, and the answer is the same either way, so an App can neither
    tell whether an email is registered elsewhere nor sign in anywhere else with it.
    """
    email = email_normalize(email)
    roles = list(dict.fromkeys(roles or []))
    metadata = metadata_validate(metadata if metadata is not None else {})
    if password is not None:
        password_validate(password, email=email)
    hashed = password_hash(password) if password is not None else hashed_password
    with transaction.atomic(), tenant_scope(app):
        validate_role_names(app=app, roles=roles, field="roles", ceiling=ceiling)
        with system_scope(reason="identities are global; only their memberships are per App"):
            identity = Identity.objects.select_for_update().filter(email=email).first()
        if identity is None:
            try:
                with transaction.atomic():
                    identity = Identity.objects.create(email=email)
            except IntegrityError as exc:
                raise conflict(
                    "user_exists", "A user with this email was created concurrently; retry."
                ) from exc
        elif Membership.objects.filter(identity=identity).exists():
            raise conflict("user_exists", "A user with this email already belongs to this App.")
        membership = Membership(
            app=app,
            identity=identity,
            display_name=display_name,
            metadata=metadata,
            password_hash=hashed,
            password_changed_at=timezone.now() if hashed else None,
        )
        membership.set_roles(roles)
        try:
            with transaction.atomic():
                membership.save(force_insert=True)
        except IntegrityError as exc:
            raise conflict("user_exists", "A user with this email already belongs to this App.") from exc
        _audit(
            app,
            actor,
            Action.USER_CREATED,
            membership.id,
            {"email": email, "roles": roles, "displayName": display_name},
        )
        publish(SubjectChanged(app_id=app.id, subject_id=membership.id))
    membership.identity = identity
    return membership


def user_update(
    *,
    app: App,
    actor: Actor,
    user_id: str,
    display_name: str | None = None,
    metadata: Any = None,
    ceiling: Ceiling | None = None,
) -> Membership:
    """Change the profile this App sees (displayName, metadata). Other Apps see no change."""
    with transaction.atomic(), tenant_scope(app):
        membership = _locked(user_id)
        _holder_check(app, membership, ceiling)
        changes: dict[str, Any] = {}
        if display_name is not None and display_name != membership.display_name:
            changes["displayName"] = {"from": membership.display_name, "to": display_name}
            membership.display_name = display_name
        if metadata is not None:
            metadata = metadata_validate(metadata)
            if metadata != membership.metadata:
                changes["metadata"] = {"from": membership.metadata, "to": metadata}
                membership.metadata = metadata
        if changes:
            membership.save()
            _audit(app, actor, Action.USER_UPDATED, user_id, changes)
        return membership_get(user_id=user_id)


def _holder_check(app: App, membership: Membership, ceiling: Ceiling | None) -> None:
    holder_check(app=app, roles=membership.roles, permissions=[], ceiling=ceiling)


def user_set_status(
    *, app: App, actor: Actor, user_id: str, status: str, ceiling: Ceiling | None = None
) -> Membership:
    """Suspend or reactivate a member. Suspension stops their tokens at once and revokes their
    refresh tokens; 409 when the user already has that status."""
    with transaction.atomic(), tenant_scope(app):
        membership = _locked(user_id)
        _holder_check(app, membership, ceiling)
        if membership.status == status:
            code = "already_suspended" if status == Membership.Status.SUSPENDED else "already_active"
            raise conflict(code, f"The user is already {status}.")
        previous = membership.status
        membership.status = status
        membership.save()
        if status == Membership.Status.SUSPENDED:
            # Suspension ends what was issued before it: every session of the member here (its
            # access tokens answer subject_suspended while suspended, token_revoked after
            # reactivation) and its refresh tokens, for good.
            refresh_tokens_revoke(tokens=RefreshToken.objects.filter(membership=membership))
        action = Action.USER_SUSPENDED if status == Membership.Status.SUSPENDED else Action.USER_REACTIVATED
        _audit(app, actor, action, user_id, {"status": {"from": previous, "to": status}})
        publish(SubjectChanged(app_id=app.id, subject_id=user_id))
        return membership_get(user_id=user_id)


def user_set_roles(
    *, app: App, actor: Actor, user_id: str, roles: list[str], ceiling: Ceiling | None = None
) -> Membership:
    """Replace a member's roles; existing tokens follow at once."""
    roles = list(dict.fromkeys(roles))
    with transaction.atomic(), tenant_scope(app):
        membership = _locked(user_id)
        _holder_check(app, membership, ceiling)
        validate_role_names(app=app, roles=roles, field="roles", ceiling=ceiling)
        if roles != membership.roles:
            previous = membership.roles
            membership.set_roles(roles)
            membership.save()
            _audit(app, actor, Action.USER_ROLES_CHANGED, user_id, {"roles": {"from": previous, "to": roles}})
            publish(SubjectChanged(app_id=app.id, subject_id=user_id))
        return membership_get(user_id=user_id)


def user_delete(*, app: App, actor: Actor, user_id: str, ceiling: Ceiling | None = None) -> None:
    """Remove the membership (its refresh tokens go with it); the identity goes with its last one."""
    with transaction.atomic(), tenant_scope(app):
        found = membership_get(user_id=user_id)
        with system_scope(reason="lock the person first: a concurrent add must not race the cleanup"):
            Identity.objects.select_for_update().filter(pk=found.identity_id).first()
        membership = _locked(user_id)
        _holder_check(app, membership, ceiling)
        identity_id = membership.identity_id
        membership.delete()
        with system_scope(reason="is the identity still a member anywhere?"):
            if not Membership.objects.filter(identity_id=identity_id).exists():
                Identity.objects.filter(pk=identity_id).delete()
        _audit(app, actor, Action.USER_DELETED, user_id, {"email": found.identity.email})
        publish(SubjectChanged(app_id=app.id, subject_id=user_id))


def password_set(
    *, app: App, actor: Actor, user_id: str, new_password: str, ceiling: Ceiling | None = None
) -> None:
    """An App admin (within their ceiling) or an operator sets a member's password in this App
    only; the member's sessions in this App end. Other Apps are untouched."""
    with tenant_scope(app):
        membership = membership_get(user_id=user_id)
    password_validate(new_password, email=membership.identity.email, field="password")
    new_hash = password_hash(new_password)
    with transaction.atomic(), tenant_scope(app):
        locked = _locked(user_id)
        _holder_check(app, locked, ceiling)
        Membership.objects.filter(pk=locked.pk).update(
            password_hash=new_hash, password_changed_at=timezone.now(), updated_at=timezone.now()
        )
        revoked = refresh_tokens_revoke(tokens=RefreshToken.objects.filter(membership_id=locked.pk))
        _audit(app, actor, Action.USER_PASSWORD_RESET, user_id, {"refreshTokensRevoked": revoked})


def password_change(
    *,
    app: App,
    actor: Actor,
    user_id: str,
    current_password: str,
    new_password: str,
    keep_session: str | None,
) -> None:
    """The user's own password change in the token's App: checks the current one (throttled
    like sign-in), refuses weak ones, and ends their other sessions in this App (all but
    `keep_session`). Other Apps' passwords are untouched."""
    with tenant_scope(app):
        membership = membership_get(user_id=user_id)
    limits = [
        throttle.Limit(
            f"pw:{membership.id}", heimdall_settings.LOGIN_MAX_FAILURES_PER_IDENTITY, reset_on_success=True
        )
    ]
    throttle.attempt(limits=limits, oauth=False)
    if not password_verify(membership.password_hash, current_password):
        with transaction.atomic(), tenant_scope(app):
            _audit(app, actor, Action.USER_PASSWORD_CHANGE_FAILED, user_id, {"reason": "wrong_current_password"})
        raise ApiError(
            403,
            "invalid_current_password",
            "currentPassword is not this account's password in this App.",
            errors=[{"field": "currentPassword", "code": "invalid", "message": "does not match"}],
        )
    throttle.success(limits=limits)
    password_validate(new_password, email=membership.identity.email, field="newPassword")
    new_hash = password_hash(new_password)
    with transaction.atomic(), tenant_scope(app):
        updated = Membership.objects.filter(pk=membership.pk, password_hash=membership.password_hash).update(
            password_hash=new_hash, password_changed_at=timezone.now(), updated_at=timezone.now()
        )
        if not updated:
            raise conflict("password_changed_concurrently", "The password changed meanwhile; retry.")
        others = RefreshToken.objects.filter(membership_id=membership.pk)
        if keep_session:
            others = others.exclude(family=keep_session)
        revoked = refresh_tokens_revoke(tokens=others)
        _audit(app, actor, Action.USER_PASSWORD_CHANGED, user_id, {"refreshTokensRevoked": revoked})


# ---- an App's departure (heimdall.provisioning.app_delete) -------------------------------------

_BATCH = 500  # ids per IN (...) when deleting an App's orphaned identities


def identities_lock_for_app(*, app_id: str) -> list[str]:
    """Lock the identities of an App's members (so no App adds a membership to one while the
    App is deleted; user creation locks the identity too). Returns their ids."""
    with system_scope(reason="identities span Apps; exactly those with a membership of this App"):
        return list(
            Identity.objects.select_for_update(of=("self",))
            .filter(memberships__app_id=app_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def identities_release(*, identity_ids: list[str]) -> int:
    """After an App's memberships (and their passwords) are gone: delete the identities it leaves
    with no membership, as deleting a last membership does. Returns how many were deleted."""
    deleted = 0
    with system_scope(reason="the identities locked by identities_lock_for_app"):
        for start in range(0, len(identity_ids), _BATCH):
            batch = identity_ids[start : start + _BATCH]
            deleted += (
                Identity.objects.filter(pk__in=batch, memberships__isnull=True)
                .delete()[1]
                .get(Identity._meta.label, 0)
            )
    return deleted



def last_login_record(*, app: App, user_id: str) -> None:
    """Note a sign-in that did not go through a password (social sign-in). Call inside the
    transaction that records it."""
    with tenant_scope(app):
        Membership.objects.filter(pk=user_id).update(last_login_at=timezone.now())
