"""The M2M clients API: `/v1/clients`, their secrets, and who may manage which."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from core.auth import current_principal
from core.openapi import problems
from core.pagination import paginate
from core.serializers import StrictBooleanField, StrictIntegerField, StrictSerializer, page_of, rfc3339
from rbac.api import grant_field
from tokens.clients import client_create, client_delete, client_get, client_secret_rotate, client_update
from tokens.models import Client


class ClientSerializer(serializers.Serializer):
    clientId = serializers.CharField()
    name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    permissions = serializers.ListField(child=serializers.CharField())
    accessTokenTtlSeconds = serializers.IntegerField(allow_null=True)
    actsForUsers = serializers.BooleanField()
    delegablePermissions = serializers.ListField(child=serializers.CharField())
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class ClientCreatedSerializer(ClientSerializer):
    clientSecret = serializers.CharField(help_text="Shown once; only a digest is stored.")


class ClientCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    roles = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)
    permissions = serializers.ListField(child=grant_field(), max_length=200, required=False)
    accessTokenTtlSeconds = StrictIntegerField(min_value=60, max_value=86_400, required=False, allow_null=True)
    actsForUsers = StrictBooleanField(required=False)
    delegablePermissions = serializers.ListField(child=grant_field(), max_length=200, required=False)


class ClientUpdateSerializer(ClientCreateSerializer):
    name = serializers.CharField(max_length=200, required=False)


class SecretRotateSerializer(StrictSerializer):
    gracePeriodSeconds = StrictIntegerField(min_value=0, max_value=2_592_000, required=False, default=0)


class SecretRotatedSerializer(serializers.Serializer):
    clientId = serializers.CharField()
    clientSecret = serializers.CharField()
    previousSecretExpiresAt = serializers.DateTimeField(allow_null=True)


def client_to_json(client: Client) -> dict[str, Any]:
    return {
        "clientId": client.id,
        "name": client.name,
        "roles": client.roles,
        "permissions": client.permissions,
        "accessTokenTtlSeconds": client.access_token_ttl_seconds,
        "actsForUsers": client.acts_for_users,
        "delegablePermissions": client.delegable_permissions,
        "createdAt": rfc3339(client.created_at),
        "updatedAt": rfc3339(client.updated_at),
    }


class ClientViewSet(viewsets.ViewSet):
    # /v1/clients, /v1/clients/{client_id} and /v1/clients/{client_id}/secrets.
    lookup_field = "client_id"
    lookup_value_converter = "str"
    required_permissions = {
        "list": "heimdall:clients.read",
        "create": "heimdall:clients.write",
        "retrieve": "heimdall:clients.read",
        "partial_update": "heimdall:clients.write",
        "destroy": "heimdall:clients.write",
        "secrets": "heimdall:clients.write",
    }

    @extend_schema(
        operation_id="clients_list",
        tags=["clients"],
        responses=extend_schema_serializer(many=False)(page_of(ClientSerializer, "ClientPage")),
    )
    def list(self, request: Request) -> Response:
        return Response(paginate(Client.objects.all(), request.query_params, client_to_json))

    @extend_schema(
        operation_id="clients_create",
        tags=["clients"],
        request=ClientCreateSerializer,
        responses={201: ClientCreatedSerializer, **problems(e422="`unknown_role`, `unknown_permission`")},
        description="422 `unknown_role` / `unknown_permission` for names the App does not have.",
    )
    def create(self, request: Request) -> Response:
        body = ClientCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        client, secret = client_create(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            name=data["name"],
            roles=data.get("roles"),
            permissions=data.get("permissions"),
            access_token_ttl_seconds=data.get("accessTokenTtlSeconds"),
            acts_for_users=data.get("actsForUsers", False),
            delegable_permissions=data.get("delegablePermissions"),
        )
        return Response({**client_to_json(client), "clientSecret": secret}, status=201)

    @extend_schema(operation_id="clients_get", tags=["clients"], responses=ClientSerializer)
    def retrieve(self, request: Request, client_id: str) -> Response:
        return Response(client_to_json(client_get(client_id=client_id)))

    @extend_schema(
        operation_id="clients_update",
        tags=["clients"],
        request=ClientUpdateSerializer,
        responses={200: ClientSerializer, **problems(e422="`unknown_role`, `unknown_permission`")},
        description="Role and permission changes apply to the client's existing tokens at once.",
    )
    def partial_update(self, request: Request, client_id: str) -> Response:
        body = ClientUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        client = client_update(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            client_id=client_id,
            name=data.get("name"),
            roles=data.get("roles"),
            permissions=data.get("permissions"),
            access_token_ttl_seconds=data["accessTokenTtlSeconds"]
            if "accessTokenTtlSeconds" in data
            else ...,
            delegable_permissions=data.get("delegablePermissions"),
            acts_for_users=data.get("actsForUsers"),
        )
        return Response(client_to_json(client))

    @extend_schema(
        operation_id="clients_delete",
        tags=["clients"],
        responses={204: None},
        description="Every token the client holds stops working at once.",
    )
    def destroy(self, request: Request, client_id: str) -> Response:
        principal = current_principal(request)
        client_delete(
            app=principal.tenant, actor=principal.actor, client_id=client_id, ceiling=principal.grant_ceiling
        )
        return Response(status=204)

    @extend_schema(
        operation_id="clients_rotate_secret",
        tags=["clients"],
        request=SecretRotateSerializer,
        responses={200: SecretRotatedSerializer},
        description="The previous secret keeps working until previousSecretExpiresAt (gracePeriodSeconds, default 0).",
    )
    @action(detail=True, methods=["post"])
    def secrets(self, request: Request, client_id: str) -> Response:
        body = SecretRotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        client, secret = client_secret_rotate(
            app=principal.tenant,
            actor=principal.actor,
            ceiling=principal.grant_ceiling,
            client_id=client_id,
            grace_period_seconds=body.validated_data["gracePeriodSeconds"],
        )
        return Response(
            {
                "clientId": client.id,
                "clientSecret": secret,
                "previousSecretExpiresAt": rfc3339(client.previous_secret_expires_at),
            }
        )


# Path converters, not regexes: the routes read exactly as the hand-written ones did.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("clients", ClientViewSet, basename="client")
