"""ES256 and EdDSA signing keys per App (App setting `signingAlgorithm`), next to RS256.

- the setting: accepted values, refused ones (400, stable code, nothing changed);
- switching: the setting changes no key; the next rotation publishes a key of the new algorithm,
  the one after makes it sign (so it is in the JWKS before it signs); old keys keep verifying;
- the JWKS entries (kty/crv/x/y, OKP/Ed25519/x, alg, use, kid), and stock clients (PyJWT's
  PyJWKClient over HTTP, authlib, joserfc) verifying tokens from it unmodified;
- no algorithm confusion: the header's alg must be exactly the key's;
- /v1/authorize, bearer authentication, introspection, refresh, token exchange, revocation and
  the verified-token cache with each algorithm, all through HTTP;
- private keys encrypted at rest, whatever the algorithm.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.management import call_command
from jwt import PyJWKClient

from core import crypto
from core.context import system_scope
from tests.accounts.support import PASSWORD, create_user, introspect, refresh, revoke, signed_in
from tests.helpers import basic, problem
from tests.tokens.support import (
    audit_events,
    authorize,
    b64url,
    b64url_json,
    claims_of,
    declare,
    header_of,
    jwks,
    new_client,
    token_for,
)
from tokens.models import SigningKey
from tokens.state import get_state

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


def _issuer(slug: str) -> str:
    return f"http://testserver/v1/apps/{slug}"


def _kids(api, slug):
    return [k["kid"] for k in jwks(api, slug)["keys"]]


def _jwk(api, slug, kid):
    return next(k for k in jwks(api, slug)["keys"] if k["kid"] == kid)


def _set_algorithm(api, app, algorithm):
    response = api.patch("/v1/app", {"settings": {"signingAlgorithm": algorithm}}, token=app.token)
    assert response.status_code == 200, response.content
    assert response.json()["settings"]["signingAlgorithm"] == algorithm


@pytest.fixture
def app_with(make_app):
    """An App created with `signingAlgorithm` already set: both of its first keys use it."""

    def make(algorithm: str, slug: str | None = None):
        return make_app(slug or f"alg-{algorithm.lower()}", settings={"signingAlgorithm": algorithm})

    return make


# ---- the setting ------------------------------------------------------------------------------


def test_default_is_rs256_and_each_algorithm_is_accepted(api, acme):
    body = api.get("/v1/app", token=acme.token).json()
    assert body["settings"]["signingAlgorithm"] == "RS256"
    for algorithm in ("ES256", "EdDSA", "RS256"):
        _set_algorithm(api, acme, algorithm)
        assert api.get("/v1/app", token=acme.token).json()["settings"]["signingAlgorithm"] == algorithm


@pytest.mark.parametrize(
    "value", ["es256", "ES384", "HS256", "none", "Ed25519", "RS512", "", " ES256", None, 256, ["ES256"], True]
)
def test_invalid_algorithm_is_400_and_changes_nothing(api, acme, value):
    before = api.get("/v1/app", token=acme.token).json()
    response = api.patch("/v1/app", {"settings": {"signingAlgorithm": value}}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert body["errors"] == [
        {"field": "settings.signingAlgorithm", "code": "invalid_choice", "message": body["errors"][0]["message"]}
    ]
    assert api.get("/v1/app", token=acme.token).json() == before


def test_operator_creating_an_app_with_an_invalid_algorithm_is_400_and_creates_nothing(api, operator):
    response = api.post(
        "/v1/apps",
        {"slug": "bad-alg", "displayName": "Bad", "settings": {"signingAlgorithm": "HS256"}},
        token=operator.token,
    )
    problem(response, 400, "validation_error")
    assert api.get("/v1/apps/bad-alg/jwks.json").status_code == 404


def test_operator_may_set_the_algorithm_of_an_app(api, operator, acme):
    response = api.patch(
        f"/v1/apps/{acme.slug}", {"settings": {"signingAlgorithm": "EdDSA"}}, token=operator.token
    )
    assert response.status_code == 200, response.content
    assert response.json()["settings"]["signingAlgorithm"] == "EdDSA"
    problem(
        api.patch(f"/v1/apps/{acme.slug}", {"settings": {"signingAlgorithm": "ed"}}, token=operator.token),
        400,
        "validation_error",
    )


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_an_app_created_with_an_algorithm_signs_with_it_from_the_start(api, app_with, algorithm):
    app = app_with(algorithm)
    assert header_of(app.token)["alg"] == algorithm
    assert {k["alg"] for k in jwks(api, app.slug)["keys"]} == {algorithm}
    assert api.get("/v1/clients", token=app.token).status_code == 200  # bearer authentication


# ---- switching through rotation ---------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_switch_publishes_the_new_key_a_rotation_before_it_signs(api, acme, algorithm):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"])
    first = token_for(api, client)
    kids = _kids(api, acme.slug)

    _set_algorithm(api, acme, algorithm)
    # The setting alone changes no key: same signer, same published set.
    same = token_for(api, client)
    assert (header_of(same)["alg"], header_of(same)["kid"]) == ("RS256", header_of(first)["kid"])
    assert _kids(api, acme.slug) == kids

    call_command("rotate_signing_keys", app=acme.slug)
    # The pre-published RS256 next key signs; a key of the new algorithm is published as next.
    second = token_for(api, client)
    assert header_of(second)["alg"] == "RS256" and header_of(second)["kid"] in kids
    published = jwks(api, acme.slug)["keys"]
    (fresh,) = [k for k in published if k["kid"] not in kids]
    assert fresh["alg"] == algorithm

    call_command("rotate_signing_keys", app=acme.slug)
    third = token_for(api, client)
    assert header_of(third) == {"alg": algorithm, "typ": "at+jwt", "kid": fresh["kid"]}
    # Every earlier token still verifies: its key is retired, not gone.
    for token in (first, same, second, third):
        assert authorize(api, token, "docs.read")["allowed"] is True
    algs = {k["kid"]: k["alg"] for k in jwks(api, acme.slug)["keys"]}
    assert algs[header_of(first)["kid"]] == "RS256" and algs[fresh["kid"]] == algorithm
    assert sorted(algs.values()).count(algorithm) == 2  # the signer and the new next key

    events = audit_events(api, acme, action="signing_key.rotated")
    assert events[0]["changes"]["algorithm"] == algorithm  # newest first
    assert events[1]["changes"]["nextAlgorithm"] == algorithm


def test_switch_back_to_rs256_goes_through_the_same_staging(api, app_with):
    app = app_with("ES256")
    _set_algorithm(api, app, "RS256")
    call_command("rotate_signing_keys", app=app.slug)
    assert header_of(api.client_token(app.client_id, app.client_secret))["alg"] == "ES256"
    call_command("rotate_signing_keys", app=app.slug)
    token = api.client_token(app.client_id, app.client_secret)
    assert header_of(token)["alg"] == "RS256"
    assert authorize(api, app.token, "heimdall:clients.read")["allowed"] is True  # the ES256 one
    assert authorize(api, token, "heimdall:clients.read")["allowed"] is True


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_revoking_a_key_of_any_algorithm_kills_its_tokens_cached_or_not(api, app_with, algorithm):
    app = app_with(algorithm)
    declare(api, app, "docs.read")
    token = token_for(api, new_client(api, app, roles=["viewer"]))
    assert authorize(api, token, "docs.read")["allowed"] is True
    assert authorize(api, token, "docs.read")["allowed"] is True  # now from the verified-token cache
    call_command("rotate_signing_keys", app=app.slug, revoke=True)
    assert header_of(token)["kid"] not in _kids(api, app.slug)
    assert authorize(api, token, "docs.read")["reason"] == "token_invalid"
    problem(api.get("/v1/clients", token=app.token), 401, "invalid_token")


# ---- the JWKS and stock clients ------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "shape"),
    [
        ("RS256", {"kty": "RSA", "params": {"n", "e"}}),
        ("ES256", {"kty": "EC", "crv": "P-256", "params": {"x", "y"}}),
        ("EdDSA", {"kty": "OKP", "crv": "Ed25519", "params": {"x"}}),
    ],
)
def test_jwks_entries_per_algorithm(api, app_with, algorithm, shape):
    app = app_with(algorithm)
    keys = jwks(api, app.slug)["keys"]
    assert len(keys) == 2
    for key in keys:
        expected = {"kty", "kid", "use", "alg"} | shape["params"] | ({"crv"} if "crv" in shape else set())
        assert set(key) == expected, key  # nothing private (d, p, q, ...) and nothing else
        assert (key["kty"], key["alg"], key["use"]) == (shape["kty"], algorithm, "sig")
        assert key.get("crv") == shape.get("crv")
    assert header_of(app.token)["kid"] in {k["kid"] for k in keys}
    if algorithm == "ES256":
        for key in keys:  # 32-byte coordinates, base64url without padding
            assert len(key["x"]) == len(key["y"]) == 43
    if algorithm == "EdDSA":
        assert all(len(key["x"]) == 43 for key in keys)


class _JwksServer:
    """A loopback HTTP server handing out the JWKS document exactly as Heimdall served it (the
    test database is not visible from another thread, so the document is fetched through the
    test client and served from here); counts the fetches."""

    def __init__(self) -> None:
        self.document = b""
        self.fetches = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.document)))
                self.end_headers()
                self.wfile.write(outer.document)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, api, slug) -> None:
        response = api.get(f"/v1/apps/{slug}/jwks.json")
        assert response.status_code == 200
        self.document = response.content

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[_JwksServer]:
    server = _JwksServer()
    yield server
    server.close()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pyjwkclient_verifies_over_http_unmodified(api, app_with, jwks_server, algorithm):
    app = app_with(algorithm)
    jwks_server.serve(api, app.slug)
    client = PyJWKClient(jwks_server.url)
    signing_key = client.get_signing_key_from_jwt(app.token)
    assert signing_key.algorithm_name == algorithm
    claims = jwt.decode(
        app.token, signing_key.key, algorithms=[algorithm], audience=_issuer(app.slug), issuer=_issuer(app.slug)
    )
    assert claims["sub"] == app.client_id and claims["app"] == app.id
    # and with PyJWK itself, as PyJWT's docs show
    assert jwt.decode(app.token, signing_key, audience=_issuer(app.slug))["jti"] == claims["jti"]


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_pyjwkclient_already_holds_the_new_key_when_it_starts_signing(api, acme, jwks_server, algorithm):
    """A verifier that cached the JWKS before the switching rotation verifies the first token of
    the new algorithm without fetching again: the key was published a rotation earlier."""
    _set_algorithm(api, acme, algorithm)
    call_command("rotate_signing_keys", app=acme.slug)
    jwks_server.serve(api, acme.slug)
    client = PyJWKClient(jwks_server.url, cache_jwk_set=True, lifespan=3600)
    client.get_signing_key_from_jwt(acme.token)
    assert jwks_server.fetches == 1

    call_command("rotate_signing_keys", app=acme.slug)
    jwks_server.serve(api, acme.slug)
    token = api.client_token(acme.client_id, acme.client_secret)
    assert header_of(token)["alg"] == algorithm
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[algorithm], audience=_issuer(acme.slug))
    assert claims["client_id"] == acme.client_id
    assert jwks_server.fetches == 1


# joserfc warns that RFC 9864 deprecates the polymorphic "EdDSA" name (in favour of "Ed25519");
# "EdDSA" is what the JWS registry and every stock client still accept, and it verifies.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_authlib_and_joserfc_verify_from_the_jwks_unmodified(api, app_with, algorithm):
    app = app_with(algorithm)
    document = jwks(api, app.slug)
    with warnings.catch_warnings():
        import authlib.deprecate  # noqa: F401 - installs an "always" filter for its warnings: override it

        warnings.simplefilter("ignore")  # authlib.jose says to use joserfc instead (tested below)
        from authlib.jose import JsonWebKey
        from authlib.jose import jwt as authlib_jwt

    claims = authlib_jwt.decode(
        app.token,
        JsonWebKey.import_key_set(document),
        claims_options={"iss": {"essential": True, "value": _issuer(app.slug)}},
    )
    claims.validate()
    assert claims["sub"] == app.client_id

    from joserfc import jwt as joserfc_jwt
    from joserfc.jwk import KeySet

    token = joserfc_jwt.decode(app.token, KeySet.import_key_set(document), algorithms=[algorithm])
    assert token.header["alg"] == algorithm
    joserfc_jwt.JWTClaimsRegistry(iss={"essential": True, "value": _issuer(app.slug)}).validate(token.claims)


# ---- no algorithm confusion ---------------------------------------------------------------------


@pytest.fixture
def mixed(api, acme):
    """acme signing with ES256 while its retired RS256 key and next ES256 key are published."""
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"])
    rsa_token = token_for(api, client)
    _set_algorithm(api, acme, "ES256")
    call_command("rotate_signing_keys", app=acme.slug)
    call_command("rotate_signing_keys", app=acme.slug)
    ec_token = token_for(api, client)
    assert header_of(ec_token)["alg"] == "ES256" and header_of(rsa_token)["alg"] == "RS256"
    return rsa_token, ec_token


def _signed(claims, key, alg, kid, **header):
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt", **header})


def _denied(api, token):
    answer = authorize(api, token, "docs.read")
    assert (answer["allowed"], answer["reason"]) == (False, "token_invalid"), answer
    problem(api.get("/v1/app", token=token), 401, "invalid_token")


def test_resigned_with_the_right_key_and_alg_is_granted(api, mixed):
    """Guards the refusals below: the forgeries differ from this only in what they test."""
    rsa_token, ec_token = mixed
    for token in (rsa_token, ec_token):
        kid = header_of(token)["kid"]
        alg = header_of(token)["alg"]
        assert authorize(api, _signed(claims_of(token), get_state().private_key(kid), alg, kid), "docs.read")[
            "allowed"
        ]


def test_rs256_token_against_an_ec_key_is_refused(api, mixed):
    """Signed with the App's own (published, retired) RSA key, but naming the EC key's kid."""
    rsa_token, ec_token = mixed
    rsa_kid, ec_kid = header_of(rsa_token)["kid"], header_of(ec_token)["kid"]
    _denied(api, _signed(claims_of(ec_token), get_state().private_key(rsa_kid), "RS256", ec_kid))


def test_es256_token_against_an_rsa_key_is_refused(api, mixed):
    rsa_token, ec_token = mixed
    rsa_kid, ec_kid = header_of(rsa_token)["kid"], header_of(ec_token)["kid"]
    _denied(api, _signed(claims_of(rsa_token), get_state().private_key(ec_kid), "ES256", rsa_kid))


def test_other_curve_and_eddsa_headers_against_an_ec_key_are_refused(api, mixed):
    _, ec_token = mixed
    kid = header_of(ec_token)["kid"]
    claims = claims_of(ec_token)
    _denied(api, _signed(claims, ec.generate_private_key(ec.SECP384R1()), "ES384", kid))
    _denied(api, _signed(claims, ed25519.Ed25519PrivateKey.generate(), "EdDSA", kid))
    # the real EC signature under a relabelled header
    _head, payload, signature = ec_token.split(".")
    for alg in ("ES384", "ES512", "EdDSA", "PS256", "RS256", "ES256K"):
        header = {"alg": alg, "typ": "at+jwt", "kid": kid}
        _denied(api, f"{b64url_json(header)}.{payload}.{signature}")


def test_es256_signed_by_a_stranger_is_refused(api, mixed):
    _, ec_token = mixed
    kid = header_of(ec_token)["kid"]
    _denied(api, _signed(claims_of(ec_token), ec.generate_private_key(ec.SECP256R1()), "ES256", kid))


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_hs256_keyed_with_the_public_key_is_refused(api, app_with, algorithm):
    app = app_with(algorithm)
    declare(api, app, "docs.read")
    kid = header_of(app.token)["kid"]
    jwk = _jwk(api, app.slug, kid)
    public = jwt.PyJWK(jwk).key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = public.public_bytes(
        serialization.Encoding.X962 if algorithm == "ES256" else serialization.Encoding.Raw,
        serialization.PublicFormat.UncompressedPoint if algorithm == "ES256" else serialization.PublicFormat.Raw,
    )
    claims = claims_of(app.token)
    for secret in (pem, pem.strip(), raw, jwk["x"].encode()):
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            signing_input = f"{b64url_json({'alg': alg, 'typ': 'at+jwt', 'kid': kid})}.{b64url_json(claims)}"
            signature = hmac.new(secret, signing_input.encode(), digest).digest()
            token = f"{signing_input}.{b64url(signature)}"
            assert authorize(api, token, "heimdall:clients.read")["reason"] == "token_invalid"
            problem(api.get("/v1/app", token=token), 401, "invalid_token")


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_alg_none_is_refused(api, app_with, algorithm):
    app = app_with(algorithm)
    kid = header_of(app.token)["kid"]
    _head, payload, signature = app.token.split(".")
    for alg in ("none", "None", "NONE", "", None):
        header = {"alg": alg, "typ": "at+jwt", "kid": kid}
        for tail in ("", signature):
            token = f"{b64url_json(header)}.{payload}.{tail}"
            assert authorize(api, token, "heimdall:clients.read")["reason"] == "token_invalid"
            problem(api.get("/v1/app", token=token), 401, "invalid_token")
    assert authorize(api, app.token, "heimdall:clients.read")["allowed"] is True


def test_a_key_row_whose_key_does_not_fit_its_algorithm_verifies_nothing(api, app_with):
    """Defense in depth: were a row's algorithm edited to RS256 over an EC key, the key is not
    trusted at all (not even as ES256), and signing keeps to the key's own kind."""
    app = app_with("ES256")
    kid = header_of(app.token)["kid"]
    assert authorize(api, app.token, "heimdall:clients.read")["allowed"] is True
    with system_scope(reason="the test plays an operator editing the row by hand"):
        SigningKey.objects.filter(pk=kid).update(algorithm="RS256")
    get_state().reset()
    assert authorize(api, app.token, "heimdall:clients.read")["reason"] == "token_invalid"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = _signed(claims_of(app.token), rsa_key, "RS256", kid)
    assert authorize(api, forged, "heimdall:clients.read")["reason"] == "token_invalid"


# ---- every token path with each algorithm -----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_token_path_works_with_each_algorithm(api, app_with, algorithm):
    app = app_with(algorithm)
    declare(api, app, "docs.read", "docs.write")
    # client credentials, /v1/authorize, bearer authentication, introspection
    worker = new_client(api, app, roles=["viewer"])
    token = token_for(api, worker)
    assert header_of(token)["alg"] == algorithm
    assert authorize(api, token, "docs.read")["allowed"] is True
    assert authorize(api, token, "docs.read", app=app.slug)["allowed"] is True
    assert authorize(api, token, "docs.write")["reason"] == "permission_not_granted"
    seen = introspect(api, app, token)
    assert seen["active"] is True and seen["sub"] == worker["clientId"]
    assert api.get("/v1/app", token=app.token).status_code == 200

    # password grant, refresh, and a user token as a bearer token
    create_user(api, app, "ada@example.com", password=PASSWORD, roles=["editor"])
    session = signed_in(api, "ada@example.com", PASSWORD, app.slug)
    assert header_of(session["access_token"])["alg"] == algorithm
    assert authorize(api, session["access_token"], "docs.write")["allowed"] is True
    assert api.get("/v1/me", token=session["access_token"]).status_code == 200
    renewed = refresh(api, session["refresh_token"])
    assert renewed.status_code == 200, renewed.content
    assert header_of(renewed.json()["access_token"])["alg"] == algorithm

    # token exchange (RFC 8693): the subject token is verified, the delegated one signed
    agent = new_client(api, app, name="agent", actsForUsers=True, delegablePermissions=["docs.read"])
    response = api.post(
        "/v1/oauth/token",
        form={"grant_type": EXCHANGE, "subject_token": session["access_token"], "subject_token_type": ACCESS},
        headers={"Authorization": basic(agent["clientId"], agent["clientSecret"])},
    )
    assert response.status_code == 200, response.content
    delegated = response.json()["access_token"]
    assert header_of(delegated)["alg"] == algorithm
    answer = authorize(api, delegated, "docs.read")
    assert (answer["allowed"], answer["actor"]) == (True, agent["clientId"])
    assert introspect(api, app, delegated)["act"] == {"sub": agent["clientId"]}

    # revocation reaches a token already in the verified-token cache
    revoke(api, app, token)
    assert authorize(api, token, "docs.read")["reason"] == "token_revoked"
    assert introspect(api, app, token) == {"active": False}


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_a_tampered_token_of_each_algorithm_is_refused(api, app_with, algorithm):
    app = app_with(algorithm)
    head, payload, signature = app.token.split(".")
    claims = {**claims_of(app.token), "sub": "m2m_00000000000000000000000000"}
    _tampered = f"{head}.{b64url_json(claims)}.{signature}"
    assert authorize(api, _tampered, "heimdall:clients.read")["reason"] == "token_invalid"
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    assert authorize(api, f"{head}.{payload}.{flipped}", "heimdall:clients.read")["reason"] == "token_invalid"


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_expired_token_of_each_algorithm_is_token_expired(api, app_with, algorithm):
    app = app_with(algorithm)
    kid = header_of(app.token)["kid"]
    now = int(time.time())
    claims = {**claims_of(app.token), "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
    expired = _signed(claims, get_state().private_key(kid), algorithm, kid)
    assert authorize(api, expired, "heimdall:clients.read")["reason"] == "token_expired"


# ---- private keys at rest ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_private_keys_are_encrypted_at_rest_and_bound_to_their_kid(api, app_with, algorithm):
    app = app_with(algorithm)
    with system_scope(reason="the test reads the stored rows as an attacker with the database would"):
        rows = list(
            SigningKey.objects.filter(app_id=app.id).values_list(
                "kid", "algorithm", "private_key_encrypted", "public_pem"
            )
        )
    assert len(rows) == 2
    (kid_a, alg_a, blob_a, pem_a), (_, _, blob_b, _) = rows
    assert alg_a == algorithm
    assert blob_a.startswith("v1:") and "PRIVATE" not in blob_a
    der = crypto.decrypt_private_key(blob_a, key_id=kid_a)
    private = serialization.load_der_private_key(der, password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.decode() == pem_a
    with pytest.raises(InvalidTag):  # a ciphertext cannot move between rows
        crypto.decrypt_private_key(blob_b, key_id=kid_a)
