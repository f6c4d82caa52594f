"""POST /v1/oauth/token with grant client_credentials: JSON and form, Basic and body, scope."""

import pytest

from tests.helpers import basic, problem
from tests.tokens.support import authorize, claims_of, declare, header_of, new_client


@pytest.fixture
def worker(api, acme):
    declare(api, acme, "docs.read", "docs.write", "billing.read")
    return new_client(api, acme, roles=["viewer"], permissions=["docs.write"])


def _oauth_problem(response, status, code):
    body = problem(response, status, code)
    assert body["error"] == code
    assert body["error_description"]
    assert response["Cache-Control"] == "no-store"
    return body


def test_json_client_credentials_token_shape(api, acme, worker):
    response = api.post(
        "/v1/oauth/token", {"clientId": worker["clientId"], "clientSecret": worker["clientSecret"]}
    )
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "billing.read docs.read docs.write"
    assert "refresh_token" not in body
    header = header_of(body["access_token"])
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt" and header["kid"]
    claims = claims_of(body["access_token"])
    issuer = "http://testserver/v1/apps/acme-corp"
    assert claims["iss"] == issuer and claims["aud"] == issuer
    assert claims["sub"] == worker["clientId"] == claims["client_id"]
    assert claims["app"] == acme.id
    assert claims["scope"] == body["scope"]
    assert claims["roles"] == ["viewer"]
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]
    assert "narrowed" not in claims


def test_json_with_explicit_grant_type(api, worker):
    response = api.post(
        "/v1/oauth/token",
        {
            "grantType": "client_credentials",
            "clientId": worker["clientId"],
            "clientSecret": worker["clientSecret"],
        },
    )
    assert response.status_code == 200, response.content


def test_scope_subset_narrows_the_token(api, worker):
    response = api.post(
        "/v1/oauth/token",
        {"clientId": worker["clientId"], "clientSecret": worker["clientSecret"], "scope": "docs.read"},
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert response.json()["scope"] == "docs.read"
    assert claims_of(token)["scope"] == "docs.read"
    assert claims_of(token)["narrowed"] is True
    assert authorize(api, token, "docs.read")["allowed"]
    # the client holds docs.write and billing.read, but this token was narrowed to docs.read
    for permission in ("docs.write", "billing.read"):
        answer = authorize(api, token, permission)
        assert (answer["allowed"], answer["reason"]) == (False, "permission_not_granted")


def test_narrowed_token_loses_a_scoped_permission_when_the_client_loses_it(api, acme, worker):
    token = api.client_token(worker["clientId"], worker["clientSecret"], scope="docs.write")
    assert authorize(api, token, "docs.write")["allowed"]
    assert (
        api.patch(f"/v1/clients/{worker['clientId']}", {"permissions": []}, token=acme.token).status_code
        == 200
    )
    assert authorize(api, token, "docs.write")["reason"] == "permission_not_granted"


def test_narrowed_token_introspects_with_its_scope(api, acme, worker):
    token = api.client_token(worker["clientId"], worker["clientSecret"], scope="docs.read docs.write")
    body = api.post("/v1/oauth/introspect", {"token": token}, token=acme.token).json()
    assert body["active"] is True
    assert body["scope"] == "docs.read docs.write"


def test_scope_beyond_holdings_is_invalid_scope(api, worker):
    response = api.post(
        "/v1/oauth/token",
        {
            "clientId": worker["clientId"],
            "clientSecret": worker["clientSecret"],
            "scope": "docs.read billing.write",
        },
    )
    body = _oauth_problem(response, 400, "invalid_scope")
    assert "billing.write" in body["error_description"]


@pytest.mark.parametrize("scope", ["heimdall:users.read", "nonsense", "docs.*"])
def test_scope_of_unheld_or_pattern_permission_is_invalid_scope(api, worker, scope):
    response = api.post(
        "/v1/oauth/token",
        {"clientId": worker["clientId"], "clientSecret": worker["clientSecret"], "scope": scope},
    )
    _oauth_problem(response, 400, "invalid_scope")


def test_form_encoded_with_http_basic(api, worker):
    response = api.post(
        "/v1/oauth/token",
        form={"grant_type": "client_credentials", "scope": "billing.read"},
        headers={"Authorization": basic(worker["clientId"], worker["clientSecret"])},
    )
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "billing.read"
    assert authorize(api, response.json()["access_token"], "billing.read")["allowed"]


def test_form_encoded_with_credentials_in_body(api, worker):
    response = api.post(
        "/v1/oauth/token",
        form={
            "grant_type": "client_credentials",
            "client_id": worker["clientId"],
            "client_secret": worker["clientSecret"],
        },
    )
    assert response.status_code == 200, response.content
    assert claims_of(response.json()["access_token"])["sub"] == worker["clientId"]


def test_json_with_http_basic(api, worker):
    response = api.post(
        "/v1/oauth/token",
        {"grantType": "client_credentials"},
        headers={"Authorization": basic(worker["clientId"], worker["clientSecret"])},
    )
    assert response.status_code == 200, response.content


def test_basic_and_body_credentials_together_is_invalid_request(api, worker):
    response = api.post(
        "/v1/oauth/token",
        form={
            "grant_type": "client_credentials",
            "client_id": worker["clientId"],
            "client_secret": worker["clientSecret"],
        },
        headers={"Authorization": basic(worker["clientId"], worker["clientSecret"])},
    )
    _oauth_problem(response, 400, "invalid_request")
    response = api.post(
        "/v1/oauth/token",
        {"clientId": worker["clientId"], "clientSecret": worker["clientSecret"]},
        headers={"Authorization": basic(worker["clientId"], worker["clientSecret"])},
    )
    _oauth_problem(response, 400, "invalid_request")


def test_wrong_secret_is_invalid_client_401(api, worker):
    response = api.post("/v1/oauth/token", {"clientId": worker["clientId"], "clientSecret": "hmd_cs_wrong"})
    _oauth_problem(response, 401, "invalid_client")
    assert "Basic" in response["WWW-Authenticate"]
    unknown = api.post("/v1/oauth/token", {"clientId": "m2m_00000000000000000000000000", "clientSecret": "x"})
    _oauth_problem(unknown, 401, "invalid_client")


def test_missing_grant_type_in_form_is_invalid_request(api, worker):
    response = api.post(
        "/v1/oauth/token", form={"client_id": worker["clientId"], "client_secret": worker["clientSecret"]}
    )
    _oauth_problem(response, 400, "invalid_request")


def test_unknown_grant_type_is_unsupported_grant_type(api, worker):
    response = api.post(
        "/v1/oauth/token",
        form={
            "grant_type": "magic",
            "client_id": worker["clientId"],
            "client_secret": worker["clientSecret"],
        },
    )
    _oauth_problem(response, 400, "unsupported_grant_type")


def test_client_credentials_without_credentials_is_invalid_client(api):
    _oauth_problem(
        api.post("/v1/oauth/token", form={"grant_type": "client_credentials"}), 401, "invalid_client"
    )


def test_non_string_json_field_is_invalid_request(api, worker):
    response = api.post("/v1/oauth/token", {"clientId": worker["clientId"], "clientSecret": 12345})
    _oauth_problem(response, 400, "invalid_request")


def test_suspended_app_client_gets_no_token(api, acme, operator, worker):
    assert api.patch("/v1/apps/acme-corp", {"status": "suspended"}, token=operator.token).status_code == 200
    response = api.post(
        "/v1/oauth/token", {"clientId": worker["clientId"], "clientSecret": worker["clientSecret"]}
    )
    _oauth_problem(response, 400, "unauthorized_client")


def test_failed_client_authentications_cannot_flood_the_audit_log(api, acme):
    for attempt in range(25):
        response = api.post(
            "/v1/oauth/token", {"clientId": acme.client_id, "clientSecret": f"hmd_cs_wrong{attempt}"}
        )
        assert response.status_code == 401
    events = api.get(
        "/v1/audit-events?action=client.authentication_failed&limit=200", token=acme.token
    ).json()
    assert len(events["data"]) == 20
