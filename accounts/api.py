"""Users API (memberships of the caller's App) and `/v1/me`."""

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
from core.context import tenant_scope
from core.errors import ApiError, validation_error
from core.pagination import paginate
from core.serializers import StrictSerializer, page_of, rfc3339
from tenants.models import App
from tokens.services import client_get

# A `list` action's response is the page envelope itself, not an array of pages.
_envelope = extend_schema_serializer(many=False)


class UserSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="usr_…, the same in every App the person belongs to")
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
    email = serializers.CharField(max_length=320)
    password = serializers.CharField(
        required=False,
        trim_whitespace=False,
        max_length=4096,
        help_text="10-128 characters, not a common password. Ignored when the person already exists in another App.",
    )
    displayName = serializers.CharField(max_length=200, required=False, allow_blank=True)
    roles = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)
    metadata = serializers.JSONField(required=False)


class UserUpdateSerializer(StrictSerializer):
    displayName = serializers.CharField(max_length=200, required=False, allow_blank=True)
    metadata = serializers.JSONField(required=False, help_text="Replaces the metadata object")


class RolesSerializer(StrictSerializer):
    roles = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100)


class PasswordResetSerializer(StrictSerializer):
    newPassword = serializers.CharField(trim_whitespace=False, max_length=4096)


_STATUS_SCHEMA = extend_schema(
    tags=["users"],
    request=None,
    responses=UserSerializer,
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
            OpenApiParameter("email", OpenApiTypes.STR, description="Exact email (case-insensitive)"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=["active", "suspended"]),
            OpenApiParameter("role", OpenApiTypes.STR, description="Users holding this role"),
            OpenApiParameter("limit", OpenApiTypes.INT),
            OpenApiParameter("cursor", OpenApiTypes.STR),
        ],
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        members = Membership.objects.select_related("identity")
        if params.get("email"):
            members = members.filter(identity__email=services.email_normalize(params["email"]))
        if status := params.get("status"):
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
        responses={201: UserSerializer},
        description=(
            "409 `user_exists` when the email already belongs to this App; 422 `weak_password`, "
            "`unknown_role`; 403 when the roles grant more than the caller holds. A person who "
            "already exists in another App gets a membership here (with this App's own `usr_` id); "
            "their password and other Apps' profiles are left untouched, and the answer is the "
            "same as for a new person. A password set here by an admin is trusted by this App "
            "only (also after the person changes it with POST /v1/me/password)."
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
        responses=UserSerializer,
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
        responses={204: None},
        description=(
            "Operators only (an operator client acting in the App through `Heimdall-App`): set "
            "the person's password after verifying them out of band. The password is trusted by "
            "every App the person belongs to, and all their sessions end. Anyone else gets 403 "
            "`permission_denied`: App admins cannot change credentials other Apps rely on."
        ),
    )
    @action(detail=True, methods=["post"])
    def password(self, request: Request, user_id: str) -> Response:
        body = PasswordResetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        if not principal.acting:
            raise ApiError(
                403,
                "permission_denied",
                "Only the operator (acting through Heimdall-App) resets a person's password; "
                "the person changes their own with POST /v1/me/password.",
            )
        services.password_reset(
            app=principal.tenant,
            actor=principal.actor,
            user_id=user_id,
            new_password=body.validated_data["newPassword"],
        )
        return Response(status=204)


# ---- /v1/me ------------------------------------------------------------------------------------


class MeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["user", "client"])
    id = serializers.CharField()
    app = serializers.CharField(help_text="The App slug")
    permissions = serializers.ListField(child=serializers.CharField(), help_text="What this token grants now")
    roles = serializers.ListField(child=serializers.CharField())
    email = serializers.CharField(required=False)
    displayName = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    metadata = serializers.DictField(required=False)
    name = serializers.CharField(required=False, help_text="Clients only")


class PasswordChangeSerializer(StrictSerializer):
    currentPassword = serializers.CharField(trim_whitespace=False, max_length=4096)
    newPassword = serializers.CharField(trim_whitespace=False, max_length=4096)


class MeView(APIView):
    required_permissions = {"GET": None}

    @extend_schema(
        operation_id="me", tags=["me"], responses=MeSerializer, summary="The token's own user or client"
    )
    def get(self, request: Request) -> Response:
        principal = current_principal(request)
        check = principal.check
        assert check.app is not None
        base = {
            "id": principal.subject_id,
            "app": check.app.slug,  # the token's own App, even for an operator acting elsewhere
            "permissions": sorted(check.granted()),
        }
        with tenant_scope(App.objects.get(pk=check.app.id)):
            if principal.kind == "client":
                client = client_get(client_id=principal.subject_id)
                return Response({"type": "client", **base, "name": client.name, "roles": client.roles})
            membership = services.membership_get(user_id=principal.subject_id)
        profile = user_to_json(membership)
        profile.pop("id")
        return Response({"type": "user", **base, **profile})


class MePasswordView(APIView):
    required_permissions = {"POST": None}

    @extend_schema(
        operation_id="me_password",
        tags=["me"],
        request=PasswordChangeSerializer,
        responses={204: None},
        description=(
            "Users only. 403 `invalid_current_password`; 422 `weak_password`. Revokes the user's "
            "other refresh tokens in every App (the session of this access token is kept)."
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
