"""Apps API: the operator's `/v1/apps` and every App's own `/v1/app`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import current_principal
from core.pagination import paginate
from core.serializers import StrictSerializer, page_of, rfc3339
from tenants import services
from tenants.models import App


class AppSettingsSerializer(serializers.Serializer):
    accessTokenTtlSeconds = serializers.IntegerField(min_value=60, max_value=86_400, required=False)
    refreshTokenTtlSeconds = serializers.IntegerField(min_value=300, max_value=31_536_000, required=False)
    m2mTokenTtlSeconds = serializers.IntegerField(min_value=60, max_value=86_400, required=False)
    delegatedTokenTtlSeconds = serializers.IntegerField(min_value=30, max_value=3_600, required=False)
    redirectUris = serializers.ListField(child=serializers.URLField(), required=False, max_length=50)
    socialSignup = serializers.ChoiceField(choices=["members_only", "open"], required=False)


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


class AppListView(APIView):
    required_permissions = {"GET": "heimdall:apps.read", "POST": "heimdall:apps.write"}

    @extend_schema(
        operation_id="apps_list",
        responses=page_of(AppSerializer, "AppPage"),
        tags=["apps"],
        summary="List Apps (operator)",
    )
    def get(self, request: Request) -> Response:
        return Response(paginate(App.objects.all(), request.query_params, app_to_json))

    @extend_schema(
        operation_id="apps_create",
        request=AppCreateSerializer,
        responses={201: AppCreatedSerializer},
        tags=["apps"],
        summary="Create an App (operator); returns its admin client's secret once",
        description="409 `slug_taken` when the slug exists.",
    )
    def post(self, request: Request) -> Response:
        body = AppCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        app, client, secret = services.app_create(
            actor=principal.actor,
            slug=body.validated_data["slug"],
            display_name=body.validated_data["displayName"],
            settings=body.validated_data.get("settings"),
            operator_app=principal.tenant,
        )
        return Response(
            {**app_to_json(app), "adminClient": {"clientId": client.id, "clientSecret": secret}},
            status=201,
        )


class AppDetailView(APIView):
    required_permissions = {
        "GET": "heimdall:apps.read",
        "PATCH": "heimdall:apps.write",
        "DELETE": "heimdall:apps.write",
    }

    @extend_schema(operation_id="apps_get", responses=AppSerializer, tags=["apps"], summary="Get an App")
    def get(self, request: Request, slug: str) -> Response:
        return Response(app_to_json(services.app_get(slug=slug)))

    @extend_schema(
        operation_id="apps_update",
        request=AppUpdateSerializer,
        responses=AppSerializer,
        tags=["apps"],
        summary="Rename, reconfigure, suspend or reactivate an App",
        description="Suspending makes every token of the App fail at once.",
    )
    def patch(self, request: Request, slug: str) -> Response:
        body = AppUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        app = services.app_update(
            app=services.app_get(slug=slug),
            actor=principal.actor,
            display_name=body.validated_data.get("displayName"),
            status=body.validated_data.get("status"),
            settings=body.validated_data.get("settings"),
            operator_app=principal.tenant,
        )
        return Response(app_to_json(app))

    @extend_schema(
        operation_id="apps_delete",
        responses={204: None},
        tags=["apps"],
        summary="Delete an App and everything in it",
    )
    def delete(self, request: Request, slug: str) -> Response:
        principal = current_principal(request)
        services.app_delete(
            app=services.app_get(slug=slug), actor=principal.actor, operator_app=principal.tenant
        )
        return Response(status=204)


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
