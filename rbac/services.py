"""Declaring permissions and defining roles. Each write records its audit event and publishes an
App change, so every process's authorization state sees the new definitions within a second."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from audit.actions import Action
from audit.services import audit_record
from core.changes import AppChanged, publish
from core.context import Actor, tenant_scope
from core.errors import ApiError, conflict, not_found
from rbac import permissions as perms
from rbac.holders import role_holders
from rbac.models import Permission, Role
from tenants.models import App

DEFAULT_ROLES: tuple[tuple[str, str, list[str]], ...] = (
    ("admin", "Everything, including Heimdall management.", ["*", "heimdall:*"]),
    ("editor", "Every permission the App declares.", ["*"]),
    ("viewer", "Every read permission the App declares.", ["*.read"]),
)


def _management(app: App) -> frozenset[str]:
    return perms.management_permissions(operator=app.is_operator)


def _declared(app: App) -> set[str]:
    with tenant_scope(app):
        return set(Permission.objects.values_list("name", flat=True))


def _beyond(app: App, grants: list[str], ceiling: perms.Ceiling) -> list[str]:
    """The grants, and what they expand to in `app` now, that `ceiling` does not cover."""
    return ceiling.beyond(grants, perms.expand(grants, declared=_declared(app), management=_management(app)))


def ceiling_check(*, app: App, grants: list[str], ceiling: perms.Ceiling | None, field: str) -> None:
    """403 when a caller tries to hand out grants it does not hold itself (None: no limit)."""
    beyond = _beyond(app, grants, ceiling) if ceiling is not None else []
    if beyond:
        raise ApiError(
            403,
            "permission_denied",
            f"You cannot grant what you do not hold yourself: {', '.join(beyond[:10])}.",
            errors=[{"field": field, "code": "exceeds_own_permissions", "message": p} for p in beyond[:50]],
        )


def role_grants(*, app: App, roles: list[str], lock: bool = False) -> dict[str, list[str]]:
    """The grants of each named role that exists (locked against concurrent deletion if asked)."""
    with tenant_scope(app):
        rows = Role.objects.filter(name__in=roles)
        if lock:
            rows = rows.select_for_update()
        return dict(rows.values_list("name", "permissions"))


def validate_grants(*, app: App, grants: list[str], field: str, ceiling: perms.Ceiling | None = None) -> None:
    """422 `unknown_permission` unless every grant is a pattern or names a known permission;
    403 when the caller's `ceiling` does not cover the grants."""
    malformed = [g for g in grants if not isinstance(g, str) or not perms.is_grant(g)]
    if malformed:
        raise ApiError(
            400,
            "validation_error",
            f"'{malformed[0]}' is not a permission name or pattern (resource.action, *, resource.*, *.action).",
            errors=[{"field": field, "code": "invalid_permission", "message": f"invalid: {malformed[0]}"}],
        )
    unknown = perms.undeclared(grants, declared=_declared(app), management=_management(app))
    if unknown:
        raise ApiError(
            422,
            "unknown_permission",
            f"This App declares no permission named {', '.join(repr(u) for u in unknown[:10])}. "
            "Declare it with POST /v1/permissions first.",
            errors=[{"field": field, "code": "unknown_permission", "message": u} for u in unknown[:50]],
        )
    ceiling_check(app=app, grants=grants, ceiling=ceiling, field=field)


def validate_role_names(
    *, app: App, roles: list[str], field: str, ceiling: perms.Ceiling | None = None
) -> None:
    """422 `unknown_role` unless every name is a role of the App; 403 when the caller's `ceiling`
    does not cover what the roles grant. The roles stay locked until the transaction ends, so a
    concurrent role deletion cannot leave someone holding a deleted role."""
    definitions = role_grants(app=app, roles=roles, lock=True)
    unknown = [r for r in roles if r not in definitions]
    if unknown:
        raise ApiError(
            422,
            "unknown_role",
            f"This App has no role named {', '.join(repr(u) for u in unknown[:10])}. "
            "Create it with POST /v1/roles first.",
            errors=[{"field": field, "code": "unknown_role", "message": u} for u in unknown[:50]],
        )
    grants = [g for name in roles for g in definitions[name]]
    ceiling_check(app=app, grants=grants, ceiling=ceiling, field=field)


def delegation_grants(*, delegable: list[str], acts_for_users: bool) -> list[str]:
    """What a client's delegation fields amount to, for the ceiling rule: every grant in its
    `delegablePermissions`, plus `heimdall:users.write` when it acts for users (see
    `perms.ACTS_FOR_USERS_REQUIRES`)."""
    return list(delegable) + ([perms.ACTS_FOR_USERS_REQUIRES] if acts_for_users else [])


def acts_for_users_check(*, app: App, ceiling: perms.Ceiling | None) -> None:
    """403 unless the caller may let a client act for users: it must hold
    `perms.ACTS_FOR_USERS_REQUIRES` (the delegable permissions are checked as grants)."""
    ceiling_check(app=app, grants=[perms.ACTS_FOR_USERS_REQUIRES], ceiling=ceiling, field="actsForUsers")


def holder_check(
    *,
    app: App,
    roles: list[str],
    permissions: list[str],
    ceiling: perms.Ceiling | None,
    delegable: list[str] | None = None,
    acts_for_users: bool = False,
) -> None:
    """403 unless the caller holds everything the target (a client or user) holds, and, for a
    client, everything it may delegate (`delegable`, and `heimdall:users.write` when it
    `acts_for_users`): nobody manages someone more powerful than themselves."""
    if ceiling is None:
        return
    grants = list(permissions) + [g for grants in role_grants(app=app, roles=roles).values() for g in grants]
    grants += delegation_grants(delegable=delegable or [], acts_for_users=acts_for_users)
    beyond = _beyond(app, grants, ceiling)
    if beyond:
        raise ApiError(
            403,
            "permission_denied",
            "The target holds or may delegate permissions you do not hold "
            f"({', '.join(beyond[:5])}); only a caller holding all of them may change it.",
        )


def _permission_ceiling_check(*, name: str, ceiling: perms.Ceiling | None, verb: str) -> None:
    """403 unless the caller holds `name`, or a pattern covering it (None: no limit). Declaring or
    deleting a permission grants or revokes it for every role whose patterns cover it."""
    if ceiling is None or ceiling.allows(name):
        return
    raise ApiError(
        403,
        "permission_denied",
        f"You cannot {verb} '{name}': you may only {verb} a permission you hold yourself, "
        "or one a pattern you hold covers.",
        errors=[{"field": "name", "code": "exceeds_own_permissions", "message": name}],
    )


def roles_provision(*, app: App) -> None:
    """Give a new App its `admin`, `editor` and `viewer` roles."""
    with tenant_scope(app):
        for name, description, grants in DEFAULT_ROLES:
            Role.objects.create(app=app, name=name, description=description, permissions=grants)


# ---- permissions ------------------------------------------------------------------------------


@transaction.atomic
def permission_create(
    *, app: App, actor: Actor, name: str, description: str = "", ceiling: perms.Ceiling | None = None
) -> Permission:
    """Declare a permission. Every role whose patterns cover it gains it at once, so only a caller
    holding it or a pattern covering it may (`ceiling`; None: no limit)."""
    if name.startswith(perms.NAMESPACE):
        raise ApiError(
            422,
            "reserved_permission",
            "The heimdall: namespace is reserved for Heimdall's own management permissions.",
            errors=[{"field": "name", "code": "reserved_permission", "message": name}],
        )
    _permission_ceiling_check(name=name, ceiling=ceiling, verb="declare")
    with tenant_scope(app):
        if Permission.objects.filter(name=name).exists():
            raise conflict("permission_exists", f"The permission '{name}' is already declared.")
        try:
            with transaction.atomic():
                permission = Permission.objects.create(app=app, name=name, description=description)
        except IntegrityError as exc:
            raise conflict("permission_exists", f"The permission '{name}' is already declared.") from exc
        audit_record(
            app=app,
            action=Action.PERMISSION_CREATED,
            actor=actor,
            target_type="permission",
            target_id=permission.id,
            changes={"name": name, "description": description},
        )
        publish(AppChanged(app_id=app.id))
    return permission


def permission_get(*, name: str) -> Permission:
    permission = Permission.objects.filter(name=name).first()
    if permission is None:
        raise not_found("permission")
    return permission


@transaction.atomic
def permission_delete(*, app: App, actor: Actor, name: str, ceiling: perms.Ceiling | None = None) -> None:
    """Undeclare a permission. Roles keep naming it as declared, but it grants nothing. Everyone
    loses it at once, so only a caller holding it (or a pattern covering it) may (`ceiling`)."""
    if name.startswith(perms.NAMESPACE):
        raise ApiError(
            422,
            "reserved_permission",
            "Heimdall's management permissions cannot be deleted.",
        )
    with tenant_scope(app):
        permission = permission_get(name=name)
        _permission_ceiling_check(name=name, ceiling=ceiling, verb="delete")
        permission_id = permission.id  # delete() clears the pk
        permission.delete()
        audit_record(
            app=app,
            action=Action.PERMISSION_DELETED,
            actor=actor,
            target_type="permission",
            target_id=permission_id,
            changes={"name": name},
        )
        publish(AppChanged(app_id=app.id))


# ---- roles ------------------------------------------------------------------------------------


def role_get(*, name: str) -> Role:
    role = Role.objects.filter(name=name).first()
    if role is None:
        raise not_found("role")
    return role


@transaction.atomic
def role_create(
    *,
    app: App,
    actor: Actor,
    name: str,
    description: str = "",
    permissions: list[str],
    ceiling: perms.Ceiling | None = None,
) -> Role:
    grants = list(dict.fromkeys(permissions))
    with tenant_scope(app):
        validate_grants(app=app, grants=grants, field="permissions", ceiling=ceiling)
        if Role.objects.filter(name=name).exists():
            raise conflict("role_exists", f"A role named '{name}' already exists in this App.")
        try:
            with transaction.atomic():
                role = Role.objects.create(app=app, name=name, description=description, permissions=grants)
        except IntegrityError as exc:
            raise conflict("role_exists", f"A role named '{name}' already exists in this App.") from exc
        audit_record(
            app=app,
            action=Action.ROLE_CREATED,
            actor=actor,
            target_type="role",
            target_id=role.id,
            changes={"name": name, "description": description, "permissions": grants},
        )
        publish(AppChanged(app_id=app.id))
    return role


@transaction.atomic
def role_update(
    *,
    app: App,
    actor: Actor,
    name: str,
    description: str | None = None,
    permissions: list[str] | None = None,
    ceiling: perms.Ceiling | None = None,
) -> Role:
    with tenant_scope(app):
        role = Role.objects.select_for_update().filter(name=name).first()
        if role is None:
            raise not_found("role")
        # Editing a role changes what its holders may do: only a caller covering it may.
        holder_check(app=app, roles=[name], permissions=[], ceiling=ceiling)
        changes: dict[str, object] = {}
        if permissions is not None:
            grants = list(dict.fromkeys(permissions))
            validate_grants(app=app, grants=grants, field="permissions", ceiling=ceiling)
            if grants != role.permissions:
                changes["permissions"] = {"from": role.permissions, "to": grants}
                role.permissions = grants
        if description is not None and description != role.description:
            changes["description"] = {"from": role.description, "to": description}
            role.description = description
        if changes:
            role.save()
            audit_record(
                app=app,
                action=Action.ROLE_UPDATED,
                actor=actor,
                target_type="role",
                target_id=role.id,
                changes=changes,
            )
            publish(AppChanged(app_id=app.id))
    return role


@transaction.atomic
def role_delete(*, app: App, actor: Actor, name: str, ceiling: perms.Ceiling | None = None) -> None:
    """Delete a role. Holders lose what it granted at once; 409 `role_in_use` while any
    client or user still holds it, so nobody loses access by surprise."""
    with tenant_scope(app):
        role = Role.objects.select_for_update().filter(name=name).first()
        if role is None:
            raise not_found("role")
        holder_check(app=app, roles=[name], permissions=[], ceiling=ceiling)
        holders = role_holders(name, limit=5)
        if holders:
            raise conflict(
                "role_in_use",
                f"The role '{name}' is still held by {', '.join(holders)}. Reassign them first.",
            )
        role_id = role.id  # delete() clears the pk
        role.delete()
        audit_record(
            app=app,
            action=Action.ROLE_DELETED,
            actor=actor,
            target_type="role",
            target_id=role_id,
            changes={"name": name},
        )
        publish(AppChanged(app_id=app.id))
