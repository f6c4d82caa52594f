"""OAuth endpoints, key publication and the M2M clients API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from jwt.algorithms import RSAAlgorithm
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import Principal, current_principal
from core.context import Actor
from core.errors import ApiError
from core.pagination import paginate
from core.serializers import OAuthErrorSerializer, StrictSerializer, page_of, rfc3339
from core.views import LeanView, json_response
from tenants.models import App
from tokens import services
from tokens.models import Client
from tokens.oauth import client_credentials_from, oauth_error, read_params
from tokens.state import get_state, issuer_for

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# grant_type -> handler(request, params, client credentials or None) -> token response body.
GrantHandler = Callable[[HttpRequest, dict[str, str], "tuple[str, str] | None"], dict[str, Any]]
GRANTS: dict[str, GrantHandler] = {}


def register_grant(name: str, handler: GrantHandler) -> None:
    GRANTS[name] = handler


def _client_credentials(
    request: HttpRequest, params: dict[str, str], creds: tuple[str, str] | None
) -> dict[str, Any]:
    if creds is None:
        raise oauth_error(
            "invalid_client",
            "client_credentials needs clientId and clientSecret (body or HTTP Basic).",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="heimdall"'},
        )
    return services.client_credentials_grant(
        client_id=creds[0], client_secret=creds[1], scope=params.get("scope")
    )


register_grant("client_credentials", _client_credentials)


class TokenRequestSerializer(serializers.Serializer):
    grantType = serializers.CharField(
        required=False,
        help_text="client_credentials | password | refresh_token | authorization_code | "
        "urn:ietf:params:oauth:grant-type:token-exchange. Omitted with clientId+clientSecret: client_credentials.",
    )
    clientId = serializers.CharField(required=False)
    clientSecret = serializers.CharField(required=False)
    scope = serializers.CharField(required=False, help_text="Space-separated permissions; narrows the token.")
    username = serializers.CharField(required=False)
    password = serializers.CharField(required=False)
    app = serializers.CharField(required=False, help_text="App slug (password grant).")
    refreshToken = serializers.CharField(required=False)


class TokenFormSerializer(serializers.Serializer):
    grant_type = serializers.CharField()
    client_id = serializers.CharField(required=False)
    client_secret = serializers.CharField(required=False)
    scope = serializers.CharField(required=False)
    username = serializers.CharField(required=False)
    password = serializers.CharField(required=False)
    app = serializers.CharField(required=False)
    refresh_token = serializers.CharField(required=False)


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    scope = serializers.CharField()
    refresh_token = serializers.CharField(required=False)


class TokenView(LeanView):
    @extend_schema(
        operation_id="oauth_token",
        tags=["oauth"],
        summary="Issue tokens (RFC 6749)",
        description=(
            "JSON (camelCase) or form-encoded (RFC 6749 names); client credentials in the body or "
            "HTTP Basic. Errors carry RFC 6749 `error`/`error_description` beside the problem fields."
        ),
        request={
            "application/json": TokenRequestSerializer,
            "application/x-www-form-urlencoded": TokenFormSerializer,
        },
        responses={
            200: TokenResponseSerializer,
            400: OpenApiResponse(
                OAuthErrorSerializer,
                description="invalid_request, invalid_scope, invalid_grant, unsupported_grant_type, unauthorized_client",
            ),
            401: OpenApiResponse(OAuthErrorSerializer, description="invalid_client"),
            429: OpenApiResponse(OAuthErrorSerializer, description="too_many_attempts (Retry-After)"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:  # documentation only; see handle()
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        params, was_json = read_params(request)
        creds = client_credentials_from(request, params)
        grant = params.get("grant_type")
        if not grant and was_json and creds is not None:
            grant = "client_credentials"
        if not grant:
            raise oauth_error("invalid_request", "grant_type is required.")
        handler = GRANTS.get(grant)
        if handler is None:
            raise oauth_error(
                "unsupported_grant_type",
                f"Unsupported grant_type; use one of: {', '.join(sorted(GRANTS))}.",
            )
        return json_response(handler(request, params, creds), headers=_NO_STORE)


# ---- caller of revoke / introspect --------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who calls revoke/introspect: a client (by its credentials) or a bearer token."""

    app_id: str
    actor: Actor
    client_id: str | None  # the authenticated client, or the bearer token's subject
    privileged: bool  # holds the management permission the endpoint names
    bearer: str | None = None


def _oauth_caller(request: HttpRequest, params: dict[str, str], permission: str) -> Caller | None:
    """The authenticated caller, None when none authenticated; 401 for bad client credentials."""
    creds = client_credentials_from(request, params)
    if creds is not None:
        client = services.client_authenticate(client_id=creds[0], client_secret=creds[1])
        snapshot = get_state().app(client.app_id) if client is not None else None
        if client is None or snapshot is None or snapshot.status != "active":
            raise oauth_error(
                "invalid_client",
                "Client authentication failed.",
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="heimdall"'},
            )
        held = snapshot.grants(tuple(client.roles), frozenset(client.permissions))
        return Caller(client.app_id, Actor("client", client.id), client.id, permission in held)
    principal: Principal | None = getattr(request, "heimdall_principal", None)
    if principal is None:
        return None
    bearer = request.META.get("HTTP_AUTHORIZATION", "")[7:].strip()
    return Caller(
        principal.tenant.id,
        principal.actor,
        principal.subject_id,
        principal.has(permission, method="POST"),
        bearer,
    )


def _unauthenticated() -> ApiError:
    return oauth_error(
        "invalid_client",
        "Authenticate as a client of the token's App (HTTP Basic or body) or with a bearer token.",
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="heimdall", Bearer realm="heimdall"'},
    )


class RevokeRequestSerializer(serializers.Serializer):
    token = serializers.CharField()
    token_type_hint = serializers.ChoiceField(choices=["access_token", "refresh_token"], required=False)


class RevokeView(LeanView):
    @extend_schema(
        operation_id="oauth_revoke",
        tags=["oauth"],
        summary="Revoke a token (RFC 7009)",
        description=(
            "Access tokens: authenticate as the client the token was issued to, or as a client or "
            "bearer token holding heimdall:clients.write in its App; any token may revoke itself. "
            "Refresh tokens: possession is enough (a signed-out app needs no client secret); "
            "revoking one ends its whole session. Unknown, invalid or foreign tokens get 200, "
            "as RFC 7009 requires, and nothing changes."
        ),
        request={
            "application/x-www-form-urlencoded": RevokeRequestSerializer,
            "application/json": RevokeRequestSerializer,
        },
        responses={200: OpenApiResponse(description="Revoked, or nothing to revoke.")},
    )
    def post(self, request: Request) -> Response:  # documentation only
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        params, _ = read_params(request)
        caller = _oauth_caller(request, params, "heimdall:clients.write")
        token = params.get("token")
        if not token:
            raise oauth_error("invalid_request", "token is required.")
        hint = params.get("token_type_hint")
        if hint not in (None, "access_token", "refresh_token"):
            raise oauth_error(
                "unsupported_token_type", "token_type_hint must be access_token or refresh_token."
            )
        for revoker in REVOKERS:
            if revoker(caller=caller, token=token):
                break
        return json_response({}, headers=_NO_STORE)


def _revoke_access_token(*, caller: Caller | None, token: str) -> bool:
    """Access tokens: revoked by the client they were issued to, by themselves (bearer), or by
    a caller holding heimdall:clients.write in their App (RFC 7009 section 2.1)."""
    if token.startswith("hmd_"):
        return False
    if caller is None:
        raise _unauthenticated()
    claims, _ = get_state().verify(token)
    if claims is None or claims.get("app") != caller.app_id:
        return False
    if not (caller.privileged or caller.bearer == token or caller.client_id == claims.get("client_id")):
        raise oauth_error(
            "unauthorized_client",
            "This token was not issued to you; revoking it needs heimdall:clients.write.",
        )
    app = App.objects.filter(pk=caller.app_id).first()
    if app is None:
        return False
    services.access_token_revoke(app=app, actor=caller.actor, claims=claims)
    return True


# Each revoker returns True when it recognised (and revoked) the token.
REVOKERS: list[Callable[..., bool]] = [_revoke_access_token]


class IntrospectionSerializer(serializers.Serializer):
    active = serializers.BooleanField()
    scope = serializers.CharField(required=False)
    client_id = serializers.CharField(required=False)
    token_type = serializers.CharField(required=False)
    exp = serializers.IntegerField(required=False)
    iat = serializers.IntegerField(required=False)
    nbf = serializers.IntegerField(required=False)
    sub = serializers.CharField(required=False)
    aud = serializers.CharField(required=False)
    iss = serializers.CharField(required=False)
    jti = serializers.CharField(required=False)
    app = serializers.CharField(required=False)
    roles = serializers.ListField(child=serializers.CharField(), required=False)


class IntrospectView(LeanView):
    @extend_schema(
        operation_id="oauth_introspect",
        tags=["oauth"],
        summary="Introspect a token (RFC 7662)",
        description=(
            "Authenticate as a client of the token's App, or with a bearer token holding "
            'heimdall:clients.read. A token of another App is reported `{"active": false}`. '
            "`scope` is what the token grants now, after role changes."
        ),
        request={
            "application/x-www-form-urlencoded": RevokeRequestSerializer,
            "application/json": RevokeRequestSerializer,
        },
        responses={200: IntrospectionSerializer},
    )
    def post(self, request: Request) -> Response:  # documentation only
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        params, _ = read_params(request)
        caller = _oauth_caller(request, params, "heimdall:clients.read")
        if caller is None:
            raise _unauthenticated()
        if caller.bearer is not None and not caller.privileged:
            raise ApiError(
                403,
                "permission_denied",
                "This token lacks the permission 'heimdall:clients.read'.",
                oauth=True,
            )
        token = params.get("token")
        if not token:
            raise oauth_error("invalid_request", "token is required.")
        for introspector in INTROSPECTORS:
            answer = introspector(app_id=caller.app_id, token=token)
            if answer is not None:
                return json_response(answer, headers=_NO_STORE)
        return json_response({"active": False}, headers=_NO_STORE)


def _introspect_access_token(*, app_id: str, token: str) -> dict[str, Any] | None:
    check = get_state().check(token)
    if check.claims is None or check.claims.get("app") != app_id:
        return None
    if not check.ok:
        return {"active": False}
    claims = check.claims
    answer = {
        "active": True,
        "token_type": "Bearer",
        "scope": " ".join(sorted(check.granted())),
        "roles": claims.get("roles", []),
    }
    for name in ("client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "app", "act"):
        if name in claims:
            answer[name] = claims[name]
    return answer


INTROSPECTORS: list[Callable[..., dict[str, Any] | None]] = [_introspect_access_token]


# ---- key publication -----------------------------------------------------------------------------


def _public_app(slug: str) -> App:
    app = App.objects.filter(slug=slug).first() if len(slug) <= 63 else None
    if app is None:
        raise ApiError(404, "not_found", f"No App with slug '{slug[:63]}' exists.")
    return app


class JwksView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="jwks",
        tags=["oauth"],
        summary="The App's JSON Web Key Set",
        description="Current signing key, the next one, and retired keys whose tokens may still be alive.",
        responses={200: OpenApiResponse(description="RFC 7517 JWK Set")},
    )
    def get(self, request: Request, slug: str) -> Response:
        app = _public_app(slug)
        keys = []
        for key in services.published_keys(app=app):
            public_key = load_pem_public_key(key.public_pem.encode())
            assert isinstance(public_key, RSAPublicKey)
            jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
            jwk.update({"kid": key.kid, "use": "sig", "alg": "RS256"})
            keys.append(jwk)
        return Response({"keys": keys}, headers={"Cache-Control": "public, max-age=300"})


class DiscoveryView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="openid_configuration",
        tags=["oauth"],
        summary="Authorization server metadata (RFC 8414)",
        responses={200: OpenApiResponse(description="RFC 8414 metadata")},
    )
    def get(self, request: Request, slug: str) -> Response:
        from django.conf import settings

        app = _public_app(slug)
        base = settings.PUBLIC_URL + "/v1"
        return Response(
            {
                "issuer": issuer_for(app.slug),
                "token_endpoint": f"{base}/oauth/token",
                "introspection_endpoint": f"{base}/oauth/introspect",
                "revocation_endpoint": f"{base}/oauth/revoke",
                "jwks_uri": f"{base}/apps/{app.slug}/jwks.json",
                "grant_types_supported": sorted(GRANTS),
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            },
            headers={"Cache-Control": "public, max-age=300"},
        )


# ---- clients API --------------------------------------------------------------------------------


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
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=140), max_length=200, required=False
    )
    accessTokenTtlSeconds = serializers.IntegerField(
        min_value=60, max_value=86_400, required=False, allow_null=True
    )
    actsForUsers = serializers.BooleanField(required=False)
    delegablePermissions = serializers.ListField(
        child=serializers.CharField(max_length=140), max_length=200, required=False
    )


class ClientUpdateSerializer(ClientCreateSerializer):
    name = serializers.CharField(max_length=200, required=False)


class SecretRotateSerializer(StrictSerializer):
    gracePeriodSeconds = serializers.IntegerField(min_value=0, max_value=2_592_000, required=False, default=0)


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


class ClientListView(APIView):
    required_permissions = {"GET": "heimdall:clients.read", "POST": "heimdall:clients.write"}

    @extend_schema(
        operation_id="clients_list", tags=["clients"], responses=page_of(ClientSerializer, "ClientPage")
    )
    def get(self, request: Request) -> Response:
        return Response(paginate(Client.objects.all(), request.query_params, client_to_json))

    @extend_schema(
        operation_id="clients_create",
        tags=["clients"],
        request=ClientCreateSerializer,
        responses={201: ClientCreatedSerializer},
        description="422 `unknown_role` / `unknown_permission` for names the App does not have.",
    )
    def post(self, request: Request) -> Response:
        body = ClientCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        client, secret = services.client_create(
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


class ClientDetailView(APIView):
    required_permissions = {
        "GET": "heimdall:clients.read",
        "PATCH": "heimdall:clients.write",
        "DELETE": "heimdall:clients.write",
    }

    @extend_schema(operation_id="clients_get", tags=["clients"], responses=ClientSerializer)
    def get(self, request: Request, client_id: str) -> Response:
        return Response(client_to_json(services.client_get(client_id=client_id)))

    @extend_schema(
        operation_id="clients_update",
        tags=["clients"],
        request=ClientUpdateSerializer,
        responses=ClientSerializer,
        description="Role and permission changes apply to the client's existing tokens at once.",
    )
    def patch(self, request: Request, client_id: str) -> Response:
        body = ClientUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = current_principal(request)
        client = services.client_update(
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
    def delete(self, request: Request, client_id: str) -> Response:
        principal = current_principal(request)
        services.client_delete(
            app=principal.tenant, actor=principal.actor, client_id=client_id, ceiling=principal.grant_ceiling
        )
        return Response(status=204)


class ClientSecretView(APIView):
    required_permissions = {"POST": "heimdall:clients.write"}

    @extend_schema(
        operation_id="clients_rotate_secret",
        tags=["clients"],
        request=SecretRotateSerializer,
        responses={200: SecretRotatedSerializer},
        description="The previous secret keeps working until previousSecretExpiresAt (gracePeriodSeconds, default 0).",
    )
    def post(self, request: Request, client_id: str) -> Response:
        body = SecretRotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = current_principal(request)
        client, secret = services.client_secret_rotate(
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


class OAuthMetadataView(DiscoveryView):
    """The same metadata at RFC 8414's own well-known path."""

    @extend_schema(
        operation_id="oauth_authorization_server",
        tags=["oauth"],
        summary="Authorization server metadata at /.well-known/oauth-authorization-server",
        responses={200: OpenApiResponse(description="RFC 8414 metadata")},
    )
    def get(self, request: Request, slug: str) -> Response:
        return super().get(request, slug)
