"""The social sign-in API: identity providers (App admins), the browser flow (public), and a
member's own linked identities."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import current_principal
from core.errors import ApiError, error_response, oauth_error
from core.openapi import PORT_PATTERN, problems
from core.pagination import paginate
from core.serializers import (
    OAuthErrorSerializer,
    StrictBooleanField,
    StrictSerializer,
    page_of,
    rfc3339,
)
from core.views import LeanView
from social import oidc, services
from social.models import IdentityProvider, SocialLink

_envelope = extend_schema_serializer(many=False)
_KINDS = ["oidc", "google", "microsoft", "github"]


class IdentityProviderSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="idp_…")
    kind = serializers.ChoiceField(choices=_KINDS)
    issuer = serializers.CharField(required=False, help_text="OIDC issuer (absent for github)")
    clientId = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class _Scopes(serializers.ListField):
    child = serializers.CharField(max_length=200)


class IdentityProviderCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=_KINDS)
    issuer = serializers.CharField(
        max_length=2000,
        required=False,
        allow_null=True,
        help_text="Required for oidc (https); fixed for google; optional for microsoft (a tenant's); none for github.",
    )
    clientId = serializers.CharField(max_length=500)
    clientSecret = serializers.CharField(max_length=2000, trim_whitespace=False, help_text="Write-only; stored encrypted.")
    scopes = _Scopes(required=False, min_length=1, max_length=20, help_text="Default per kind; OIDC kinds need openid.")
    enabled = StrictBooleanField(required=False, default=True)


# The document's view of providers (social.services validates): kind by kind on create; on a
# change, values some kind accepts are well formed, and the provider's own kind may still refuse
# them (422 `not_for_kind`).
_P = PORT_PATTERN
_HOST = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_PRIVATE = r"(?!([^/:]*\.)?(localhost|local|internal|localdomain)\.?([:/]|$))"
OIDC_ISSUER_PATTERN = (
    rf"^https://{_PRIVATE}({_HOST}\.)*[a-z]([a-z0-9-]{{0,61}}[a-z0-9])?\.?{_P}"
    r"(?!.*/\.well-known/openid-configuration$)(/[!-\"$->@-~]*)?$"
)
_SCOPES = {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "string", "pattern": r"^[!#-\[\]-~]{1,200}$"}}
_OIDC_SCOPES = {**_SCOPES, "contains": {"const": "openid"}}
_COMMON = {
    "clientId": {"type": "string", "minLength": 1, "maxLength": 500},
    "clientSecret": {"type": "string", "minLength": 1, "maxLength": 2000, "writeOnly": True},
    "enabled": {"type": "boolean", "default": True},
}


def _kind(kind: str, issuer: dict[str, Any], scopes: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"kind": {"const": kind}, "issuer": issuer, **_COMMON, "scopes": scopes},
        "required": ["kind", "clientId", "clientSecret", *required],
    }


PROVIDER_CREATE_SCHEMA = {
    "oneOf": [
        _kind("oidc", {"type": "string", "maxLength": 2000, "pattern": OIDC_ISSUER_PATTERN}, _OIDC_SCOPES, ["issuer"]),
        _kind("google", {"enum": [oidc.GOOGLE_ISSUER, None]}, _OIDC_SCOPES, []),
        _kind("microsoft", {"type": ["string", "null"], "pattern": oidc.MICROSOFT_ISSUER_RE.pattern}, _OIDC_SCOPES, []),
        _kind("github", {"type": "null"}, _SCOPES, []),
    ],
    "discriminator": {"propertyName": "kind"},
}


@extend_schema_field({"type": "string", "maxLength": 2000, "pattern": OIDC_ISSUER_PATTERN})
class _IssuerField(serializers.CharField):
    """An issuer, checked by social.services (with HEIMDALL_IDP_ALLOW_PRIVATE_NETWORKS=true it
    also takes http on loopback, which the document, written for production, does not show)."""


class IdentityProviderUpdateSerializer(StrictSerializer):
    # Every kind's issuers match the pattern; the provider's own kind then decides (422).
    issuer = _IssuerField(max_length=2000, required=False, allow_null=True)
    clientId = serializers.CharField(max_length=500, required=False)
    clientSecret = serializers.CharField(max_length=2000, trim_whitespace=False, required=False)
    scopes = _Scopes(required=False, min_length=1, max_length=20)
    enabled = StrictBooleanField(required=False)


def provider_to_json(provider: IdentityProvider) -> dict[str, Any]:
    body: dict[str, Any] = {"id": provider.id, "kind": provider.kind}
    if provider.issuer is not None:
        body["issuer"] = provider.issuer
    body.update(
        {
            "clientId": provider.client_id,
            "scopes": provider.scopes,
            "enabled": provider.enabled,
            "createdAt": rfc3339(provider.created_at),
            "updatedAt": rfc3339(provider.updated_at),
        }
    )
    return body


class IdentityProviderViewSet(viewsets.ViewSet):
    # /v1/identity-providers and /v1/identity-providers/{id}.
    lookup_field = "provider_id"
    lookup_value_converter = "str"
    required_permissions = {
        "list": "heimdall:app.read",
        "create": "heimdall:app.write",
        "retrieve": "heimdall:app.read",
        "partial_update": "heimdall:app.write",
        "destroy": "heimdall:app.write",
    }

    @extend_schema(
        operation_id="identity_providers_list",
        tags=["social"],
        responses=_envelope(page_of(IdentityProviderSerializer, "IdentityProviderPage")),
    )
    def list(self, request: Request) -> Response:
        return Response(paginate(IdentityProvider.objects.all(), request.query_params, provider_to_json))

    @extend_schema(
        operation_id="identity_providers_create",
        tags=["social"],
        request={"application/json": PROVIDER_CREATE_SCHEMA},
        responses={201: IdentityProviderSerializer},
        extensions={"x-body-required": True},
        description=(
            "The client secret is write-only: stored encrypted, never returned, never audited. "
            "Issuers are https; one on a loopback or private address is refused unless "
            "HEIMDALL_IDP_ALLOW_PRIVATE_NETWORKS=true."
        ),
    )
    def create(self, request: Request) -> Response:
        body = IdentityProviderCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        provider = services.provider_create(
            app=principal.tenant,
            actor=principal.actor,
            kind=data["kind"],
            issuer=data.get("issuer"),
            client_id=data["clientId"],
            client_secret=data["clientSecret"],
            scopes=data.get("scopes"),
            enabled=data["enabled"],
        )
        return Response(provider_to_json(provider), status=201)

    @extend_schema(operation_id="identity_providers_get", tags=["social"], responses=IdentityProviderSerializer)
    def retrieve(self, request: Request, provider_id: str) -> Response:
        return Response(provider_to_json(services.provider_get(provider_id=provider_id)))

    @extend_schema(
        operation_id="identity_providers_update",
        tags=["social"],
        request=IdentityProviderUpdateSerializer,
        responses={200: IdentityProviderSerializer, **problems(e422="`not_for_kind`: this provider's kind refuses the value")},
        description="The kind cannot change. A new clientSecret replaces the stored one.",
    )
    def partial_update(self, request: Request, provider_id: str) -> Response:
        body = IdentityProviderUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        kwargs: dict[str, Any] = {}
        if "issuer" in data:
            kwargs["issuer"] = data["issuer"]
        provider = services.provider_update(
            app=principal.tenant,
            actor=principal.actor,
            provider_id=provider_id,
            client_id=data.get("clientId"),
            client_secret=data.get("clientSecret"),
            scopes=data.get("scopes"),
            enabled=data.get("enabled"),
            **kwargs,
        )
        return Response(provider_to_json(provider))

    @extend_schema(
        operation_id="identity_providers_delete",
        tags=["social"],
        responses={204: None},
        description="Members' links to this provider go with it.",
    )
    def destroy(self, request: Request, provider_id: str) -> Response:
        principal = current_principal(request)
        services.provider_delete(app=principal.tenant, actor=principal.actor, provider_id=provider_id)
        return Response(status=204)


# ---- the browser flow -------------------------------------------------------------------------------

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


def _single(request: HttpRequest, name: str) -> str | None:
    values = request.GET.getlist(name)
    if len(values) > 1:
        raise oauth_error("invalid_request", f"Parameter '{name}' is repeated.")
    return values[0] if values else None


def _redirect(location: str, cookie: services.BrowserCookie | None = None) -> HttpResponse:
    response = HttpResponseRedirect(location)
    for name, value in _NO_STORE.items():
        response[name] = value
    if cookie is not None:
        # HttpOnly: no script reads it; SameSite=Lax: sent on the provider's top-level redirect
        # back, not on cross-site subrequests; Secure (and __Host-) whenever PUBLIC_URL is https.
        response.set_cookie(
            cookie.name,
            cookie.value,
            max_age=cookie.max_age,
            path="/",
            secure=cookie.secure,
            httponly=True,
            samesite="Lax",
        )
    return response


class _BrowserView(LeanView):
    lean_methods = ("GET",)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code >= 400:
            response["Cache-Control"] = "no-store"
        return response


_AUTHORIZE_PARAMS = [
    OpenApiParameter("app", OpenApiTypes.STR, required=True, description="The App's slug"),
    OpenApiParameter("provider", OpenApiTypes.STR, required=True, description="idp_… of that App"),
    OpenApiParameter("redirect_uri", OpenApiTypes.STR, required=True, description="One of the App's redirectUris"),
    OpenApiParameter("state", OpenApiTypes.STR, required=True, description="The client's state, returned as is"),
    OpenApiParameter("code_challenge", OpenApiTypes.STR, required=True, description="BASE64URL(SHA-256(verifier))"),
    OpenApiParameter("code_challenge_method", OpenApiTypes.STR, required=True, enum=["S256"]),
    OpenApiParameter("invite", OpenApiTypes.STR, required=False, description="An invite token (members_only Apps)"),
]


_HEADER_REFUSED = {
    403: OpenApiResponse(
        OAuthErrorSerializer, description="permission_denied: the Heimdall-App header without an operator's bearer token"
    )
}


class AuthorizeRedirectView(_BrowserView):
    @extend_schema(
        operation_id="oauth_authorize",
        tags=["oauth"],
        summary="Start social sign-in (browser)",
        parameters=_AUTHORIZE_PARAMS,
        auth=[],
        responses={
            302: OpenApiResponse(
                description="To the provider, setting the HttpOnly, SameSite=Lax cookie "
                "`heimdall_signin_{flow}` (`__Host-`-prefixed and Secure over https, 10 minutes) that binds "
                "the sign-in to this browser; or, once redirect_uri is trusted, back to it with "
                "error=access_denied|temporarily_unavailable|invalid_request&state=… (no cookie)"
            ),
            400: OpenApiResponse(OAuthErrorSerializer, description="invalid_request: unknown app or unregistered redirect_uri"),
            429: OpenApiResponse(OAuthErrorSerializer, description="too_many_attempts (Retry-After): per client IP and App"),
            **_HEADER_REFUSED,
        },
    )
    def get(self, request: Request) -> Response:  # documentation only; see handle()
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        names = ("app", "provider", "redirect_uri", "state", "code_challenge", "code_challenge_method", "invite")
        params = {name: _single(request, name) for name in names}
        outcome = services.authorize_start(
            app_slug=params["app"],
            provider_id=params["provider"],
            redirect_uri=params["redirect_uri"],
            state=params["state"],
            code_challenge=params["code_challenge"],
            code_challenge_method=params["code_challenge_method"],
            invite=params["invite"],
        )
        return _redirect(outcome.location, outcome.cookie)


class CallbackView(_BrowserView):
    @extend_schema(
        operation_id="oauth_callback",
        tags=["oauth"],
        summary="The identity provider's return (browser)",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, required=True),
            OpenApiParameter("code", OpenApiTypes.STR, required=False),
            OpenApiParameter("error", OpenApiTypes.STR, required=False),
        ],
        auth=[],
        responses={
            302: OpenApiResponse(
                description="To redirect_uri?code=…&state=…, or ?error=…&state=…; clears the sign-in cookie"
            ),
            400: OpenApiResponse(
                OAuthErrorSerializer,
                description="invalid_request: unknown, used or expired state, or a browser without the "
                "sign-in cookie of the browser that started it (the sign-in stays usable by that one)",
            ),
            429: OpenApiResponse(OAuthErrorSerializer, description="too_many_attempts (Retry-After): per client IP and App"),
            **_HEADER_REFUSED,
        },
    )
    def get(self, request: Request) -> Response:  # documentation only; see handle()
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            outcome = services.callback_finish(
                state=_single(request, "state"),
                code=_single(request, "code"),
                error=_single(request, "error"),
                cookies=request.COOKIES,
            )
        except ApiError as exc:
            return error_response(exc)
        return _redirect(outcome.location, outcome.clear_cookie)


# ---- /v1/me/identities ----------------------------------------------------------------------------------


class LinkedIdentitySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="lnk_…")
    provider = serializers.CharField(help_text="idp_…")
    email = serializers.CharField(allow_null=True)
    linkedAt = serializers.DateTimeField()


class LinkedIdentityListSerializer(serializers.Serializer):
    data = LinkedIdentitySerializer(many=True)  # type: ignore[assignment]


def link_to_json(link: SocialLink) -> dict[str, Any]:
    return {"id": link.id, "provider": link.provider_id, "email": link.email, "linkedAt": rfc3339(link.created_at)}


def _own_user(request: Request) -> Any:
    principal = current_principal(request)
    if principal.kind != "user" or principal.acting:
        raise ApiError(403, "permission_denied", "Only a user's own token has linked identities.")
    return principal


class MeIdentitiesView(APIView):
    required_permissions = {"GET": None}

    @extend_schema(operation_id="me_identities_list", tags=["me"], responses=LinkedIdentityListSerializer)
    def get(self, request: Request) -> Response:
        principal = _own_user(request)
        links = services.identities_of(app=principal.tenant, user_id=principal.subject_id)
        return Response({"data": [link_to_json(link) for link in links]})


class MeIdentityView(APIView):
    required_permissions = {"DELETE": None}

    @extend_schema(
        operation_id="me_identities_delete",
        tags=["me"],
        responses={204: None, 409: OpenApiResponse(description="`last_sign_in_method`")},
    )
    def delete(self, request: Request, identity_id: str) -> Response:
        principal = _own_user(request)
        services.identity_unlink(
            app=principal.tenant, actor=principal.actor, user_id=principal.subject_id, link_id=identity_id
        )
        return Response(status=204)
