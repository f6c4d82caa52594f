"""Reading OAuth requests: JSON (camelCase) or form-encoded (RFC 6749 names), HTTP Basic.

`/v1/oauth/*` accepts both shapes; everything is normalised to RFC 6749 parameter names here.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from django.http import HttpRequest

from core.errors import ApiError, oauth_error
from core.parsers import NUL, NUL_MESSAGE, printable
from core.serializers import json_integer
from core.views import parse_json_object

# camelCase JSON name -> RFC name
_JSON_NAMES = {
    "grantType": "grant_type",
    "clientId": "client_id",
    "clientSecret": "client_secret",
    "refreshToken": "refresh_token",
    "redirectUri": "redirect_uri",
    "codeVerifier": "code_verifier",
    "subjectToken": "subject_token",
    "subjectTokenType": "subject_token_type",
    "requestedTokenType": "requested_token_type",
    "tokenTypeHint": "token_type_hint",
    "expiresIn": "expires_in",
    "actorToken": "actor_token",
    "actorTokenType": "actor_token_type",
}
# JSON names that are integers (JSON numbers only, read as their decimal string like the form
# encoding carries them; a string is refused).
_NUMERIC = {"expiresIn"}
_MAX_PARAM = 8192


def _nul_error(field: str) -> ApiError:
    return oauth_error(
        "invalid_request",
        f"'{field}' {NUL_MESSAGE}.",
        errors=[{"field": field, "code": "nul_character", "message": NUL_MESSAGE}],
    )


def read_params(request: HttpRequest) -> tuple[dict[str, str], bool]:
    """(params with RFC names, was_json). Values are strings; anything else is invalid_request."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = parse_json_object(request)
        except ApiError as exc:
            raise oauth_error("invalid_request", exc.detail, errors=exc.errors) from exc
        params: dict[str, str] = {}
        for name, value in data.items():
            if value is None:
                continue
            if name in _NUMERIC:
                number = json_integer(value)
                if number is None:
                    raise oauth_error(
                        "invalid_request",
                        f"'{name}' must be an integer.",
                        errors=[{"field": name, "code": "invalid_type", "message": "must be an integer"}],
                    )
                value = str(number)
            if not isinstance(value, str):
                raise oauth_error(
                    "invalid_request",
                    f"'{name}' must be a string.",
                    errors=[{"field": name, "code": "invalid_type", "message": "must be a string"}],
                )
            params[_JSON_NAMES.get(name, name)] = value
        return _bounded(params), True
    if content_type in ("application/x-www-form-urlencoded", ""):
        if len(request.body) > 64 * 1024:
            raise oauth_error("invalid_request", "The request body is too large.", status=413)
        form = request.POST
        for name in form:
            if len(form.getlist(name)) > 1:
                raise oauth_error("invalid_request", f"Parameter '{name}' is repeated.")
            if NUL in name or NUL in form[name]:
                raise _nul_error(printable(name))
        return _bounded({name: form[name] for name in form}), False
    raise oauth_error(
        "invalid_request",
        "Send application/x-www-form-urlencoded (RFC 6749) or application/json.",
        status=415,
    )


# Tokens presented for revocation or introspection may be anything; an over-long one is simply
# not a token of ours (RFC 7009/7662 answer 200 / active false), so it is not refused here.
_UNBOUNDED = {"token", "subject_token", "actor_token"}


def _bounded(params: dict[str, str]) -> dict[str, str]:
    for name, value in params.items():
        if len(value) > _MAX_PARAM and name not in _UNBOUNDED:
            raise oauth_error("invalid_request", f"'{name}' is too long.")
    return params


def client_credentials_from(request: HttpRequest, params: dict[str, str]) -> tuple[str, str] | None:
    """(client_id, client_secret) from HTTP Basic or the body; never both."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    in_body = "client_secret" in params
    if header[:6].lower() == "basic ":
        if in_body:
            raise oauth_error(
                "invalid_request", "Send client credentials either in HTTP Basic or in the body, not both."
            )
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise oauth_error(
                "invalid_client", "The HTTP Basic credentials are malformed.", status=401
            ) from exc
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise oauth_error("invalid_client", "The HTTP Basic credentials are malformed.", status=401)
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if NUL in client_id or NUL in secret:
            raise _nul_error("Authorization")
        return client_id, secret
    if "client_id" in params and in_body:
        return params["client_id"], params["client_secret"]
    return None
