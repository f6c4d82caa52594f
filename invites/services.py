"""Invites: create, revoke, look up and accept.

An invite names a role of one App (one the creator could grant itself), optionally one email,
an expiry (default 7 days, at most 30) and a use limit (default 1, at most 1,000). Its token is
random, shown once and stored as a keyed digest. Accepting it makes the person a member of the
App with the invite's role and a password of this App's own, and signs them in.

Accepts are serialized on the invite row (SELECT ... FOR UPDATE; SQLite serializes writers), so
concurrent accepts never exceed `maxUses`. A refusal consumes no use. An unknown token costs the
same work as a known one (the password is validated and hashed before the lookup). Accept and
lookup are throttled per client IP, like sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Membership
from accounts.passwords import password_hash, password_validate
from accounts.services import email_normalize, is_member, member_email, user_create
from audit.actions import Action
from audit.services import audit_record
from core import context, crypto, throttle
from core.conf import heimdall_settings
from core.context import Actor, system_scope, tenant_scope
from core.errors import ApiError, not_found, validation_error
from core.ids import new_id
from invites.models import Invite
from rbac.permissions import Ceiling
from rbac.services import validate_role_names
from tenants.models import App
from tokens.sessions import session_tokens_issue

DEFAULT_EXPIRES_IN = 7 * 86_400
MAX_EXPIRES_IN = 30 * 86_400
MIN_EXPIRES_IN = 60
DEFAULT_MAX_USES = 1
MAX_MAX_USES = 1_000
_TOKEN_PREFIX = crypto.SECRET_PREFIXES["invite_token"]


@dataclass(frozen=True)
class CreatedInvite:
    invite: Invite
    token: str  # shown once
    url: str | None


def _refusal(status: int, code: str, detail: str) -> ApiError:
    return ApiError(status, code, detail)


def invite_create(
    *,
    app: App,
    actor: Actor,
    role: str,
    email: str | None = None,
    expires_in_seconds: int | None = None,
    max_uses: int | None = None,
    ceiling: Ceiling | None = None,
) -> CreatedInvite:
    """Create an invite for `role` (which the caller must be able to grant)."""
    expires_in = DEFAULT_EXPIRES_IN if expires_in_seconds is None else expires_in_seconds
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not MIN_EXPIRES_IN <= expires_in <= MAX_EXPIRES_IN:
        raise validation_error(
            "expiresInSeconds", "out_of_range", f"must be an integer from {MIN_EXPIRES_IN} to {MAX_EXPIRES_IN}"
        )
    uses = DEFAULT_MAX_USES if max_uses is None else max_uses
    if isinstance(uses, bool) or not isinstance(uses, int) or not 1 <= uses <= MAX_MAX_USES:
        raise validation_error("maxUses", "out_of_range", f"must be an integer from 1 to {MAX_MAX_USES}")
    bound = email_normalize(email) if email is not None else None
    token = crypto.new_secret("invite_token")
    with transaction.atomic(), tenant_scope(app):
        validate_role_names(app=app, roles=[role], field="role", ceiling=ceiling)
        invite = Invite.objects.create(
            app=app,
            digest=crypto.secret_digest(token),
            role=role,
            email=bound,
            expires_at=timezone.now() + timedelta(seconds=expires_in),
            max_uses=uses,
            created_by=actor.id,
        )
        audit_record(
            app=app,
            action=Action.INVITE_CREATED,
            actor=actor,
            target_type="invite",
            target_id=invite.id,
            changes={"role": role, "email": bound, "expiresInSeconds": expires_in, "maxUses": uses},
        )
    template = app.setting("inviteUrlTemplate")
    url = template.replace("{token}", token) if template else None
    return CreatedInvite(invite, token, url)


def invite_get(*, invite_id: str) -> Invite:
    """The current App's invite with that id, or 404 (the same for another App's)."""
    invite = Invite.objects.filter(pk=invite_id).first()
    if invite is None:
        raise not_found("invite")
    return invite


def invites_filtered(*, status: str | None, role: str | None, email: str | None) -> Any:
    """The current App's invites, optionally by derived status, role or bound email."""
    invites = Invite.objects.all()
    if role is not None:
        invites = invites.filter(role=role)
    if email is not None:
        invites = invites.filter(email=email)
    now = timezone.now()
    revoked = Q(revoked_at__isnull=False)
    exhausted = Q(revoked_at__isnull=True, uses__gte=F("max_uses"))
    expired = Q(revoked_at__isnull=True, uses__lt=F("max_uses"), expires_at__lte=now)
    pending = Q(revoked_at__isnull=True, uses__lt=F("max_uses"), expires_at__gt=now)
    by_status = {"revoked": revoked, "exhausted": exhausted, "expired": expired, "pending": pending}
    if status is not None:
        invites = invites.filter(by_status[status])
    return invites


def invite_revoke(*, app: App, actor: Actor, invite_id: str) -> Invite:
    """Revoke an invite: it stays listed, as `revoked`; accepting it answers 410. Idempotent."""
    with transaction.atomic(), tenant_scope(app):
        invite = Invite.objects.select_for_update().filter(pk=invite_id).first()
        if invite is None:
            raise not_found("invite")
        if invite.revoked_at is None:
            invite.revoked_at = timezone.now()
            invite.save(update_fields=["revoked_at"])
            audit_record(
                app=app,
                action=Action.INVITE_REVOKED,
                actor=actor,
                target_type="invite",
                target_id=invite.id,
                changes={"role": invite.role, "uses": invite.uses},
            )
    return invite


# ---- public: lookup and accept ------------------------------------------------------------------


def _ip_limits(kind: str) -> list[throttle.Limit]:
    ip = context.request_info().ip
    if not ip:
        return []
    key = f"{kind}:" + crypto.secret_digest(f"{kind}:{ip}")[:64]
    return [throttle.Limit(key, heimdall_settings.LOGIN_MAX_FAILURES_PER_IP)]


def _find(token: Any, *, lock: bool) -> Invite | None:
    if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX) or len(token) > 200:
        crypto.secret_digest("hmd_inv_" + "0" * 43)  # the same work as a well-formed token
        return None
    digest = crypto.secret_digest(token)
    with system_scope(reason="found by digest across Apps; everything after runs in its App"):
        rows = Invite.objects.select_related("app").filter(digest=digest)
        if lock:
            rows = rows.select_for_update(of=("self",))
        return rows.first()


def _dead(invite: Invite) -> ApiError | None:
    status = invite.status_at(timezone.now())
    if status == Invite.Status.REVOKED:
        return _refusal(410, "invite_revoked", "This invite was revoked. Ask for a new one.")
    if status == Invite.Status.EXHAUSTED:
        return _refusal(410, "invite_exhausted", "This invite has been used as many times as it allows.")
    if status == Invite.Status.EXPIRED:
        return _refusal(410, "invite_expired", "This invite has expired. Ask for a new one.")
    if not invite.app.is_active:
        return _refusal(403, "app_suspended", "The App of this invite is suspended.")
    return None


def _unknown() -> ApiError:
    return ApiError(404, "not_found", "No invite matches this token.")


def invite_lookup(*, token: Any) -> dict[str, Any]:
    """What an invitee may see before accepting: the App's display name, the role, whether an
    email is required, and the expiry. Nothing else."""
    limits = _ip_limits("invlookup")
    recorded = throttle.attempt(limits=limits, oauth=False)
    invite = _find(token, lock=False)
    if invite is None:
        raise _unknown()
    refusal = _dead(invite)
    if refusal is not None:
        raise refusal
    throttle.success(limits=limits, recorded=recorded)
    return {
        "app": {"displayName": invite.app.display_name},
        "role": invite.role,
        "emailRequired": invite.email is not None,
        "expiresAt": invite.expires_at,
    }


@dataclass(frozen=True)
class Invitee:
    """Who accepts: an email given publicly, or the user of a bearer token from any App."""

    email: str | None = None
    bearer_app: App | None = None
    bearer_user_id: str | None = None


def _refused(invite: Invite, reason: str, error: ApiError) -> ApiError:
    with transaction.atomic(), tenant_scope(invite.app):
        audit_record(
            app=invite.app,
            action=Action.INVITE_ACCEPT_REFUSED,
            actor=Actor.anonymous(),
            target_type="invite",
            target_id=invite.id,
            changes={"reason": reason},
        )
    return error


def invite_accept(*, token: Any, invitee: Invitee, password: str, display_name: str = "") -> dict[str, Any]:
    """Join the invite's App with its role and this password for this App, and sign in: an
    OAuth token response (with a refresh token). Refusals consume no use."""
    limits = _ip_limits("invaccept")
    recorded = throttle.attempt(limits=limits, oauth=False)
    if invitee.bearer_app is not None and invitee.bearer_user_id is not None:
        email = member_email(app=invitee.bearer_app, user_id=invitee.bearer_user_id)
        if email is None:
            raise ApiError(401, "invalid_token", "The bearer token's user no longer exists.")
    else:
        email = email_normalize(invitee.email)
    # Before the lookup, for every token alike: an unknown token costs the same work.
    password_validate(password, email=email)
    hashed = password_hash(password)

    refusal: ApiError | None = None
    with transaction.atomic():
        invite = _find(token, lock=True)
        if invite is None:
            raise _unknown()
        app = invite.app
        dead = _dead(invite)
        if dead is not None:
            refusal = dead
        elif invite.email is not None and invite.email != email:
            refusal = _refusal(
                403, "invite_email_mismatch", "This invite is for another email address. Ask for your own."
            )
        elif is_member(app=app, email=email):
            refusal = _refusal(409, "already_member", "You are already a member of this App. Sign in instead.")
        else:
            with tenant_scope(app):
                membership = user_create(
                    app=app,
                    actor=Actor.anonymous(),
                    email=email,
                    hashed_password=hashed,
                    display_name=display_name,
                    roles=[invite.role],
                )
                invite.uses += 1
                invite.save(update_fields=["uses"])
                audit_record(
                    app=app,
                    action=Action.INVITE_ACCEPTED,
                    actor=Actor("user", membership.id),
                    target_type="user",
                    target_id=membership.id,
                    changes={"invite": invite.id, "role": invite.role, "uses": invite.uses},
                )
                throttle.success(limits=limits, recorded=recorded)
                return session_tokens_issue(
                    app=app,
                    membership=membership,
                    session=new_id("ses"),
                    client_id=None,
                    scope=None,
                    ceiling=None,
                    grant_type="invite",
                )
    reason = refusal.code
    raise _refused(invite, reason, refusal)


# ---- social sign-in (the `social` app, above): strangers who bring an invite -------------------


def invite_pending_id(*, token: Any, app: App) -> str:
    """The id of a pending invite of `app` with this token (checked when a social sign-in starts);
    404 `not_found` for an unknown token or another App's, 410/403 as accepting would answer."""
    invite = _find(token, lock=False)
    if invite is None or invite.app_id != app.id:
        raise _unknown()
    refusal = _dead(invite)
    if refusal is not None:
        raise refusal
    return invite.id


def invite_join(*, app: App, invite_id: str, email: str, via: str, display_name: str = "") -> Membership:
    """Join `app` through invite `invite_id` with a provider-verified `email` and no password (the
    member signs in through the provider): the same rules as accepting it (alive, a bound invite's
    email must match, not already a member), counted against `maxUses` under the same row lock.
    Runs in the caller's transaction; a refusal raises and consumes no use."""
    with transaction.atomic(), tenant_scope(app):
        invite = Invite.objects.select_for_update().select_related("app").filter(pk=invite_id).first()
        if invite is None:
            raise _unknown()
        dead = _dead(invite)
        if dead is not None:
            raise dead
        if invite.email is not None and invite.email != email:
            raise _refusal(403, "invite_email_mismatch", "This invite is for another email address.")
        if is_member(app=app, email=email):
            raise _refusal(409, "already_member", "Already a member of this App.")
        membership = user_create(
            app=app, actor=Actor.anonymous(), email=email, display_name=display_name, roles=[invite.role]
        )
        invite.uses += 1
        invite.save(update_fields=["uses"])
        audit_record(
            app=app,
            action=Action.INVITE_ACCEPTED,
            actor=Actor("user", membership.id),
            target_type="user",
            target_id=membership.id,
            changes={"invite": invite.id, "role": invite.role, "uses": invite.uses, "via": via},
        )
        return membership


def invite_join_refused(*, app: App, invite_id: str, reason: str) -> None:
    """Record a refused social join in the invite's App (in a transaction of its own)."""
    with transaction.atomic(), tenant_scope(app):
        audit_record(
            app=app,
            action=Action.INVITE_ACCEPT_REFUSED,
            actor=Actor.anonymous(),
            target_type="invite",
            target_id=invite_id,
            changes={"reason": reason},
        )
