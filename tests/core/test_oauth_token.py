"""POST /v1/oauth/token for client_credentials: JSON, form + HTTP Basic, errors, the JWT."""

from __future__ import annotations

import jwt
import pytest

from tests.helpers import basic, problem


def _oauth_problem(response, status: int, code: str) -> dict:
    body = problem(response, status, code)
    assert body["error"] == code
    assert body["error_description"]
    return body


def test_json_without_grant_type_is_client_credentials(api, acme):
    response = api.post("/v1/oauth/token", {"clientId": acme.client_id, "clientSecret": acme.client_secret})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2
    assert "heimdall:app.read" in body["scope"].split()
    assert response["Cache-Control"] == "no-store"


def test_json_with_grant_type_client_credentials(api, acme):
    response = api.post(
        "/v1/oauth/token",
        {"grantType": "client_credentials", "clientId": acme.client_id, "clientSecret": acme.client_secret},
    )

    assert response.status_code == 200, response.content


def test_form_with_http_basic(api, acme):
    response = api.post(
        "/v1/oauth/token",
        form={"grant_type": "client_credentials"},
        headers={"Authorization": basic(acme.client_id, acme.client_secret)},
    )

    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert api.get("/v1/app", token=token).json()["id"] == acme.id


def test_form_with_credentials_in_body(api, acme):
    response = api.post(
        "/v1/oauth/token",
        form={
            "grant_type": "client_credentials",
            "client_id": acme.client_id,
            "client_secret": acme.client_secret,
        },
    )

    assert response.status_code == 200, response.content


def test_wrong_secret_is_invalid_client(api, acme):
    response = api.post("/v1/oauth/token", {"clientId": acme.client_id, "clientSecret": "hmd_cs_wrong"})

    _oauth_problem(response, 401, "invalid_client")


def test_wrong_secret_over_http_basic_is_invalid_client(api, acme):
    response = api.post(
        "/v1/oauth/token",
        form={"grant_type": "client_credentials"},
        headers={"Authorization": basic(acme.client_id, "hmd_cs_wrong")},
    )

    _oauth_problem(response, 401, "invalid_client")


def test_unknown_client_is_invalid_client(api, acme):
    response = api.post(
        "/v1/oauth/token", {"clientId": "m2m_00000000000000000000000000", "clientSecret": acme.client_secret}
    )

    _oauth_problem(response, 401, "invalid_client")


def test_another_apps_secret_is_invalid_client(api, acme, globex):
    response = api.post("/v1/oauth/token", {"clientId": acme.client_id, "clientSecret": globex.client_secret})

    _oauth_problem(response, 401, "invalid_client")


@pytest.mark.parametrize("grant", ["implicit", "magic", "PASSWORD"])
def test_unsupported_grant_type(api, acme, grant):
    response = api.post(
        "/v1/oauth/token",
        form={"grant_type": grant},
        headers={"Authorization": basic(acme.client_id, acme.client_secret)},
    )

    _oauth_problem(response, 400, "unsupported_grant_type")


def test_missing_grant_type_in_form_is_invalid_request(api, acme):
    response = api.post(
        "/v1/oauth/token", form={}, headers={"Authorization": basic(acme.client_id, acme.client_secret)}
    )

    _oauth_problem(response, 400, "invalid_request")


def test_jwt_header_is_rs256_at_jwt_with_published_kid(api, acme):
    header = jwt.get_unverified_header(acme.token)

    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    jwks = api.get(f"/v1/apps/{acme.slug}/jwks.json").json()
    assert header["kid"] in [key["kid"] for key in jwks["keys"]]


def test_jwt_verifies_with_the_published_key_and_carries_the_claims(api, acme):
    kid = jwt.get_unverified_header(acme.token)["kid"]
    jwk = next(k for k in api.get(f"/v1/apps/{acme.slug}/jwks.json").json()["keys"] if k["kid"] == kid)
    issuer = f"http://testserver/v1/apps/{acme.slug}"

    claims = jwt.decode(acme.token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=issuer, issuer=issuer)

    assert claims["sub"] == acme.client_id
    assert claims["client_id"] == acme.client_id
    assert claims["app"] == acme.id
    assert claims["roles"] == ["admin"]
    for name in ("exp", "iat", "nbf", "jti", "scope"):
        assert name in claims


def test_jwt_kid_is_not_in_another_apps_jwks(api, acme, globex):
    kid = jwt.get_unverified_header(acme.token)["kid"]

    globex_kids = [key["kid"] for key in api.get(f"/v1/apps/{globex.slug}/jwks.json").json()["keys"]]

    assert kid not in globex_kids
