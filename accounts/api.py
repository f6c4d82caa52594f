"""Users API (memberships of the caller's App) and `/v1/me/password`; `/v1/me` is `tokens.me_api`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import Membership
from core.auth import current_principal
from core.errors import ApiError, validation_error
from core.openapi import problems
from core.pagination import paginate
from core.serializers import (
    NEW_PASSWORD_MAX_LENGTH,
    EmailAddressField,
    StrictSerializer,
    page_of,
    rfc3339,
)

# A `list` action's response is the page envelope itself, not an array of pages.
_envelope = extend_schema_serializer(many=False)


class UserSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="usr_…, this App's own id for the person (each App sees another)")
    email = serializers.EmailField()
    displayName = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "suspended"])
    roles = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    createdAt = serializers.DateTimeField(help_text="When the user joined this App")
    updatedAt = serializers.DateTimeField()
    lastLoginAt = serializers.DateTimeField(allow_null=True)


def user_to_json(membership: Membership) -> dict[str, Any]:
    return {
        "id": membership.id,
        "email": membership.identity.email,
        "displayName": membership.display_name,
        "status": membership.status,
        "roles": membership.roles,
        "metadata": membership.metadata,
        "createdAt": rfc3339(membership.created_at),
        "updatedAt": rfc3339(membership.updated_at),
        "lastLoginAt": rfc3339(membership.last_login_at),
    }


class UserCreateSerializer(StrictSerializer):
    email = EmailAddressField()
    password = serializers.CharField(
        required=False,
        trim_whitespace=False,
        max_length=NEW_PASSWORD_MAX_LENGTH,
        help_text="10-128 characters, not a common password. Ignored when the person already exists in another App.",
    )
    displayName = serializers.CharField(max_length=200, required=False, allow_blank=True)
    roles = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)
    metadata = serializers.DictField(required=False, help_text="A JSON object, at most 16 KiB as JSON")


class UserUpdateSerializer(StrictSerializer):
    displayName = serializers.CharField(max_length=200, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False, help_text="Replaces the metadata object (at most 16 KiB as JSON)")


class RolesSerializer(StrictSerializer):
    roles = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100)


class PasswordResetSerializer(StrictSerializer):
    password = serializers.CharField(trim_whitespace=False, max_length=NEW_PASSWORD_MAX_LENGTH)


_STATUS_SCHEMA = extend_schema(
    tags=["users"],
    request=None,
    responses={200: UserSerializer, **problems(e409="`already_suspended` / `already_active`")},
    description="409 `already_suspended` / `already_active`. Takes effect on existing tokens at once.",
)


class UserViewSet(viewsets.ViewSet):
    # /v1/users, /v1/users/{user_id} and its operations (suspend, reactivate, roles, password).
    lookup_url_kwarg = "user_id"
    lookup_value_converter = "str"  # one path segment, as <str:user_id> was
    required_permissions = {
        "list": "heimdall:users.read",
        "create": "heimdall:users.write",
        "retrieve": "heimdall:users.read",
        "partial_update": "heimdall:users.write",
        "destroy": "heimdall:users.write",
        "suspend": "heimdall:users.write",
        "reactivate": "heimdall:users.write",
        "roles": "heimdall:users.write",
        # Operators only (acting through Heimdall-App); see `password` below.
        "password": "heimdall:users.write",
    }

    @extend_schema(
        operation_id="users_list",
        tags=["users"],
        responses=_envelope(page_of(UserSerializer, "UserPage")),
        parameters=[
            OpenApiParameter(
                "email", {"type": "string", "format": "email", "maxLength": 254}, description="Exact email (case-insensitive)"
            ),
            OpenApiParameter("status", OpenApiTypes.STR, enum=["active", "suspended"]),
            OpenApiParameter(
                "role", {"type": "string", "pattern": "^[^,\\u0000]{0,64}$"}, description="Users holding this role"
            ),
        ],
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        members = Membership.objects.select_related("identity")
        if "email" in params:  # `email=` (empty) is no email: refused like any other
            members = members.filter(identity__email=services.email_normalize(params["email"]))
        if (status := params.get("status")) is not None:
            if status not in ("active", "suspended"):
                raise validation_error("status", "invalid_choice", "status must be active or suspended")
            members = members.filter(status=status)
        if role := params.get("role"):
            if len(role) > 64 or "," in role:
                raise validation_error("role", "invalid", "not a role name")
            members = members.filter(roles_index__contains=f",{role},")
        return Response(paginate(members, params, user_to_json))

    @extend_schema(
        operation_id="users_create",
        tags=["users"],
        request=UserCreateSerializer,
        responses={
            201: UserSerializer,
            **problems(e409="`user_exists`", e422="`weak_password`, `unknown_role`"),
        },
        description=(
            "409 `user_exists` when the email already belongs to this App; 422 `weak_password`, "
            "`unknown_role`; 403 when the roles grant more than the caller holds. A person who "
            "already exists in another App gets a membership here (with this App's own `usr_` id "
            "and this App's own password); other Apps' passwords and profiles are untouched, and "
            "the answer is the same as for a new person."
        ),
    )
    def create(self, request: Request) -> Response:
        body = UserCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        membership = services.user_create(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            email=data["email"],
            password=data.get("password"),
            display_name=data.get("displayName", ""),
            roles=data.get("roles"),
            metadata=data.get("metadata"),
        )
        return Response(user_to_json(membership), status=201)

    @extend_schema(operation_id="users_get", tags=["users"], responses=UserSerializer)
    def retrieve(self, request: Request, user_id: str) -> Response:
        return Response(user_to_json(services.membership_get(user_id=user_id)))

    @extend_schema(
        operation_id="users_update", tags=["users"], request=UserUpdateSerializer, responses=UserSerializer
    )
    def partial_update(self, request: Request, user_id: str) -> Response:
        body = UserUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        membership = services.user_update(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            user_id=user_id,
            display_name=body.validated_data.get("displayName"),
            metadata=body.validated_data.get("metadata"),
        )
        return Response(user_to_json(membership))

    @extend_schema(
        operation_id="users_delete",
        tags=["users"],
        responses={204: None},
        description="Removes the membership (and the identity once it belongs to no App); tokens stop at once.",
    )
    def destroy(self, request: Request, user_id: str) -> Response:
        principal = current_principal(request)
        services.user_delete(
            app=principal.tenant, actor=principal.actor, user_id=user_id, ceiling=principal.grant_ceiling
        )
        return Response(status=204)

    @_STATUS_SCHEMA
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, user_id: str) -> Response:
        return self._set_status(request, user_id, "suspended")

    @_STATUS_SCHEMA
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, user_id: str) -> Response:
        return self._set_status(request, user_id, "active")

    def _set_status(self, request: Request, user_id: str, status: str) -> Response:
        principal = current_principal(request)
        membership = services.user_set_status(
            app=principal.tenant,
            actor=principal.actor,
            user_id=user_id,
            status=status,
            ceiling=principal.grant_ceiling,
        )
        return Response(user_to_json(membership))

    @extend_schema(
        operation_id="users_set_roles",
        tags=["users"],
        request=RolesSerializer,
        responses={200: UserSerializer, **problems(e422="`unknown_role`")},
        description="Replaces the user's roles in this App; 422 `unknown_role`.",
    )
    @action(detail=True, methods=["put"])
    def roles(self, request: Request, user_id: str) -> Response:
        body = RolesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        membership = services.user_set_roles(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            user_id=user_id,
            roles=body.validated_data["roles"],
        )
        return Response(user_to_json(membership))

    @extend_schema(
        operation_id="users_reset_password",
        tags=["users"],
        request=PasswordResetSerializer,
        responses={204: None, **problems(e422="`weak_password`")},
        description=(
            "Set the member's password in this App only (credentials are per App) and end their "
            "sessions here. Needs heimdall:users.write and holding everything the member holds "
            "(operators acting through `Heimdall-App` are not limited). 422 `weak_password`."
        ),
    )
    @action(detail=True, methods=["post"])
    def password(self, request: Request, user_id: str) -> Response:
        body = PasswordResetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        services.password_set(
            app=principal.tenant,
            actor=principal.actor,
            user_id=user_id,
            new_password=body.validated_data["password"],
            ceiling=principal.grant_ceiling,
        )
        return Response(status=204)


# ---- /v1/me ------------------------------------------------------------------------------------


class PasswordChangeSerializer(StrictSerializer):
    currentPassword = serializers.CharField(trim_whitespace=False, max_length=4096)
    newPassword = serializers.CharField(trim_whitespace=False, max_length=NEW_PASSWORD_MAX_LENGTH)


class MePasswordView(APIView):
    required_permissions = {"POST": None}

    @extend_schema(
        operation_id="me_password",
        tags=["me"],
        request=PasswordChangeSerializer,
        responses={
            204: None,
            **problems(
                e403="`invalid_current_password`; `permission_denied` for a token that is not a user's own",
                e409="`password_changed_concurrently`: retry",
                e422="`weak_password`",
                e429="`too_many_attempts`: too many wrong current passwords (Retry-After)",
            ),
        },
        description=(
            "Users only. Changes the password of the token's App (credentials are per App). "
            "403 `invalid_current_password`; 422 `weak_password`. Ends the user's other sessions "
            "in this App (the session of this access token is kept)."
        ),
    )
    def post(self, request: Request) -> Response:
        body = PasswordChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        if principal.kind != "user" or principal.acting:
            raise ApiError(403, "permission_denied", "Only a user's own token can change its password.")
        services.password_change(
            app=principal.tenant,
            actor=principal.actor,
            user_id=principal.subject_id,
            current_password=body.validated_data["currentPassword"],
            new_password=body.validated_data["newPassword"],
            keep_session=principal.claims.get("sid"),
        )
        return Response(status=204)
