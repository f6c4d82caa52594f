"""The operator's Apps API, `/v1/apps`: create, list, change and delete Apps.

Here rather than in `tenants` because creating and deleting an App provision every layer
(`heimdall.provisioning`); the App's own `/v1/app` is `tenants.api`.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from core.auth import current_principal
from core.openapi import problems
from core.pagination import paginate
from core.serializers import page_of
from heimdall import provisioning
from tenants import services
from tenants.api import (
    AppCreatedSerializer,
    AppCreateSerializer,
    AppSerializer,
    AppUpdateSerializer,
    app_to_json,
)
from tenants.models import App


class AppViewSet(viewsets.ViewSet):
    # /v1/apps and /v1/apps/{slug}, for operator clients.
    lookup_field = "slug"
    lookup_value_converter = "str"
    required_permissions = {
        "list": "heimdall:apps.read",
        "create": "heimdall:apps.write",
        "retrieve": "heimdall:apps.read",
        "partial_update": "heimdall:apps.write",
        "destroy": "heimdall:apps.write",
    }

    @extend_schema(
        operation_id="apps_list",
        responses=extend_schema_serializer(many=False)(page_of(AppSerializer, "AppPage")),
        tags=["apps"],
        summary="List Apps (operator)",
    )
    def list(self, request: Request) -> Response:
        return Response(paginate(App.objects.all(), request.query_params, app_to_json))

    @extend_schema(
        operation_id="apps_create",
        request=AppCreateSerializer,
        responses={201: AppCreatedSerializer, **problems(e409="`slug_taken`")},
        tags=["apps"],
        summary="Create an App (operator); returns its admin client's secret once",
        description="409 `slug_taken` when the slug exists.",
    )
    def create(self, request: Request) -> Response:
        body = AppCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        app, client, secret = provisioning.app_create(
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

    @extend_schema(operation_id="apps_get", responses=AppSerializer, tags=["apps"], summary="Get an App")
    def retrieve(self, request: Request, slug: str) -> Response:
        return Response(app_to_json(services.app_get(slug=slug)))

    @extend_schema(
        operation_id="apps_update",
        request=AppUpdateSerializer,
        responses={200: AppSerializer, **problems(e409="`operator_app_protected`: the operator App cannot be suspended")},
        tags=["apps"],
        summary="Rename, reconfigure, suspend or reactivate an App",
        description="Suspending makes every token of the App fail at once.",
    )
    def partial_update(self, request: Request, slug: str) -> Response:
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
        responses={204: None, **problems(e409="`operator_app_protected`: the operator App cannot be deleted")},
        tags=["apps"],
        summary="Delete an App and everything in it",
    )
    def destroy(self, request: Request, slug: str) -> Response:
        principal = current_principal(request)
        provisioning.app_delete(
            app=services.app_get(slug=slug), actor=principal.actor, operator_app=principal.tenant
        )
        return Response(status=204)


# Path converters, not regexes: `/v1/apps/{slug}` reads exactly as before.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("apps", AppViewSet, basename="app")
