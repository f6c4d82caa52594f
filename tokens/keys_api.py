"""Key publication and discovery: each App's JWKS and its authorization server metadata."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApiError
from core.openapi import problems
from tenants.models import App
from tokens.algorithms import public_jwk
from tokens.grants import GRANTS
from tokens.keys import published_keys
from tokens.state import issuer_for


def _public_app(slug: str) -> App:
    app = App.objects.filter(slug=slug).first() if len(slug) <= 63 else None
    if app is None:
        raise ApiError(404, "not_found", f"No App with slug '{slug[:63]}' exists.")
    return app


class _JwkSerializer(serializers.Serializer):
    kty = serializers.ChoiceField(choices=["RSA", "EC", "OKP"])
    kid = serializers.CharField()
    use = serializers.ChoiceField(choices=["sig"])
    alg = serializers.ChoiceField(choices=["RS256", "ES256", "EdDSA"])
    n = serializers.CharField(required=False, help_text="RSA modulus (kty RSA)")
    e = serializers.CharField(required=False, help_text="RSA exponent (kty RSA)")
    crv = serializers.ChoiceField(choices=["P-256", "Ed25519"], required=False, help_text="kty EC or OKP")
    x = serializers.CharField(required=False, help_text="kty EC or OKP")
    y = serializers.CharField(required=False, help_text="kty EC")


class JwksSerializer(serializers.Serializer):
    keys = _JwkSerializer(many=True, help_text="RFC 7517 JWKs; each has its key type's own members too.")


class MetadataSerializer(serializers.Serializer):
    issuer = serializers.CharField()
    authorization_endpoint = serializers.CharField()
    token_endpoint = serializers.CharField()
    introspection_endpoint = serializers.CharField()
    revocation_endpoint = serializers.CharField()
    jwks_uri = serializers.CharField()
    response_types_supported = serializers.ListField(child=serializers.CharField())
    grant_types_supported = serializers.ListField(child=serializers.CharField())
    code_challenge_methods_supported = serializers.ListField(child=serializers.CharField())
    token_endpoint_auth_methods_supported = serializers.ListField(child=serializers.CharField())
    introspection_endpoint_auth_methods_supported = serializers.ListField(child=serializers.CharField())
    revocation_endpoint_auth_methods_supported = serializers.ListField(child=serializers.CharField())


_UNKNOWN_APP = problems(e404="`not_found`: no App has this slug")


class JwksView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="jwks",
        tags=["oauth"],
        summary="The App's JSON Web Key Set",
        description=(
            "Current signing key, the next one, and retired keys whose tokens may still be alive. "
            "Each key carries its own `alg` (RS256: kty RSA; ES256: kty EC, crv P-256; EdDSA: "
            "kty OKP, crv Ed25519), `use: sig` and `kid`."
        ),
        responses={200: OpenApiResponse(JwksSerializer, description="RFC 7517 JWK Set"), **_UNKNOWN_APP},
    )
    def get(self, request: Request, slug: str) -> Response:
        app = _public_app(slug)
        keys = []
        for key in published_keys(app=app):
            # A key not of its algorithm's kind raises (500) rather than being published wrongly.
            keys.append(public_jwk(key.algorithm, load_pem_public_key(key.public_pem.encode()), kid=key.kid))
        return Response({"keys": keys}, headers={"Cache-Control": "public, max-age=300"})


class DiscoveryView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="openid_configuration",
        tags=["oauth"],
        summary="Authorization server metadata (RFC 8414)",
        responses={200: OpenApiResponse(MetadataSerializer, description="RFC 8414 metadata"), **_UNKNOWN_APP},
    )
    def get(self, request: Request, slug: str) -> Response:
        app = _public_app(slug)
        base = settings.PUBLIC_URL + "/v1"
        return Response(
            {
                "issuer": issuer_for(app.slug),
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "introspection_endpoint": f"{base}/oauth/introspect",
                "revocation_endpoint": f"{base}/oauth/revoke",
                "jwks_uri": f"{base}/apps/{app.slug}/jwks.json",
                "response_types_supported": ["code"],
                "grant_types_supported": sorted(GRANTS),
                "code_challenge_methods_supported": ["S256"],
                # "none": public callers — the password grant, and authorization codes, which
                # PKCE's code_verifier binds to whoever started the sign-in (RFC 8414 §2).
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            },
            headers={"Cache-Control": "public, max-age=300"},
        )


class OAuthMetadataView(DiscoveryView):
    """The same metadata at RFC 8414's own well-known path."""

    @extend_schema(
        operation_id="oauth_authorization_server",
        tags=["oauth"],
        summary="Authorization server metadata at /.well-known/oauth-authorization-server",
        responses={200: OpenApiResponse(MetadataSerializer, description="RFC 8414 metadata"), **_UNKNOWN_APP},
    )
    def get(self, request: Request, slug: str) -> Response:
        return super().get(request, slug)
