"""Every App's own `/v1/app`, and the App shapes the operator's `/v1/apps` shares.

The operator's `/v1/apps` is `heimdall.apps_api`: creating or deleting an App provisions every
layer, so its views sit at the top with `heimdall.provisioning`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import current_principal
from core.openapi import DNS_NAME_PATTERN, PORT_PATTERN
from core.serializers import FullMatch, StrictIntegerField, StrictSerializer, pattern_field, rfc3339
from tenants import services
from tenants.models import SIGNING_ALGORITHMS, App

# The settings the services accept (tenants.services.settings_validate), as patterns: an absolute
# https URI (or http on loopback), no fragment or userinfo; the template has {token} exactly once.
_ORIGIN = rf"(https://{DNS_NAME_PATTERN}|http://(127\.0\.0\.1|\[::1\]|localhost)){PORT_PATTERN}"
REDIRECT_URI_PATTERN = rf"^{_ORIGIN}([/?][!-\"$-?A-\[\]-~]*)?$"
_C, _F = r"[!-\"$-?A-\[\]-z|~]", r"[!-z|~]"
INVITE_URL_TEMPLATE_PATTERN = (
    rf"^{_ORIGIN}(([/?]{_C}*\{{token\}}{_C}*)(#{_F}{{0,200}})?|([/?]{_C}*)?#{_F}{{0,200}}\{{token\}}{_F}{{0,200}})$"
)


@extend_schema_field(
    {
        "type": "array",
        "maxItems": 50,
        "uniqueItems": True,
        "items": {"type": "string", "maxLength": 2000, "pattern": REDIRECT_URI_PATTERN},
    }
)
class _RedirectUris(serializers.ListField):
    pass


@extend_schema_field(
    {"type": "array", "maxItems": 20, "uniqueItems": True, "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}}
)
class _RoleNames(serializers.ListField):
    pass


class AppSettingsSerializer(StrictSerializer):
    # Documentation only: tenants.services.settings_validate checks settings (as a request's
    # `settings` object, additionalProperties false, and as answered).
    accessTokenTtlSeconds = StrictIntegerField(min_value=60, max_value=86_400, required=False)
    refreshTokenTtlSeconds = StrictIntegerField(min_value=300, max_value=31_536_000, required=False)
    m2mTokenTtlSeconds = StrictIntegerField(min_value=60, max_value=86_400, required=False)
    delegatedTokenTtlSeconds = StrictIntegerField(min_value=30, max_value=3_600, required=False)
    redirectUris = _RedirectUris(required=False, help_text="Exact-match redirect URIs for social sign-in.")
    socialSignup = serializers.ChoiceField(choices=["members_only", "open"], required=False)
    signupRoles = _RoleNames(required=False, help_text="Roles of a member created by open social sign-up (default []).")
    inviteUrlTemplate = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=2000,
        validators=[FullMatch(INVITE_URL_TEMPLATE_PATTERN)],
        help_text="Absolute https URL containing {token} once.",
    )
    auditRetentionDays = StrictIntegerField(
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


@extend_schema_field(AppSettingsSerializer)
class SettingsField(serializers.JSONField):
    """A settings object: checked by the services, documented as AppSettings."""


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
    slug = pattern_field(
        r"^[a-z0-9-]{3,63}$",
        max_length=63,
        message="slug must be 3-63 characters of a-z, 0-9 and '-'.",
        help_text="3-63 chars of a-z0-9-; unique and immutable.",
    )
    displayName = serializers.CharField(max_length=200)
    settings = SettingsField(required=False, help_text="Unknown keys are refused.")


class AppUpdateSerializer(StrictSerializer):
    displayName = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=["active", "suspended"], required=False)
    settings = SettingsField(required=False, help_text="Merged into the current settings.")


class OwnAppUpdateSerializer(StrictSerializer):
    displayName = serializers.CharField(max_length=200, required=False)
    settings = SettingsField(required=False, help_text="Merged into the current settings.")


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
