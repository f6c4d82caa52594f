"""`/v1/me`: the token's own user or client, as the token sees it now."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import user_to_json
from accounts.services import membership_get
from core.auth import current_principal
from core.context import tenant_scope
from tenants.models import App
from tokens.authn import TokenPrincipal
from tokens.clients import client_get


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


class MeView(APIView):
    required_permissions = {"GET": None}

    @extend_schema(
        operation_id="me", tags=["me"], responses=MeSerializer, summary="The token's own user or client"
    )
    def get(self, request: Request) -> Response:
        principal = current_principal(request)
        assert isinstance(principal, TokenPrincipal)
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
            membership = membership_get(user_id=principal.subject_id)
        profile = user_to_json(membership)
        profile.pop("id")
        return Response({"type": "user", **base, **profile})


