"""Social sign-in: identity providers per App, the browser flow, and members' linked identities.

The flow (README, "Social sign-in"): `/v1/oauth/authorize` checks the App, the redirect URI
(exact match against the App's `redirectUris`), the client's state and S256 challenge, the
provider and any invite, remembers all that under a fresh state of Heimdall's own (with a nonce
and a PKCE verifier towards the provider) and sends the browser to the provider.
`/v1/oauth/callback` finds the sign-in by that state (single use, ten minutes), exchanges the
provider's code, verifies the ID token, finds or makes the member, and sends the browser back to
the client's redirect URI with a one-time Heimdall code (tokens.codes) and the client's state.

The sign-in is bound to the browser that started it: `/v1/oauth/authorize` hands that browser a
short-lived cookie holding a random value whose digest the flow keeps, and the callback refuses
(problem+json, audited, without using the flow up) a browser that does not bring it. So a
callback URL carrying someone else's state and code (login CSRF, a leaked URL) signs nobody in.
Both endpoints are throttled per client IP and App (`SOCIAL_MAX_REQUESTS_PER_IP`).

Errors before the redirect URI is trusted are problem+json; after, they travel to it as
`error` (access_denied, temporarily_unavailable, invalid_request) with the client's state.
Every refusal is recorded in the App's audit log with its reason; no secret or code ever is.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership
from accounts.services import email_normalize, last_login_record, user_create
from audit.actions import Action
from audit.services import audit_record
from core import context, crypto, throttle
from core.conf import heimdall_settings
from core.context import Actor, system_scope, tenant_scope
from core.errors import ApiError, conflict, not_found, oauth_error, validation_error
from invites.services import invite_join, invite_join_refused, invite_pending_id
from social import oidc
from social.models import AuthorizationFlow, IdentityProvider, SocialLink
from tenants.models import App
from tokens.codes import authorization_code_issue, pkce_s256

SECRET_PURPOSE = "identity-provider-client-secret"
_VERIFIER_PURPOSE = "oauth-flow-verifier"
FLOW_TTL = timedelta(minutes=10)
_PURGE_AFTER = timedelta(days=1)
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # BASE64URL(SHA-256), unpadded
_SCOPE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,200}$")  # RFC 6749 scope-token
MAX_STATE = 1000
OIDC_KINDS = ("oidc", "google", "microsoft")
DEFAULT_SCOPES = {
    "oidc": ["openid", "email", "profile"],
    "google": ["openid", "email", "profile"],
    "microsoft": ["openid", "email", "profile"],
    "github": ["read:user", "user:email"],
}


def callback_url() -> str:
    return f"{settings.PUBLIC_URL}/v1/oauth/callback"


# ---- browser binding and throttling ------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserCookie:
    """The cookie that binds a sign-in to the browser that started it (set by the view)."""

    name: str
    value: str
    max_age: int
    secure: bool


@dataclass(frozen=True)
class AuthorizeOutcome:
    location: str
    cookie: BrowserCookie | None = None  # set only when the browser goes on to the provider


@dataclass(frozen=True)
class CallbackOutcome:
    location: str
    clear_cookie: BrowserCookie | None = None


def _cookie_secure() -> bool:
    return str(settings.PUBLIC_URL).startswith("https://")


def browser_cookie_name(flow_id: str) -> str:
    """One cookie per flow, so two sign-ins in two tabs do not undo each other. Over https the
    `__Host-` prefix makes the browser refuse one set by a sibling domain (no cookie tossing)."""
    return ("__Host-" if _cookie_secure() else "") + f"heimdall_signin_{flow_id}"


def _browser_digest(value: str) -> str:
    return crypto.secret_digest("oauth-browser:" + value)


def _flow_limits(endpoint: str, app_key: str) -> list[throttle.Limit]:
    ip = context.request_info().ip
    if not ip:
        return []
    key = f"soc{endpoint}:" + crypto.secret_digest(f"social-{endpoint}:{app_key}:{ip}")[:64]
    return [throttle.Limit(key, heimdall_settings.SOCIAL_MAX_REQUESTS_PER_IP)]


def _throttle(endpoint: str, app_key: str) -> None:
    """Count this request (every one: each may start provider calls and write a flow and audit
    events) against the client IP in this App; 429 `too_many_attempts` past the limit."""
    try:
        throttle.attempt(limits=_flow_limits(endpoint, app_key))
    except ApiError as exc:
        retry = exc.headers.get("Retry-After", "60")
        raise ApiError(
            exc.status,
            exc.code,
            f"Too many sign-in requests from this address. Retry in {retry} seconds.",
            headers=exc.headers,
            oauth=True,
        ) from None


# ---- providers ---------------------------------------------------------------------------------------


def _issuer_validate(kind: str, issuer: Any) -> str | None:
    if kind == "github":
        if issuer is not None:
            raise validation_error("issuer", "not_allowed", "github has fixed endpoints: omit issuer")
        return None
    if kind == "google":
        if issuer not in (None, oidc.GOOGLE_ISSUER):
            raise validation_error("issuer", "not_allowed", f"google's issuer is {oidc.GOOGLE_ISSUER}: omit issuer")
        return oidc.GOOGLE_ISSUER
    if kind == "microsoft":
        if issuer is None:
            return oidc.MICROSOFT_ISSUER
        if isinstance(issuer, str):
            issuer = issuer.lower()
        if not isinstance(issuer, str) or not oidc.MICROSOFT_ISSUER_RE.fullmatch(issuer):
            raise validation_error(
                "issuer",
                "invalid",
                "must be https://login.microsoftonline.com/{tenant}/v2.0 where {tenant} is the directory (tenant) "
                "id, a GUID, or common, organizations or consumers; omitted means common",
            )
        return issuer
    if issuer is None:
        raise validation_error("issuer", "required", "an oidc provider needs its issuer URL")
    problem = oidc.url_problem(issuer)
    if problem is None and (urlsplit(issuer).query or issuer.endswith("/.well-known/openid-configuration")):
        problem = "must be the issuer itself, without query or discovery path"
    if problem is not None:
        raise validation_error("issuer", "invalid_issuer", f"issuer {problem}")
    return str(issuer)


def _scopes_validate(kind: str, scopes: Any) -> list[str]:
    if scopes is None:
        return list(DEFAULT_SCOPES[kind])
    if not isinstance(scopes, list) or not 1 <= len(scopes) <= 20:
        raise validation_error("scopes", "invalid", "must be a list of 1 to 20 scope names")
    for index, scope in enumerate(scopes):
        if not isinstance(scope, str) or not _SCOPE_RE.fullmatch(scope):
            raise validation_error(f"scopes[{index}]", "invalid", "must be an OAuth scope name")
    if kind in OIDC_KINDS and "openid" not in scopes:
        raise validation_error("scopes", "openid_required", "an OpenID Connect provider's scopes include openid")
    return list(dict.fromkeys(scopes))


def _audited(provider: IdentityProvider) -> dict[str, Any]:
    return {
        "kind": provider.kind,
        "issuer": provider.issuer,
        "clientId": provider.client_id,
        "scopes": provider.scopes,
        "enabled": provider.enabled,
    }


def provider_get(*, provider_id: str) -> IdentityProvider:
    """The current App's provider, or 404 (the same for another App's)."""
    provider = IdentityProvider.objects.filter(pk=provider_id).first()
    if provider is None:
        raise not_found("identity provider")
    return provider


def provider_create(
    *,
    app: App,
    actor: Actor,
    kind: str,
    client_id: str,
    client_secret: str,
    issuer: str | None = None,
    scopes: list[str] | None = None,
    enabled: bool = True,
) -> IdentityProvider:
    if kind not in IdentityProvider.Kind.values:
        raise validation_error("kind", "invalid_choice", "kind must be oidc, google, microsoft or github")
    provider = IdentityProvider(
        app=app,
        kind=kind,
        issuer=_issuer_validate(kind, issuer),
        client_id=client_id,
        scopes=_scopes_validate(kind, scopes),
        enabled=enabled,
    )
    provider.client_secret_encrypted = crypto.encrypt_secret(client_secret, purpose=SECRET_PURPOSE, key_id=provider.id)
    with transaction.atomic(), tenant_scope(app):
        provider.save(force_insert=True)
        audit_record(
            app=app,
            action=Action.IDENTITY_PROVIDER_CREATED,
            actor=actor,
            target_type="identity_provider",
            target_id=provider.id,
            changes=_audited(provider),
        )
    return provider


_UNSET: Any = object()


def _for_kind(check: Any, kind: str, value: Any) -> Any:
    """`check(kind, value)`; a value that another kind would accept is well formed, so its refusal
    is this provider's kind's, not the request's shape: 422 `not_for_kind` instead of 400."""
    try:
        return check(kind, value)
    except ApiError as refusal:
        for other in DEFAULT_SCOPES:
            try:
                check(other, value)
            except ApiError:
                continue
            raise ApiError(
                422, "not_for_kind", f"{refusal.detail} (this provider is {kind})", errors=refusal.errors
            ) from None
        raise


def provider_update(
    *,
    app: App,
    actor: Actor,
    provider_id: str,
    issuer: Any = _UNSET,
    client_id: str | None = None,
    client_secret: str | None = None,
    scopes: list[str] | None = None,
    enabled: bool | None = None,
) -> IdentityProvider:
    """Change a provider; its kind is fixed. A new secret is stored encrypted and only noted as
    changed in the audit log."""
    with transaction.atomic(), tenant_scope(app):
        provider = IdentityProvider.objects.select_for_update().filter(pk=provider_id).first()
        if provider is None:
            raise not_found("identity provider")
        before = _audited(provider)
        if issuer is not _UNSET:
            provider.issuer = _for_kind(_issuer_validate, provider.kind, issuer)
        if client_id is not None:
            provider.client_id = client_id
        if scopes is not None:
            provider.scopes = _for_kind(_scopes_validate, provider.kind, scopes)
        if enabled is not None:
            provider.enabled = enabled
        after = _audited(provider)
        changes: dict[str, Any] = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        if client_secret is not None:
            provider.client_secret_encrypted = crypto.encrypt_secret(
                client_secret, purpose=SECRET_PURPOSE, key_id=provider.id
            )
            changes["secretChanged"] = True
        if changes:
            provider.save()
            audit_record(
                app=app,
                action=Action.IDENTITY_PROVIDER_UPDATED,
                actor=actor,
                target_type="identity_provider",
                target_id=provider.id,
                changes=changes,
            )
        return provider


def provider_delete(*, app: App, actor: Actor, provider_id: str) -> None:
    """Delete a provider and, with it, every member's link to it and sign-ins in progress."""
    with transaction.atomic(), tenant_scope(app):
        provider = IdentityProvider.objects.select_for_update().filter(pk=provider_id).first()
        if provider is None:
            raise not_found("identity provider")
        links = SocialLink.objects.filter(provider=provider).count()
        changes = {**_audited(provider), "linksRemoved": links}
        provider.delete()
        audit_record(
            app=app,
            action=Action.IDENTITY_PROVIDER_DELETED,
            actor=actor,
            target_type="identity_provider",
            target_id=provider_id,
            changes=changes,
        )


def _config(provider: IdentityProvider) -> oidc.ProviderConfig:
    secret = crypto.decrypt_secret(provider.client_secret_encrypted, purpose=SECRET_PURPOSE, key_id=provider.id)
    return oidc.ProviderConfig(
        kind=provider.kind,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=secret,
        scopes=tuple(provider.scopes),
    )


# ---- the flow -----------------------------------------------------------------------------------------


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _error_redirect(redirect_uri: str, error: str, description: str, state: str | None) -> str:
    params = {"error": error, "error_description": description}
    if state:
        params["state"] = state
    return _with_query(redirect_uri, params)


def _record(app: App, action: Action, changes: dict[str, Any], *, actor: Actor | None = None,
            target: tuple[str, str | None] = ("identity_provider", None)) -> None:
    with transaction.atomic(), tenant_scope(app):
        audit_record(
            app=app,
            action=action,
            actor=actor or Actor.anonymous(),
            target_type=target[0],
            target_id=target[1],
            changes=changes,
        )


def _untrusted(field: str, detail: str) -> ApiError:
    return oauth_error(
        "invalid_request", detail, errors=[{"field": field, "code": "invalid", "message": detail}]
    )


def authorize_start(
    *,
    app_slug: str | None,
    provider_id: str | None,
    redirect_uri: str | None,
    state: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    invite: str | None,
) -> AuthorizeOutcome:
    """Where to send the browser: the provider (with the cookie binding the sign-in to this
    browser), or (once the redirect URI is trusted) back to the client with an error. Raises
    ApiError (problem+json) while it is not trusted, and 429 past the per-IP limit."""
    _throttle("authorize", (app_slug or "")[:63])
    app = App.objects.filter(slug=app_slug).first() if app_slug and len(app_slug) <= 63 else None
    if app is None:
        raise _untrusted("app", "app must be the slug of an existing App.")
    if not redirect_uri or redirect_uri not in app.setting("redirectUris"):
        _record(
            app,
            Action.SOCIAL_AUTHORIZE_REFUSED,
            {"reason": "redirect_uri_not_registered", "redirectUri": (redirect_uri or "")[:300]},
            target=("identity_provider", (provider_id or "")[:40] or None),
        )
        raise _untrusted("redirect_uri", "redirect_uri must be one of the App's registered redirectUris, exactly.")

    def refuse(error: str, reason: str, description: str) -> AuthorizeOutcome:
        _record(
            app,
            Action.SOCIAL_AUTHORIZE_REFUSED,
            {"reason": reason, "redirectUri": redirect_uri},
            target=("identity_provider", (provider_id or "")[:40] or None),
        )
        client_state = state if state and len(state) <= MAX_STATE else None
        return AuthorizeOutcome(_error_redirect(redirect_uri, error, description, client_state))

    if not state or len(state) > MAX_STATE:
        return refuse("invalid_request", "state_invalid", f"state is required (at most {MAX_STATE} characters).")
    if code_challenge_method != "S256":
        return refuse("invalid_request", "pkce_method", "code_challenge_method must be S256.")
    if not code_challenge or not _CHALLENGE_RE.fullmatch(code_challenge):
        return refuse("invalid_request", "pkce_challenge", "code_challenge must be BASE64URL(SHA-256(verifier)).")
    if not app.is_active:
        return refuse("access_denied", "app_suspended", "This App is suspended.")
    provider = None
    if provider_id and len(provider_id) <= 40:
        with tenant_scope(app):
            provider = IdentityProvider.objects.filter(pk=provider_id).first()
    if provider is None or not provider.enabled:
        return refuse("invalid_request", "unknown_provider", "provider is not an enabled identity provider of this App.")
    invite_id = None
    if invite:
        try:
            invite_id = invite_pending_id(token=invite, app=app)
        except ApiError as exc:
            return refuse("access_denied", _invite_reason(exc.code), "The invite is not valid for this App.")
    config = _config(provider)
    try:
        meta = oidc.metadata(config, oidc.Deadline())
    except oidc.ProviderUnavailable as exc:
        return refuse("temporarily_unavailable", f"provider_unavailable:{exc.reason}", "The identity provider is unavailable.")
    except oidc.ProviderRefused as exc:
        return refuse("temporarily_unavailable", f"provider_misconfigured:{exc.reason}", "The identity provider is unavailable.")

    own_state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    browser = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic(), tenant_scope(app):
        AuthorizationFlow.objects.filter(expires_at__lt=now - _PURGE_AFTER).delete()
        flow = AuthorizationFlow(
            app=app,
            state_digest=crypto.secret_digest("oauth-state:" + own_state),
            provider=provider,
            redirect_uri=redirect_uri,
            client_state=state,
            code_challenge=code_challenge,
            nonce=nonce,
            browser_digest=_browser_digest(browser),
            invite_id=invite_id,
            expires_at=now + FLOW_TTL,
        )
        flow.verifier_encrypted = crypto.encrypt_secret(verifier, purpose=_VERIFIER_PURPOSE, key_id=flow.id)
        flow.save(force_insert=True)
        audit_record(
            app=app,
            action=Action.SOCIAL_AUTHORIZE_STARTED,
            actor=Actor.anonymous(),
            target_type="identity_provider",
            target_id=provider.id,
            changes={"redirectUri": redirect_uri, "invite": invite_id, "flow": flow.id},
        )
    query = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": callback_url(),
        "scope": " ".join(provider.scopes),
        "state": own_state,
        "code_challenge": pkce_s256(verifier),
        "code_challenge_method": "S256",
    }
    if provider.kind in OIDC_KINDS:
        query["nonce"] = nonce
    cookie = BrowserCookie(
        name=browser_cookie_name(flow.id), value=browser, max_age=int(FLOW_TTL.total_seconds()), secure=_cookie_secure()
    )
    return AuthorizeOutcome(_with_query(meta["authorization_endpoint"], query), cookie)


def _invite_reason(code: str) -> str:
    """The audit reason for an invite the invites service refused: its own code when that names
    the invite already (`invite_expired`), else prefixed (`not_found` -> `invite_not_found`)."""
    return code if code.startswith("invite_") else f"invite_{code}"


class _Denied(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_PROVIDER_ERRORS = {
    "access_denied": "access_denied",
    "login_required": "access_denied",
    "consent_required": "access_denied",
    "interaction_required": "access_denied",
    "temporarily_unavailable": "temporarily_unavailable",
    "server_error": "temporarily_unavailable",
}


def callback_finish(
    *, state: str | None, code: str | None, error: str | None, cookies: Mapping[str, str]
) -> CallbackOutcome:
    """Where to send the browser after the provider: the client's redirect URI with a Heimdall
    code and the client's state, or with an error. An unknown, used or expired state, or a
    browser without the cookie /v1/oauth/authorize gave the one that started this sign-in, is a
    problem+json 400 (no redirect can be trusted); 429 past the per-IP limit."""
    digest = crypto.secret_digest("oauth-state:" + state) if state and len(state) <= 200 else None
    app_key = "-"
    if digest is not None:
        with system_scope(reason="which App's limit counts this callback: a read by the state's digest"):
            app_key = AuthorizationFlow.objects.filter(state_digest=digest).values_list("app_id", flat=True).first() or "-"
    _throttle("callback", app_key)
    if digest is None:
        raise _untrusted("state", "state is missing or unknown: start the sign-in again.")
    binding: str | None = None
    with transaction.atomic():
        with system_scope(reason="found by the digest of Heimdall's own state; then runs in its App"):
            flow = (
                AuthorizationFlow.objects.select_for_update(of=("self",))
                .select_related("app", "provider")
                .filter(state_digest=digest)
                .first()
            )
        if flow is None:
            raise _untrusted("state", "state is missing or unknown: start the sign-in again.")
        stale = "state_reused" if flow.used_at is not None else "state_expired" if flow.expires_at <= timezone.now() else None
        if stale is None:
            cookie = cookies.get(browser_cookie_name(flow.id))
            if not cookie or len(cookie) > 200:
                binding = "browser_binding_missing"
            elif not hmac.compare_digest(_browser_digest(cookie), flow.browser_digest):
                binding = "browser_binding_mismatch"
            else:  # only the browser that started it uses the flow up
                flow.used_at = timezone.now()
                with tenant_scope(flow.app):  # the flow's own App (on PostgreSQL, RLS admits only it)
                    flow.save(update_fields=["used_at"])
    app, provider = flow.app, flow.provider
    if stale is not None:
        _record(app, Action.SOCIAL_LOGIN_FAILED, {"reason": stale, "flow": flow.id}, target=("identity_provider", provider.id))
        raise _untrusted("state", "This sign-in was already completed or has expired: start again.")
    if binding is not None:
        _record(app, Action.SOCIAL_LOGIN_FAILED, {"reason": binding, "flow": flow.id}, target=("identity_provider", provider.id))
        raise oauth_error(
            "invalid_request",
            "This sign-in was started in another browser (or this browser blocks its cookie): "
            "start it again here.",
            errors=[{"field": "cookie", "code": binding, "message": "the sign-in cookie is missing or does not match"}],
        )
    clear = BrowserCookie(name=browser_cookie_name(flow.id), value="", max_age=0, secure=_cookie_secure())

    def refuse(error_code: str, reason: str, description: str, **extra: Any) -> CallbackOutcome:
        _record(
            app,
            Action.SOCIAL_LOGIN_FAILED,
            {"reason": reason, "flow": flow.id, **extra},
            target=("identity_provider", provider.id),
        )
        return CallbackOutcome(_error_redirect(flow.redirect_uri, error_code, description, flow.client_state), clear)

    if error:
        mapped = _PROVIDER_ERRORS.get(error, "access_denied")
        return refuse(mapped, f"provider_error:{error[:64]}", "The identity provider did not sign you in.")
    if not code or len(code) > 4096:
        return refuse("invalid_request", "provider_code_missing", "The identity provider sent no code.")
    if not app.is_active:
        return refuse("access_denied", "app_suspended", "This App is suspended.")
    if not provider.enabled:
        return refuse("access_denied", "provider_disabled", "This identity provider is disabled.")
    verifier = crypto.decrypt_secret(flow.verifier_encrypted, purpose=_VERIFIER_PURPOSE, key_id=flow.id)
    try:
        identity = oidc.identity_fetch(
            _config(provider),
            code=code,
            redirect_uri=callback_url(),
            verifier=verifier,
            nonce=flow.nonce,
            deadline=oidc.Deadline(),
        )
    except oidc.ProviderUnavailable as exc:
        return refuse(
            "temporarily_unavailable", f"provider_unavailable:{exc.reason}", "The identity provider is unavailable; retry."
        )
    except oidc.ProviderRefused as exc:
        return refuse("access_denied", exc.reason, "The identity provider's answer could not be accepted.")
    try:
        email = email_normalize(identity.email) if identity.email else None
    except ApiError:
        email = None
    try:
        membership, how = _member_for(flow, provider, identity, email)
    except _Denied as denied:
        if denied.reason.startswith("invite_") and flow.invite_id:
            invite_join_refused(app=app, invite_id=flow.invite_id, reason=denied.reason)
        return refuse("access_denied", denied.reason, "Sign-in refused.", email=email, subject=identity.subject)
    with transaction.atomic(), tenant_scope(app):
        last_login_record(app=app, user_id=membership.id)
        audit_record(
            app=app,
            action=Action.SOCIAL_LOGIN_SUCCEEDED,
            actor=Actor("user", membership.id),
            target_type="user",
            target_id=membership.id,
            changes={"provider": provider.id, "via": how, "email": email},
        )
        heimdall_code = authorization_code_issue(
            app=app,
            membership=membership,
            redirect_uri=flow.redirect_uri,
            code_challenge=flow.code_challenge,
            via=provider.id,
        )
    return CallbackOutcome(_with_query(flow.redirect_uri, {"code": heimdall_code, "state": flow.client_state}), clear)


def _member_for(
    flow: AuthorizationFlow, provider: IdentityProvider, identity: oidc.ProviderIdentity, email: str | None
) -> tuple[Membership, str]:
    """The member this provider account signs in as, linking (or admitting) them if need be;
    (membership, how: link | email | invite | signup). Raises _Denied with the reason."""
    app = flow.app
    try:
        with transaction.atomic(), tenant_scope(app):
            link = SocialLink.objects.select_related("membership").filter(provider=provider, subject=identity.subject).first()
            how = "link"
            if link is not None:
                membership = link.membership
            else:
                existing = Membership.objects.filter(identity__email=email).first() if email else None
                if existing is not None:
                    if not identity.email_verified:
                        raise _Denied("email_unverified")
                    membership, how = existing, "email"
                elif email is None or not identity.email_verified:
                    raise _Denied("email_unverified" if email else "email_missing")
                elif flow.invite_id is not None:
                    try:
                        membership = invite_join(
                            app=app, invite_id=flow.invite_id, email=email, via=provider.id, display_name=identity.name
                        )
                    except ApiError as exc:
                        raise _Denied(_invite_reason(exc.code)) from exc
                    how = "invite"
                elif app.setting("socialSignup") == "open":
                    try:
                        membership = user_create(
                            app=app,
                            actor=Actor.anonymous(),
                            email=email,
                            display_name=identity.name,
                            roles=list(app.setting("signupRoles")),
                        )
                    except ApiError as exc:
                        raise _Denied(f"signup_{exc.code}") from exc
                    audit_record(
                        app=app,
                        action=Action.SOCIAL_SIGNUP,
                        actor=Actor("user", membership.id),
                        target_type="user",
                        target_id=membership.id,
                        changes={"provider": provider.id, "email": email, "roles": membership.roles},
                    )
                    how = "signup"
                else:
                    raise _Denied("not_a_member")
                created = SocialLink.objects.create(
                    app=app, provider=provider, subject=identity.subject, membership=membership, email=email
                )
                audit_record(
                    app=app,
                    action=Action.SOCIAL_IDENTITY_LINKED,
                    actor=Actor("user", membership.id),
                    target_type="user",
                    target_id=membership.id,
                    changes={"provider": provider.id, "identity": created.id, "via": how, "email": email},
                )
            if membership.status != Membership.Status.ACTIVE:
                raise _Denied("user_suspended")
            return membership, how
    except IntegrityError as exc:
        raise _Denied("concurrent_link") from exc


# ---- a member's own identities ------------------------------------------------------------------------


def identities_of(*, app: App, user_id: str) -> list[SocialLink]:
    with tenant_scope(app):
        return list(SocialLink.objects.filter(membership_id=user_id).order_by("-id"))


def identity_unlink(*, app: App, actor: Actor, user_id: str, link_id: str) -> None:
    """Remove one of the member's linked identities; 409 `last_sign_in_method` when it is their
    only way to sign in to this App (no password here and no other link)."""
    with transaction.atomic(), tenant_scope(app):
        # Lock the member first: two concurrent unlinks must not both see "another one is left".
        membership = Membership.objects.select_for_update().filter(pk=user_id).first()
        link = SocialLink.objects.select_for_update().filter(pk=link_id, membership_id=user_id).first()
        if membership is None or link is None:
            raise not_found("linked identity")
        others = SocialLink.objects.filter(membership_id=user_id).exclude(pk=link.pk).exists()
        if not others and not membership.password_hash:
            raise conflict(
                "last_sign_in_method",
                "This is your only way to sign in to this App: set a password or link another identity first.",
            )
        provider_id = link.provider_id
        link.delete()
        audit_record(
            app=app,
            action=Action.SOCIAL_IDENTITY_UNLINKED,
            actor=actor,
            target_type="user",
            target_id=user_id,
            changes={"provider": provider_id, "identity": link_id},
        )
