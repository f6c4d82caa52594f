"""The App rows: validating slugs and settings, inserting, changing and removing Apps.

Creating an App with its roles, keys and admin client, and deleting one with the identities it
leaves behind, span several layers: that orchestration is `heimdall.provisioning`, which calls
the functions here for the App row itself."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record
from core.changes import AppChanged, publish
from core.context import Actor
from core.errors import ApiError, conflict, not_found
from core.serializers import json_integer
from tenants.models import DEFAULT_SETTINGS, OPERATOR_SLUG, SIGNING_ALGORITHMS, App

SLUG_RE = re.compile(r"^[a-z0-9-]{3,63}$")

# name -> (minimum, maximum) for integer settings
_TTL_BOUNDS: dict[str, tuple[int, int]] = {
    "accessTokenTtlSeconds": (60, 86_400),
    "refreshTokenTtlSeconds": (300, 31_536_000),
    "m2mTokenTtlSeconds": (60, 86_400),
    "delegatedTokenTtlSeconds": (30, 3_600),
}


def _setting_error(name: str, code: str, message: str) -> ApiError:
    return ApiError(
        400,
        "validation_error",
        f"settings.{name}: {message}",
        errors=[{"field": f"settings.{name}", "code": code, "message": message}],
    )


# redirectUris: at most this many, each at most this long (exact-match strings, so no normalizing).
_REDIRECT_URIS_MAX = 50
_REDIRECT_URI_MAX_LENGTH = 2000
# Printable ASCII with no space, backslash, "#" (fragment) or "@" (userinfo); non-ASCII hosts must
# be given in their punycode form. The scheme is lowercase, the authority present.
_REDIRECT_URI_RE = re.compile(r"(https?)://([^/?]+)[!-~]*")
_REDIRECT_URI_FORBIDDEN = frozenset("\\#@")
_AUTHORITY_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?")
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME_RE = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*\.?")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "localhost"})


def _redirect_uri_problem(uri: Any) -> str | None:
    """Why `uri` is not an acceptable redirect URI, or None when it is."""
    if not isinstance(uri, str):
        return "must be a string"
    if not uri or len(uri) > _REDIRECT_URI_MAX_LENGTH:
        return f"must be 1 to {_REDIRECT_URI_MAX_LENGTH} characters"
    match = _REDIRECT_URI_RE.fullmatch(uri)
    if match is None or _REDIRECT_URI_FORBIDDEN.intersection(uri):
        return "must be an absolute https (or loopback http) URI, without fragment or userinfo"
    scheme, authority = match.groups()
    host_port = _AUTHORITY_RE.fullmatch(authority)
    if host_port is None:
        return "has an invalid host or port"
    host, port = host_port.groups()
    if port is not None and not 1 <= int(port) <= 65_535:
        return "has an invalid port"
    if scheme == "http":
        if host not in _LOOPBACK_HOSTS:
            return "http is allowed only on 127.0.0.1, [::1] or localhost; use https"
    elif not (host.startswith("[") or _DNS_NAME_RE.fullmatch(host)):
        return "has an invalid host"
    try:
        urlsplit(uri)  # what consumers will do with it; e.g. refuses a malformed IPv6 literal
    except ValueError:
        return "is not a valid URI"
    return None


def _redirect_uris_validate(value: Any) -> list[str]:
    """The `redirectUris` setting: a list of distinct, acceptable redirect URIs (see above)."""
    if not isinstance(value, list) or len(value) > _REDIRECT_URIS_MAX:
        raise _setting_error(
            "redirectUris", "invalid", f"must be a list of at most {_REDIRECT_URIS_MAX} absolute URIs"
        )
    seen: set[str] = set()
    for index, uri in enumerate(value):
        field = f"redirectUris[{index}]"
        if (reason := _redirect_uri_problem(uri)) is not None:
            raise _setting_error(field, "invalid_uri", reason)
        if uri in seen:
            raise _setting_error(field, "duplicate", "appears more than once")
        seen.add(uri)
    return value


def _invite_url_template_problem(template: Any) -> str | None:
    """Why `template` is not an acceptable invite URL template, or None. It is an absolute https
    (or loopback http) URL with `{token}` exactly once; a fragment may carry the token."""
    if not isinstance(template, str) or template.count("{token}") != 1:
        return "must be a URL string containing {token} exactly once"
    base, _, fragment = template.replace("{token}", "TOKEN").partition("#")
    if fragment and (len(fragment) > 500 or not fragment.isprintable() or " " in fragment):
        return "has an invalid fragment"
    return _redirect_uri_problem(base)


_ROLE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SIGNUP_ROLES_MAX = 20


def _signup_roles_validate(value: Any) -> list[str]:
    """The `signupRoles` setting's shape: distinct role names. Whether each role exists is checked
    where it is used (social sign-up), as roles live in a layer above this one."""
    if not isinstance(value, list) or len(value) > _SIGNUP_ROLES_MAX:
        raise _setting_error("signupRoles", "invalid", f"must be a list of at most {_SIGNUP_ROLES_MAX} role names")
    for index, name in enumerate(value):
        if not isinstance(name, str) or not _ROLE_NAME_RE.fullmatch(name):
            raise _setting_error(f"signupRoles[{index}]", "invalid", "must be a role name")
    if len(set(value)) != len(value):
        raise _setting_error("signupRoles", "duplicate", "names a role more than once")
    return value


def settings_validate(raw: Any) -> dict[str, Any]:
    """Validate a (partial) settings object; returns the cleaned values given."""
    if not isinstance(raw, dict):
        raise ApiError(
            400,
            "validation_error",
            "settings must be a JSON object.",
            errors=[{"field": "settings", "code": "invalid", "message": "must be an object"}],
        )
    cleaned: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in DEFAULT_SETTINGS:
            raise _setting_error(
                name, "unknown_setting", f"unknown setting; known: {', '.join(sorted(DEFAULT_SETTINGS))}"
            )
        if name in _TTL_BOUNDS:
            low, high = _TTL_BOUNDS[name]
            value = json_integer(value)
            if value is None or not low <= value <= high:
                raise _setting_error(name, "out_of_range", f"must be an integer from {low} to {high}")
        elif name == "redirectUris":
            value = _redirect_uris_validate(value)
        elif name == "inviteUrlTemplate":
            if value is not None:
                problem = _invite_url_template_problem(value)
                if problem:
                    raise _setting_error(name, "invalid_uri", problem)
        elif name == "signupRoles":
            value = _signup_roles_validate(value)
        elif name == "socialSignup":
            if value not in ("members_only", "open"):
                raise _setting_error(name, "invalid_choice", "must be 'members_only' or 'open'")
        elif name == "auditRetentionDays" and value is not None:
            value = json_integer(value)
            if value is None or not 1 <= value <= 3650:
                raise _setting_error(name, "out_of_range", "must be null or an integer from 1 to 3650")
        elif name == "signingAlgorithm":
            # Exact names only ("es256", "ES384", "HS256", "none" are refused): it becomes the JWS
            # `alg` of every key generated from now on.
            if not isinstance(value, str) or value not in SIGNING_ALGORITHMS:
                raise _setting_error(name, "invalid_choice", f"must be one of {', '.join(SIGNING_ALGORITHMS)}")
        cleaned[name] = value
    return cleaned


def slug_validate(slug: Any) -> str:
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise ApiError(
            400,
            "validation_error",
            "slug must be 3-63 characters of a-z, 0-9 and '-'.",
            errors=[{"field": "slug", "code": "invalid_slug", "message": "3-63 chars of a-z0-9-"}],
        )
    return slug


def app_get(*, slug: str) -> App:
    app = App.objects.filter(slug=slug).first()
    if app is None:
        raise not_found("App")
    return app


def _app_changes(app: App) -> dict[str, Any]:
    return {"slug": app.slug, "displayName": app.display_name, "status": app.status, "settings": app.settings}


def app_changes(app: App) -> dict[str, Any]:
    """An App's audited fields, as recorded when it is created or deleted."""
    return {"slug": app.slug, "displayName": app.display_name, "status": app.status, "settings": app.settings}


def app_event_record(
    *, app: App, operator_app: App | None, action: Action, actor: Actor, changes: dict[str, Any]
) -> None:
    """An App change goes in the App's own log and, when an operator made it, the operator's."""
    audit_record(app=app, action=action, actor=actor, target_type="app", target_id=app.id, changes=changes)
    if operator_app is not None and operator_app.pk != app.pk:
        audit_record(
            app=operator_app, action=action, actor=actor, target_type="app", target_id=app.id, changes=changes
        )


def app_insert(
    *, slug: str, display_name: str, settings: dict[str, Any] | None = None, is_operator: bool = False
) -> App:
    """Insert the App row after validating slug and settings. Call inside the caller's transaction
    (heimdall.provisioning), which provisions the rest of the App in the same commit."""
    slug_validate(slug)
    # `settings: []` (or 0, "") is not "no settings": settings_validate refuses it.
    cleaned = settings_validate(settings if settings is not None else {})
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("app_insert runs inside the provisioning transaction")
    if App.objects.filter(slug=slug).exists():
        raise conflict("slug_taken", f"An App with slug '{slug}' already exists. Choose another slug.")
    try:
        with transaction.atomic():
            app = App.objects.create(slug=slug, display_name=display_name, settings=cleaned, is_operator=is_operator)
    except IntegrityError as exc:
        raise conflict("slug_taken", f"An App with slug '{slug}' already exists.") from exc
    return app


def operator_app_find() -> App | None:
    return App.objects.filter(slug=OPERATOR_SLUG).first()


def app_remove(*, app: App) -> None:
    """Delete the App row; the database cascade removes every row of the App. Call inside the
    caller's transaction (heimdall.provisioning.app_delete), which records it."""
    if app.is_operator:
        raise conflict("operator_app_protected", "The operator App cannot be deleted.")
    App.objects.filter(pk=app.pk).delete()
    publish(AppChanged(app_id=app.id))


def app_update(
    *,
    app: App,
    actor: Actor,
    display_name: str | None = None,
    status: str | None = None,
    settings: dict[str, Any] | None = None,
    operator_app: App | None = None,
) -> App:
    """Change an App's name, settings or status. Suspension makes its tokens fail at once."""
    cleaned = settings_validate(settings) if settings is not None else None
    if status is not None and status not in (App.Status.ACTIVE, App.Status.SUSPENDED):
        raise ApiError(
            400,
            "validation_error",
            "status must be 'active' or 'suspended'.",
            errors=[{"field": "status", "code": "invalid_choice", "message": "active | suspended"}],
        )
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        if status == App.Status.SUSPENDED and app.is_operator:
            raise conflict("operator_app_protected", "The operator App cannot be suspended.")
        changes: dict[str, Any] = {}
        if display_name is not None and display_name != app.display_name:
            changes["displayName"] = {"from": app.display_name, "to": display_name}
            app.display_name = display_name
        if cleaned:
            merged = {**app.settings, **cleaned}
            if merged != app.settings:
                changes["settings"] = {"from": app.settings, "to": merged}
                app.settings = merged
        if status is not None and status != app.status:
            changes["status"] = {"from": app.status, "to": status}
            app.status = status
            if status == App.Status.SUSPENDED:
                # Suspension ends everything issued before it (iat is whole seconds).
                app.tokens_valid_after = timezone.now()
        if not changes:
            return app
        app.save()
        action = Action.APP_UPDATED
        if "status" in changes:
            action = Action.APP_SUSPENDED if status == App.Status.SUSPENDED else Action.APP_REACTIVATED
        app_event_record(app=app, operator_app=operator_app, action=action, actor=actor, changes=changes)
        publish(AppChanged(app_id=app.id))
    return app
