"""The OAuth endpoints: token (RFC 6749), revocation (RFC 7009) and introspection (RFC 7662).

These are lean views (no DRF request/response machinery) because they are the hot paths; the
grants themselves are `tokens.grants`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.signin import refresh_token_introspect, refresh_token_revoke
from core.auth import Principal
from core.context import Actor
from core.errors import ApiError, oauth_error
from core.openapi import OAUTH_PARAM_MAX_LENGTH
from core.serializers import (
    OAuthErrorSerializer,
    OAuthFormParamsSerializer,
    OAuthJsonParamsSerializer,
    StrictIntegerField,
    pattern_field,
)
from core.views import LeanView, json_response
from tenants.models import App
from tokens.clients import client_authenticate
from tokens.grants import GRANTS, GrantRequest
from tokens.grants.token_exchange import EXPIRES_IN_PATTERN, MAX_LIFETIME, MIN_LIFETIME
from tokens.oauth import client_credentials_from, read_params
from tokens.revocation import access_token_revoke
from tokens.state import get_state

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth(description: str) -> OpenApiResponse:
    return OpenApiResponse(OAuthErrorSerializer, description=description)


# Security requirements as the document states them (drf-spectacular passes them through).
_CLIENT_OR_NONE: Any = [{"clientBasic": []}, {}]
_CLIENT_OR_BEARER: Any = [{"clientBasic": []}, {"bearerAuth": []}]
_ANY_CALLER: Any = [*_CLIENT_OR_BEARER, {}]

# What every OAuth endpoint may answer besides its own refusals.
_LEAN_ERRORS = {
    403: _oauth("permission_denied: the Heimdall-App header without an operator's bearer token"),
    413: _oauth("invalid_request: the body is larger than 64 KiB"),
    415: _oauth("invalid_request: neither form-encoded nor JSON"),
}


def _json(**kwargs: Any) -> Any:
    """A JSON OAuth parameter: a string (null: absent), at most OAUTH_PARAM_MAX_LENGTH long."""
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=OAUTH_PARAM_MAX_LENGTH, **kwargs
    )


def _form(**kwargs: Any) -> Any:
    return serializers.CharField(required=False, allow_blank=True, max_length=OAUTH_PARAM_MAX_LENGTH, **kwargs)


_GRANT_TYPES = sorted(GRANTS)
_EXPIRES_IN_HELP = "Token exchange: a shorter lifetime (s)."


class TokenRequestSerializer(OAuthJsonParamsSerializer):
    grantType = serializers.ChoiceField(
        choices=_GRANT_TYPES,
        required=False,
        allow_null=True,
        help_text="Omitted with clientId+clientSecret: client_credentials. RFC 6749 names "
        "(grant_type, client_id, …) are read too.",
    )
    clientId = _json()
    clientSecret = _json()
    scope = _json(help_text="Space-separated permissions; narrows the token.")
    username = _json()
    password = _json()
    app = _json(help_text="App slug (password grant).")
    refreshToken = _json()
    subjectToken = serializers.CharField(
        required=False, allow_null=True, help_text="Token exchange: the user's access token."
    )
    subjectTokenType = _json(help_text="Token exchange: urn:ietf:params:oauth:token-type:access_token")
    requestedTokenType = _json()
    expiresIn = StrictIntegerField(
        required=False, allow_null=True, min_value=MIN_LIFETIME, max_value=MAX_LIFETIME, help_text=_EXPIRES_IN_HELP
    )
    code = _json(help_text="authorization_code grant: the one-time code.")
    redirectUri = _json(help_text="authorization_code grant.")
    codeVerifier = _json(help_text="authorization_code grant: PKCE verifier.")


class TokenFormSerializer(OAuthFormParamsSerializer):
    grant_type = serializers.ChoiceField(choices=_GRANT_TYPES)
    client_id = _form()
    client_secret = _form()
    scope = _form()
    username = _form()
    password = _form()
    app = _form()
    refresh_token = _form()
    subject_token = serializers.CharField(required=False)
    subject_token_type = _form()
    requested_token_type = _form()
    expires_in = pattern_field(
        EXPIRES_IN_PATTERN, required=False, help_text=_EXPIRES_IN_HELP + " Digits (RFC 6749 form values are strings)."
    )
    code = _form()
    redirect_uri = _form()
    code_verifier = _form()


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    scope = serializers.CharField()
    refresh_token = serializers.CharField(required=False)
    issued_token_type = serializers.CharField(required=False, help_text="Token exchange only")


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
            400: _oauth("invalid_request, invalid_scope, invalid_grant, unsupported_grant_type, unauthorized_client"),
            401: _oauth("invalid_client"),
            429: _oauth("too_many_attempts: too many failed sign-ins for this email or address (Retry-After)"),
            **_LEAN_ERRORS,
        },
        auth=_CLIENT_OR_NONE,
        extensions={"x-lean": True},
    )
    def post(self, request: Request) -> Response:  # documentation only; see handle()
        raise NotImplementedError

    # A lean view (no DRF request/response machinery): the token endpoint is a hot path
    # (bench/README.md: client_credentials issuance ~1.5k tokens/s on 2 cores).
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
        grant_request = GrantRequest(
            grant_type=grant,
            params=params,
            client_id=creds[0] if creds else None,
            client_secret=creds[1] if creds else None,
        )
        return json_response(handler(grant_request), headers=_NO_STORE)


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
        client = client_authenticate(client_id=creds[0], client_secret=creds[1])
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


_HINTS = ["access_token", "refresh_token"]


class RevokeRequestSerializer(OAuthJsonParamsSerializer):
    token = serializers.CharField(min_length=1)
    token_type_hint = serializers.ChoiceField(choices=_HINTS, required=False, allow_null=True)
    tokenTypeHint = serializers.ChoiceField(choices=_HINTS, required=False, allow_null=True)
    clientId = _json(help_text="With clientSecret: client authentication in the body")
    clientSecret = _json()


class RevokeFormSerializer(OAuthFormParamsSerializer):
    token = serializers.CharField(min_length=1)
    token_type_hint = serializers.ChoiceField(choices=_HINTS, required=False)
    client_id = _form(help_text="With client_secret: client authentication in the body")
    client_secret = _form()


def _hint_check(params: dict[str, str]) -> None:
    """token_type_hint names one of the two kinds of token this server issues, or is absent."""
    if params.get("token_type_hint") not in (None, *_HINTS):
        raise oauth_error("unsupported_token_type", "token_type_hint must be access_token or refresh_token.")


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
            "application/x-www-form-urlencoded": RevokeFormSerializer,
            "application/json": RevokeRequestSerializer,
        },
        responses={
            200: OpenApiResponse(description="Revoked, or nothing to revoke."),
            400: _oauth("invalid_request; unsupported_token_type (token_type_hint); unauthorized_client"),
            401: _oauth("invalid_client: bad client credentials, or an access token revoked by nobody"),
            **_LEAN_ERRORS,
        },
        auth=_ANY_CALLER,
        extensions={"x-lean": True},
    )
    def post(self, request: Request) -> Response:  # documentation only
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        params, _ = read_params(request)
        caller = _oauth_caller(request, params, "heimdall:clients.write")
        token = params.get("token")
        if not token:
            raise oauth_error("invalid_request", "token is required.")
        _hint_check(params)
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
    access_token_revoke(app=app, actor=caller.actor, claims=claims)
    return True


# Each revoker returns True when it recognised (and revoked) the token. Refresh tokens first:
# they are recognised by their prefix without any work.
REVOKERS: list[Callable[..., bool]] = [refresh_token_revoke, _revoke_access_token]


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
            "application/x-www-form-urlencoded": RevokeFormSerializer,
            "application/json": RevokeRequestSerializer,
        },
        responses={
            200: IntrospectionSerializer,
            400: _oauth("invalid_request; unsupported_token_type (token_type_hint)"),
            401: _oauth("invalid_client: no or bad client credentials, or no valid bearer token"),
            403: _oauth(
                "permission_denied: the bearer token lacks heimdall:clients.read; or the "
                "Heimdall-App header without an operator's bearer token"
            ),
            413: _oauth("invalid_request: the body is larger than 64 KiB"),
            415: _oauth("invalid_request: neither form-encoded nor JSON"),
        },
        auth=_CLIENT_OR_BEARER,
        extensions={"x-lean": True},
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
        _hint_check(params)
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


INTROSPECTORS: list[Callable[..., dict[str, Any] | None]] = [refresh_token_introspect, _introspect_access_token]


