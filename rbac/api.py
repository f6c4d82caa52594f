"""Permissions and roles API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from core.auth import current_principal
from core.openapi import problems
from core.pagination import paginate
from core.serializers import StrictSerializer, page_of, pattern_field, rfc3339
from rbac import services
from rbac.models import Permission, Role
from rbac.permissions import NAMESPACE, is_permission_name

# A `list` action's response is the page envelope itself, not an array of pages.
_envelope = extend_schema_serializer(many=False)


class PermissionSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    createdAt = serializers.DateTimeField()


# What the serializers accept; the services decide the rest (reserved names: 422).
_PERMISSION_NAME = r"^(heimdall:[^\u0000]*|[a-z0-9_-]{1,64}\.[a-z0-9_-]{1,64})$"
_P = r"[a-z0-9_-]{1,64}"
GRANT_PATTERN = rf"^(heimdall:)?(\*|{_P}\.{_P}|{_P}\.\*|\*\.{_P})$"


def grant_field() -> Any:
    """One role grant: a permission name or pattern (rbac.permissions.is_grant)."""
    return pattern_field(
        GRANT_PATTERN, message="is not a permission name or pattern (resource.action, *, resource.*, *.action)"
    )


class PermissionCreateSerializer(StrictSerializer):
    name = pattern_field(
        _PERMISSION_NAME,
        max_length=129,
        message="must be resource.action, lowercase [a-z0-9_-] on each side",
        help_text="resource.action, lowercase [a-z0-9_-] on each side (heimdall: names are reserved: 422)",
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def validate_name(self, value: str) -> str:
        # Reserved names pass here so the service can answer 422 reserved_permission.
        if not value.startswith(NAMESPACE) and not is_permission_name(value):
            raise serializers.ValidationError(
                "must be resource.action, lowercase [a-z0-9_-] on each side", code="invalid_permission"
            )
        return value


def permission_to_json(permission: Permission) -> dict[str, Any]:
    return {
        "id": permission.id,
        "name": permission.name,
        "description": permission.description,
        "createdAt": rfc3339(permission.created_at),
    }


class PermissionViewSet(viewsets.ViewSet):
    # /v1/permissions and /v1/permissions/{name}.
    lookup_field = "name"
    lookup_value_converter = "str"  # any segment: names contain dots
    required_permissions = {
        "list": "heimdall:roles.read",
        "create": "heimdall:roles.write",
        "retrieve": "heimdall:roles.read",
        "destroy": "heimdall:roles.write",
    }

    @extend_schema(
        operation_id="permissions_list",
        tags=["rbac"],
        responses=_envelope(page_of(PermissionSerializer, "PermissionPage")),
    )
    def list(self, request: Request) -> Response:
        return Response(paginate(Permission.objects.all(), request.query_params, permission_to_json))

    @extend_schema(
        operation_id="permissions_create",
        tags=["rbac"],
        request=PermissionCreateSerializer,
        responses={
            201: PermissionSerializer,
            **problems(e409="`permission_exists`", e422="`reserved_permission` (the heimdall: namespace)"),
        },
        description="403 `permission_denied` unless you hold a pattern covering it; 409 "
        "`permission_exists`; 422 `reserved_permission` for the heimdall: namespace.",
    )
    def create(self, request: Request) -> Response:
        body = PermissionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        permission = services.permission_create(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            name=body.validated_data["name"],
            description=body.validated_data.get("description", ""),
        )
        return Response(permission_to_json(permission), status=201)

    @extend_schema(operation_id="permissions_get", tags=["rbac"], responses=PermissionSerializer)
    def retrieve(self, request: Request, name: str) -> Response:
        return Response(permission_to_json(services.permission_get(name=name)))

    @extend_schema(
        operation_id="permissions_delete",
        tags=["rbac"],
        responses={204: None, **problems(e422="`reserved_permission`: heimdall: names cannot be deleted")},
        description="Roles keep naming it, but it grants nothing from now on. 403 "
        "`permission_denied` unless you hold it (or a pattern covering it).",
    )
    def destroy(self, request: Request, name: str) -> Response:
        principal = current_principal(request)
        services.permission_delete(
            app=principal.tenant, actor=principal.actor, name=name, ceiling=principal.grant_ceiling
        )
        return Response(status=204)


class RoleSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    permissions = serializers.ListField(
        child=serializers.CharField(), help_text="As declared; patterns unexpanded."
    )
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


_ROLE_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class RoleCreateSerializer(StrictSerializer):
    name = pattern_field(
        _ROLE_NAME, max_length=64, message="must be 1-64 chars of a-z0-9_- (starting alphanumeric)"
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    permissions = serializers.ListField(
        child=grant_field(), max_length=500, help_text="Names or patterns: *, resource.*, *.action, heimdall:*"
    )


class RoleUpdateSerializer(StrictSerializer):
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    permissions = serializers.ListField(child=grant_field(), max_length=500, required=False)


def role_to_json(role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "permissions": role.permissions,
        "createdAt": rfc3339(role.created_at),
        "updatedAt": rfc3339(role.updated_at),
    }


class RoleViewSet(viewsets.ViewSet):
    # /v1/roles and /v1/roles/{name}.
    lookup_field = "name"
    lookup_value_converter = "str"  # any segment: names contain dots
    required_permissions = {
        "list": "heimdall:roles.read",
        "create": "heimdall:roles.write",
        "retrieve": "heimdall:roles.read",
        "partial_update": "heimdall:roles.write",
        "destroy": "heimdall:roles.write",
    }

    @extend_schema(
        operation_id="roles_list", tags=["rbac"], responses=_envelope(page_of(RoleSerializer, "RolePage"))
    )
    def list(self, request: Request) -> Response:
        return Response(paginate(Role.objects.all(), request.query_params, role_to_json))

    @extend_schema(
        operation_id="roles_create",
        tags=["rbac"],
        request=RoleCreateSerializer,
        responses={
            201: RoleSerializer,
            **problems(e409="`role_exists`", e422="`unknown_permission`: a name the App has not declared"),
        },
        description="422 `unknown_permission` for an undeclared name; 409 `role_exists`.",
    )
    def create(self, request: Request) -> Response:
        body = RoleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        role = services.role_create(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            name=body.validated_data["name"],
            description=body.validated_data.get("description", ""),
            permissions=body.validated_data["permissions"],
        )
        return Response(role_to_json(role), status=201)

    @extend_schema(operation_id="roles_get", tags=["rbac"], responses=RoleSerializer)
    def retrieve(self, request: Request, name: str) -> Response:
        return Response(role_to_json(services.role_get(name=name)))

    @extend_schema(
        operation_id="roles_update",
        tags=["rbac"],
        request=RoleUpdateSerializer,
        responses={200: RoleSerializer, **problems(e422="`unknown_permission`: a name the App has not declared")},
        description="Takes effect on existing tokens within a second.",
    )
    def partial_update(self, request: Request, name: str) -> Response:
        body = RoleUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        role = services.role_update(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            name=name,
            description=body.validated_data.get("description"),
            permissions=body.validated_data.get("permissions"),
        )
        return Response(role_to_json(role))

    @extend_schema(
        operation_id="roles_delete",
        tags=["rbac"],
        responses={
            204: None,
            **problems(
                e409="`role_in_use` while a client or user holds it",
                e503="`role_check_unavailable`: who holds the role could not be checked; nothing changed",
            ),
        },
        description="409 `role_in_use` while a client or user holds it.",
    )
    def destroy(self, request: Request, name: str) -> Response:
        principal = current_principal(request)
        services.role_delete(
            app=principal.tenant, actor=principal.actor, name=name, ceiling=principal.grant_ceiling
        )
        return Response(status=204)
