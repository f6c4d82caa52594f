"""The invites API: `/v1/invites` for an App's admins, and the public lookup and accept."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.auth import Principal, current_principal
from core.errors import ApiError, validation_error
from core.openapi import problems
from core.pagination import paginate
from core.serializers import (
    NEW_PASSWORD_MAX_LENGTH,
    EmailAddressField,
    StrictIntegerField,
    StrictSerializer,
    page_of,
    rfc3339,
)
from invites import services
from invites.models import Invite

_envelope = extend_schema_serializer(many=False)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_STATUSES = ["pending", "exhausted", "expired", "revoked"]


class InviteSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="inv_…")
    role = serializers.CharField()
    email = serializers.CharField(allow_null=True, help_text="The only email that may accept, or null")
    expiresAt = serializers.DateTimeField()
    maxUses = serializers.IntegerField()
    uses = serializers.IntegerField()
    status = serializers.ChoiceField(choices=_STATUSES, help_text="Derived when read")
    createdAt = serializers.DateTimeField()


class InviteCreatedSerializer(InviteSerializer):
    token = serializers.CharField(help_text="hmd_inv_…, shown once: store or send it now")
    url = serializers.CharField(
        required=False, allow_null=True, help_text="The accept URL, when the App sets inviteUrlTemplate"
    )


class InviteCreateSerializer(StrictSerializer):
    role = serializers.CharField(max_length=64)
    email = EmailAddressField(required=False, allow_null=True)
    expiresInSeconds = StrictIntegerField(
        required=False, min_value=services.MIN_EXPIRES_IN, max_value=services.MAX_EXPIRES_IN, help_text="Default 7 days"
    )
    maxUses = StrictIntegerField(required=False, min_value=1, max_value=services.MAX_MAX_USES, help_text="Default 1")


class InviteLookupSerializer(serializers.Serializer):
    app = serializers.DictField(help_text='{"displayName": …}')
    role = serializers.CharField()
    emailRequired = serializers.BooleanField()
    expiresAt = serializers.DateTimeField()


class InviteAcceptSerializer(StrictSerializer):
    token = serializers.CharField(max_length=200)
    email = EmailAddressField(required=False, help_text="Required without a bearer token")
    password = serializers.CharField(trim_whitespace=False, max_length=NEW_PASSWORD_MAX_LENGTH)
    displayName = serializers.CharField(max_length=200, required=False, allow_blank=True)


class InviteTokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()
    scope = serializers.CharField()


def invite_to_json(invite: Invite) -> dict[str, Any]:
    return {
        "id": invite.id,
        "role": invite.role,
        "email": invite.email,
        "expiresAt": rfc3339(invite.expires_at),
        "maxUses": invite.max_uses,
        "uses": invite.uses,
        "status": invite.status_at(timezone.now()),
        "createdAt": rfc3339(invite.created_at),
    }


def _filter(params: Any, name: str, limit: int = 254) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not value or len(value) > limit:
        raise validation_error(name, "invalid", f"{name} must be 1 to {limit} characters")
    return str(value)


_ERRORS = {
    403: OpenApiResponse(description="`invite_email_mismatch`; `app_suspended`"),
    404: OpenApiResponse(description="`not_found`: no invite has this token"),
    409: OpenApiResponse(description="`already_member` (no use consumed)"),
    410: OpenApiResponse(description="`invite_expired`, `invite_exhausted`, `invite_revoked`"),
    422: OpenApiResponse(description="`weak_password`"),
    429: OpenApiResponse(description="`too_many_attempts` (Retry-After)"),
}


class InviteViewSet(viewsets.ViewSet):
    # /v1/invites, /v1/invites/{id}; public /v1/invites/lookup and /v1/invites/accept.
    lookup_field = "invite_id"
    lookup_value_converter = "str"
    required_permissions = {
        "list": "heimdall:invites.read",
        "create": "heimdall:invites.write",
        "retrieve": "heimdall:invites.read",
        "destroy": "heimdall:invites.write",
        "lookup": None,
        "accept": None,
    }

    def get_permissions(self) -> Any:
        if self.action in ("lookup", "accept"):
            return [AllowAny()]  # public: the invite token is the credential
        return super().get_permissions()

    @extend_schema(
        operation_id="invites_list",
        tags=["invites"],
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=_STATUSES),
            OpenApiParameter("role", {"type": "string", "minLength": 1, "maxLength": 64}),
            OpenApiParameter("email", {"type": "string", "minLength": 1, "maxLength": 254}, description="Exact bound email"),
        ],
        responses=_envelope(page_of(InviteSerializer, "InvitePage")),
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        status = params.get("status")
        if status is not None and status not in _STATUSES:
            raise validation_error("status", "invalid_choice", f"status must be one of {', '.join(_STATUSES)}")
        invites = services.invites_filtered(
            status=status, role=_filter(params, "role", 64), email=_filter(params, "email")
        )
        return Response(paginate(invites, params, invite_to_json))

    @extend_schema(
        operation_id="invites_create",
        tags=["invites"],
        request=InviteCreateSerializer,
        responses={201: InviteCreatedSerializer, **problems(e422="`unknown_role`")},
        description=(
            "The token is shown once. 422 `unknown_role`; 403 when the role grants more than the "
            "caller holds."
        ),
    )
    def create(self, request: Request) -> Response:
        body = InviteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        created = services.invite_create(
            app=principal.tenant,
            actor=principal.actor,
            role=data["role"],
            email=data.get("email"),
            expires_in_seconds=data.get("expiresInSeconds"),
            max_uses=data.get("maxUses"),
            ceiling=principal.grant_ceiling,
        )
        answer = {**invite_to_json(created.invite), "token": created.token, "url": created.url}
        return Response(answer, status=201, headers=_NO_STORE)

    @extend_schema(operation_id="invites_get", tags=["invites"], responses=InviteSerializer)
    def retrieve(self, request: Request, invite_id: str) -> Response:
        return Response(invite_to_json(services.invite_get(invite_id=invite_id)))

    @extend_schema(
        operation_id="invites_revoke",
        tags=["invites"],
        responses={204: None},
        description="Revokes the invite (idempotent); it stays listed with status `revoked`.",
    )
    def destroy(self, request: Request, invite_id: str) -> Response:
        principal = current_principal(request)
        services.invite_revoke(app=principal.tenant, actor=principal.actor, invite_id=invite_id)
        return Response(status=204)

    @extend_schema(
        operation_id="invites_lookup",
        tags=["invites"],
        auth=[],
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
        responses={
            200: InviteLookupSerializer,
            **{k: v for k, v in _ERRORS.items() if k in (403, 404, 410, 429)},
            **problems(e401="`invalid_token`: a bearer token was sent and is not valid (none is needed)"),
        },
        description="Public. Reveals only the App's displayName, the role, whether an email is required, and the expiry.",
    )
    @action(detail=False, methods=["get"])
    def lookup(self, request: Request) -> Response:
        answer = services.invite_lookup(token=request.query_params.get("token"))
        answer["expiresAt"] = rfc3339(answer["expiresAt"])
        return Response(answer, headers=_NO_STORE)

    @extend_schema(
        operation_id="invites_accept",
        tags=["invites"],
        request=InviteAcceptSerializer,
        responses={201: InviteTokenResponseSerializer, **_ERRORS},
        description=(
            "Public with `{token, email, password}`: the email joins the App (a new person or one "
            "known elsewhere: the answer is the same). Or with a user's bearer token from any App "
            "and `{token, password}`: that person joins. Either way the password is this App's own, "
            "and the answer is an OAuth token response for the App (signed in)."
        ),
    )
    @action(detail=False, methods=["post"])
    def accept(self, request: Request) -> Response:
        body = InviteAcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = request.user if isinstance(request.user, Principal) else None
        if principal is not None:
            if principal.kind != "user" or principal.acting:
                raise ApiError(403, "permission_denied", "Only a user's own token can accept an invite.")
            if "email" in data:
                raise validation_error("email", "not_allowed", "With a bearer token, the token's user joins: omit email.")
            invitee = services.Invitee(bearer_app=principal.tenant, bearer_user_id=principal.subject_id)
        else:
            if "email" not in data:
                raise validation_error("email", "required", "email is required without a bearer token.")
            invitee = services.Invitee(email=data["email"])
        answer = services.invite_accept(
            token=data["token"],
            invitee=invitee,
            password=data["password"],
            display_name=data.get("displayName", ""),
        )
        return Response(answer, status=201, headers=_NO_STORE)
