"""POST /v1/authorize: forged, expired, foreign and malformed inputs, and the reasons it gives."""

import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import problem
from tests.tokens.support import (
    authorize,
    b64url,
    b64url_json,
    claims_of,
    clock_at,
    declare,
    header_of,
    jwks,
    new_client,
    token_for,
    unb64url,
)
from tokens.state import get_state


@pytest.fixture
def worker(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"])
    client["token"] = token_for(api, client)
    return client


def _denied(api, token, reason, permission="docs.read", app=None):
    answer = authorize(api, token, permission, app=app)
    assert answer["allowed"] is False, answer
    assert answer["reason"] == reason, answer
    assert answer["role"] is None
    return answer


def _resign(claims, kid, **header):
    """A token signed with the App's real private key (the one behind `kid`)."""
    key = get_state().private_key(kid)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt", **header})


def test_valid_token_is_granted(api, worker):
    assert authorize(api, worker["token"], "docs.read") == {
        "allowed": True,
        "role": "viewer",
        "subject": worker["clientId"],
        "app": "acme-corp",
        "reason": "granted",
    }
    assert authorize(api, worker["token"], "docs.read", app="acme-corp")["allowed"]


def test_resigned_copy_of_real_claims_is_granted(api, worker):
    """Guards the forgery tests below: a token built the same way but properly signed passes."""
    token = _resign(claims_of(worker["token"]), header_of(worker["token"])["kid"])
    assert authorize(api, token, "docs.read")["allowed"]


def test_forged_signature_is_token_invalid(api, worker):
    head, payload, signature = worker["token"].split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    answer = _denied(api, f"{head}.{payload}.{flipped}", "token_invalid")
    assert answer["subject"] is None
    assert authorize(api, worker["token"], "docs.read")["allowed"]


def test_tampered_payload_is_token_invalid(api, acme, worker):
    head, payload, signature = worker["token"].split(".")
    claims = json.loads(unb64url(payload))
    claims["scope"] = "docs.read docs.write heimdall:clients.write"
    claims["roles"] = ["admin"]
    claims["sub"] = acme.client_id
    _denied(api, f"{head}.{b64url_json(claims)}.{signature}", "token_invalid", "heimdall:clients.write")


def test_alg_none_token_is_token_invalid(api, worker):
    header = {"alg": "none", "typ": "at+jwt", "kid": header_of(worker["token"])["kid"]}
    claims = claims_of(worker["token"])
    token = f"{b64url_json(header)}.{b64url_json(claims)}."
    _denied(api, token, "token_invalid")
    # and with the original signature kept
    _denied(api, token + worker["token"].split(".")[2], "token_invalid")


def test_hs256_signed_with_public_key_pem_is_token_invalid(api, worker):
    """The classic RS256/HS256 confusion: HMAC keyed with the App's published public key."""
    kid = header_of(worker["token"])["kid"]
    jwk = next(k for k in jwks(api, "acme-corp")["keys"] if k["kid"] == kid)
    pem = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = claims_of(worker["token"])
    for secret in (pem, pem.strip()):
        signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid})}.{b64url_json(claims)}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        _denied(api, f"{signing_input}.{b64url(signature)}", "token_invalid")


def test_unknown_kid_is_token_invalid(api, worker):
    kid = header_of(worker["token"])["kid"]
    _head, payload, signature = worker["token"].split(".")
    header = {**header_of(worker["token"]), "kid": "key_00000000000000000000000000"}
    _denied(api, f"{b64url_json(header)}.{payload}.{signature}", "token_invalid")
    # properly signed with a real key, but naming a kid that does not exist
    key = get_state().private_key(kid)
    forged = jwt.encode(
        claims_of(worker["token"]), key, algorithm="RS256", headers={"kid": "nope", "typ": "at+jwt"}
    )
    _denied(api, forged, "token_invalid")


def test_kid_of_another_app_is_token_invalid(api, globex, worker):
    """acme's claims signed by globex's key: globex's kid, but the app claim says acme."""
    globex_kid = header_of(globex.token)["kid"]
    _denied(api, _resign(claims_of(worker["token"]), globex_kid), "token_invalid")


def test_wrong_typ_header_is_token_invalid(api, worker):
    kid = header_of(worker["token"])["kid"]
    key = get_state().private_key(kid)
    token = jwt.encode(claims_of(worker["token"]), key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
    _denied(api, token, "token_invalid")


def test_wrong_issuer_is_token_invalid(api, worker):
    claims = {**claims_of(worker["token"]), "iss": "http://evil.example/v1/apps/acme-corp"}
    _denied(api, _resign(claims, header_of(worker["token"])["kid"]), "token_invalid")


@pytest.mark.parametrize("missing", ["exp", "jti", "sub", "app", "iss"])
def test_token_missing_a_required_claim_is_token_invalid(api, worker, missing):
    claims = claims_of(worker["token"])
    del claims[missing]
    _denied(api, _resign(claims, header_of(worker["token"])["kid"]), "token_invalid")


@pytest.mark.parametrize(
    "token",
    [
        "x" * 20_000,
        "garbage",
        "a.b.c",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "eyJ" + "A" * 20_000,
    ],
    ids=["20000-chars", "garbage", "three-dots", "dots", "empty-claims", "long-b64"],
)
def test_garbage_token_is_token_invalid(api, token):
    answer = _denied(api, token, "token_invalid")
    assert answer["subject"] is None and answer["app"] is None


def test_long_real_looking_token_is_token_invalid(api, worker):
    head, payload, signature = worker["token"].split(".")
    padded = f"{head}.{payload}{'A' * (20_000 - len(worker['token']))}.{signature}"
    assert len(padded) == 20_000
    _denied(api, padded, "token_invalid")


def test_expired_token_signed_with_real_key_is_token_expired(api, worker):
    now = int(time.time())
    claims = {**claims_of(worker["token"]), "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
    token = _resign(claims, header_of(worker["token"])["kid"])
    answer = _denied(api, token, "token_expired")
    assert answer["allowed"] is False


def test_token_expires_while_cached(api, worker):
    """A token already verified (and cached) still expires on time."""
    assert authorize(api, worker["token"], "docs.read")["allowed"]
    exp = claims_of(worker["token"])["exp"]
    with clock_at(exp - 1):
        assert authorize(api, worker["token"], "docs.read")["allowed"]
    with clock_at(exp):
        _denied(api, worker["token"], "token_expired")
    with clock_at(exp + 3600):
        _denied(api, worker["token"], "token_expired")


def test_short_ttl_client_token_expires(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"], accessTokenTtlSeconds=60)
    token = token_for(api, client)
    assert authorize(api, token, "docs.read")["allowed"]
    with clock_at(time.time() + 61):
        _denied(api, token, "token_expired")


def test_token_of_another_app_named_is_app_mismatch(api, globex, worker):
    answer = _denied(api, worker["token"], "app_mismatch", app="globex")
    assert answer["app"] == "acme-corp"
    _denied(api, worker["token"], "app_mismatch", app="no-such-app")
    assert authorize(api, globex.token, "heimdall:users.read", app="globex")["allowed"]


def test_suspended_app_is_app_suspended_then_reactivated(api, operator, worker):
    response = api.patch("/v1/apps/acme-corp", {"status": "suspended"}, token=operator.token)
    assert response.status_code == 200, response.content
    _denied(api, worker["token"], "app_suspended")
    assert api.patch("/v1/apps/acme-corp", {"status": "active"}, token=operator.token).status_code == 200
    # Reactivation does not bring back what was issued before the suspension.
    _denied(api, worker["token"], "token_revoked")


def test_deleted_app_token_is_denied(api, operator, worker):
    assert api.delete("/v1/apps/acme-corp", token=operator.token).status_code == 204
    answer = authorize(api, worker["token"], "docs.read")
    assert answer["allowed"] is False
    assert answer["reason"] in ("token_invalid", "app_suspended", "token_revoked")


def test_denied_reasons_before_permission(api, acme, worker):
    """A revoked token is reported as revoked even for a permission it never had."""
    assert api.post("/v1/oauth/revoke", {"token": worker["token"]}, token=acme.token).status_code == 200
    _denied(api, worker["token"], "token_revoked", permission="heimdall:apps.write")


# ---- malformed requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"permission": "docs.read"},
        {"token": "", "permission": "docs.read"},
        {"token": None, "permission": "docs.read"},
        {"token": 12345, "permission": "docs.read"},
        {"token": ["a"], "permission": "docs.read"},
        {"token": {"a": 1}, "permission": "docs.read"},
        {"token": "t"},
        {"token": "t", "permission": "docs"},
        {"token": "t", "permission": "Docs.Read"},
        {"token": "t", "permission": "docs.*"},
        {"token": "t", "permission": "a.b.c"},
        {"token": "t", "permission": 7},
        {"token": "t", "permission": "heimdall:"},
        {"token": "t", "permission": "docs.read", "app": 5},
        {"token": "t", "permission": "docs.read", "app": "x"},
        {"token": "t", "permission": "docs.read", "extra": True},
        {"token": "t", "permission": "docs.read", "Token": "t"},
    ],
)
def test_malformed_body_is_validation_error(api, body):
    problem(api.post("/v1/authorize", body), 400, "validation_error")


@pytest.mark.parametrize("raw", ["[]", '"token"', "null", "42", "true", ""])
def test_non_object_json_is_validation_error(api, raw):
    problem(api.post("/v1/authorize", raw=raw), 400, "validation_error")


@pytest.mark.parametrize("raw", ["{", "token=abc", "{'token': 1}", b"\xff\xfe", '{"token": "t",}'])
def test_non_json_body_is_a_validation_error(api, raw):
    """API.md: "A malformed body -> 400 validation_error" on /v1/authorize."""
    body = problem(api.post("/v1/authorize", raw=raw), 400, "validation_error")
    assert body["errors"][0]["field"] == "body"


def test_form_body_is_rejected(api, worker):
    response = api.post("/v1/authorize", form={"token": worker["token"], "permission": "docs.read"})
    assert response.status_code in (400, 415), response.content
    assert response["Content-Type"].startswith("application/problem+json")


def test_get_is_method_not_allowed(api):
    problem(api.get("/v1/authorize"), 405, "method_not_allowed")


def test_authorize_needs_no_credentials_and_ignores_bad_bearer(api, worker):
    response = api.post(
        "/v1/authorize", {"token": worker["token"], "permission": "docs.read"}, token="not-a-token"
    )
    assert response.status_code == 200
    assert response.json()["allowed"] is True
