"""Every App's own `/v1/app`, and the App shapes the operator's `/v1/apps` shares.

The operator's `/v1/apps` is `heimdall.apps_api`: creating or deleting an App provisions every
layer, so its views sit at the top with `heimdall.provisioning`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import current_principal
from core.serializers import StrictSerializer, rfc3339
from tenants import services
from tenants.models import SIGNING_ALGORITHMS, App


class AppSettingsSerializer(serializers.Serializer):
    accessTokenTtlSeconds = serializers.IntegerField(min_value=60, max_value=86_400, required=False)
    refreshTokenTtlSeconds = serializers.IntegerField(min_value=300, max_value=31_536_000, required=False)
    m2mTokenTtlSeconds = serializers.IntegerField(min_value=60, max_value=86_400, required=False)
    delegatedTokenTtlSeconds = serializers.IntegerField(min_value=30, max_value=3_600, required=False)
    redirectUris = serializers.ListField(child=serializers.URLField(), required=False, max_length=50)
    socialSignup = serializers.ChoiceField(choices=["members_only", "open"], required=False)
    signupRoles = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,63}$"),
        required=False,
        max_length=20,
        help_text="Roles of a member created by open social sign-up (default []).",
    )
    inviteUrlTemplate = serializers.CharField(
        required=False, allow_null=True, help_text="Absolute https URL containing {token} once."
    )
    auditRetentionDays = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        allow_null=True,
        help_text="Days audit events are kept (manage.py audit_prune); null keeps them forever.",
    )
    signingAlgorithm = serializers.ChoiceField(
        choices=list(SIGNING_ALGORITHMS),
        required=False,
        help_text=(
            "JWS algorithm of signing keys generated from now on (default RS256). Existing keys keep "
            "theirs: the next rotation publishes a key of this algorithm, the one after makes it sign."
        ),
    )


class AppSerializer(serializers.Serializer):
    id = serializers.CharField()
    slug = serializers.CharField()
    displayName = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "suspended"])
    settings = AppSettingsSerializer()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class AdminClientSerializer(serializers.Serializer):
    clientId = serializers.CharField()
    clientSecret = serializers.CharField(help_text="Shown once; store it now.")


class AppCreatedSerializer(AppSerializer):
    adminClient = AdminClientSerializer()


class AppCreateSerializer(StrictSerializer):
    # Not trimmed: "  acme  " is refused, not silently turned into another slug.
    slug = serializers.CharField(
        max_length=63, trim_whitespace=False, help_text="3-63 chars of a-z0-9-; unique and immutable."
    )
    displayName = serializers.CharField(max_length=200)
    settings = serializers.JSONField(required=False, help_text="See AppSettings; unknown keys are refused.")


class AppUpdateSerializer(StrictSerializer):
    displayName = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=["active", "suspended"], required=False)
    settings = serializers.JSONField(required=False, help_text="Merged into the current settings.")


class OwnAppUpdateSerializer(StrictSerializer):
    displayName = serializers.CharField(max_length=200, required=False)
    settings = serializers.JSONField(required=False, help_text="Merged into the current settings.")


def app_to_json(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "slug": app.slug,
        "displayName": app.display_name,
        "status": app.status,
        "settings": app.effective_settings(),
        "createdAt": rfc3339(app.created_at),
        "updatedAt": rfc3339(app.updated_at),
    }


class CurrentAppView(APIView):
    required_permissions = {"GET": "heimdall:app.read", "PATCH": "heimdall:app.write"}

    @extend_schema(operation_id="app_get", responses=AppSerializer, tags=["app"], summary="The caller's App")
    def get(self, request: Request) -> Response:
        return Response(app_to_json(current_principal(request).tenant))

    @extend_schema(
        operation_id="app_update",
        request=OwnAppUpdateSerializer,
        responses=AppSerializer,
        tags=["app"],
        summary="Rename or reconfigure the caller's App",
    )
    def patch(self, request: Request) -> Response:
        body = OwnAppUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        app = services.app_update(
            app=principal.tenant,
            actor=principal.actor,
            display_name=body.validated_data.get("displayName"),
            settings=body.validated_data.get("settings"),
        )
        return Response(app_to_json(app))
