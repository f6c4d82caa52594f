"""POST /v1/oauth/revoke (RFC 7009) and POST /v1/oauth/introspect (RFC 7662)."""

import time

import pytest

from tests.helpers import basic, problem
from tests.tokens.support import authorize, claims_of, clock_at, declare, new_client, new_role, token_for


@pytest.fixture
def worker(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"])
    client["token"] = token_for(api, client)
    client["basic"] = basic(client["clientId"], client["clientSecret"])
    return client


def _introspect(api, subject_token, **kw):
    response = api.post("/v1/oauth/introspect", form={"token": subject_token}, **kw)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


# ---- revocation -------------------------------------------------------------------------------------


def test_client_revokes_its_own_token_with_basic(api, acme, worker):
    assert authorize(api, worker["token"], "docs.read")["allowed"]
    response = api.post(
        "/v1/oauth/revoke",
        form={"token": worker["token"], "token_type_hint": "access_token"},
        headers={"Authorization": worker["basic"]},
    )
    assert response.status_code == 200, response.content
    answer = authorize(api, worker["token"], "docs.read")
    assert (answer["allowed"], answer["reason"]) == (False, "token_revoked")
    assert _introspect(api, worker["token"], headers={"Authorization": worker["basic"]}) == {"active": False}
    assert _introspect(api, worker["token"], token=acme.token) == {"active": False}
    # the client's other tokens are untouched
    fresh = token_for(api, worker)
    assert authorize(api, fresh, "docs.read")["allowed"]


def test_revoking_twice_is_200(api, worker):
    for _ in range(2):
        response = api.post(
            "/v1/oauth/revoke", form={"token": worker["token"]}, headers={"Authorization": worker["basic"]}
        )
        assert response.status_code == 200, response.content
    assert authorize(api, worker["token"], "docs.read")["reason"] == "token_revoked"


def test_revoked_token_is_refused_by_management_api(api, acme):
    client = new_client(api, acme, roles=["admin"])
    token = token_for(api, client)
    assert api.get("/v1/clients", token=token).status_code == 200
    response = api.post(
        "/v1/oauth/revoke",
        form={"token": token},
        headers={"Authorization": basic(client["clientId"], client["clientSecret"])},
    )
    assert response.status_code == 200
    problem(api.get("/v1/clients", token=token), 401, "invalid_token")


def test_admin_bearer_token_revokes_a_token_of_its_app(api, acme, worker):
    response = api.post("/v1/oauth/revoke", {"token": worker["token"]}, token=acme.token)
    assert response.status_code == 200, response.content
    assert authorize(api, worker["token"], "docs.read")["reason"] == "token_revoked"


def test_client_without_clients_write_cannot_revoke_another_clients_token(api, acme, worker):
    """RFC 7009 2.1: the server verifies the token was issued to the client asking. A client
    holding no management permission must not be able to revoke the App admin's token."""
    response = api.post(
        "/v1/oauth/revoke", form={"token": acme.token}, headers={"Authorization": worker["basic"]}
    )
    assert response.status_code in (200, 400, 403), response.content
    answer = authorize(api, acme.token, "heimdall:clients.read")
    assert (answer["allowed"], answer["reason"]) == (True, "granted")


def test_admin_client_with_basic_may_revoke_another_token_of_its_app(api, acme, worker):
    response = api.post(
        "/v1/oauth/revoke",
        form={"token": worker["token"]},
        headers={"Authorization": basic(acme.client_id, acme.client_secret)},
    )
    assert response.status_code == 200, response.content
    assert authorize(api, worker["token"], "docs.read")["reason"] == "token_revoked"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 5000])
def test_revoke_unknown_or_garbage_token_is_200(api, worker, token):
    response = api.post("/v1/oauth/revoke", form={"token": token}, headers={"Authorization": worker["basic"]})
    assert response.status_code == 200, response.content
    assert authorize(api, worker["token"], "docs.read")["allowed"]


def test_revoke_token_of_another_app_is_200_and_does_not_revoke_it(api, acme, globex, worker):
    response = api.post(
        "/v1/oauth/revoke", form={"token": globex.token}, headers={"Authorization": worker["basic"]}
    )
    assert response.status_code == 200, response.content
    answer = authorize(api, globex.token, "heimdall:clients.read")
    assert (answer["allowed"], answer["app"]) == (True, "globex")
    assert api.get("/v1/clients", token=globex.token).status_code == 200
    # nor may acme's admin bearer token revoke it
    assert api.post("/v1/oauth/revoke", {"token": globex.token}, token=acme.token).status_code == 200
    assert authorize(api, globex.token, "heimdall:clients.read")["allowed"]


def test_revoke_without_credentials_is_401(api, worker):
    response = api.post("/v1/oauth/revoke", form={"token": worker["token"]})
    body = problem(response, 401, "invalid_client")
    assert body["error"] == "invalid_client"
    assert authorize(api, worker["token"], "docs.read")["allowed"]


def test_revoke_with_wrong_secret_is_401(api, worker):
    response = api.post(
        "/v1/oauth/revoke",
        form={"token": worker["token"]},
        headers={"Authorization": basic(worker["clientId"], "nope")},
    )
    problem(response, 401, "invalid_client")
    assert authorize(api, worker["token"], "docs.read")["allowed"]


def test_revoke_without_token_is_invalid_request(api, worker):
    problem(
        api.post("/v1/oauth/revoke", form={}, headers={"Authorization": worker["basic"]}),
        400,
        "invalid_request",
    )


def test_bearer_without_clients_write_cannot_revoke_another_token(api, acme, worker):
    viewer = token_for(api, new_client(api, acme, roles=["viewer"]))
    response = api.post("/v1/oauth/revoke", {"token": worker["token"]}, token=viewer)
    assert response.status_code in (200, 400, 403), response.content
    assert authorize(api, worker["token"], "docs.read")["allowed"]
    # but a token may always revoke itself
    assert api.post("/v1/oauth/revoke", {"token": viewer}, token=viewer).status_code == 200
    assert authorize(api, viewer, "docs.read")["reason"] == "token_revoked"


# ---- introspection -----------------------------------------------------------------------------------


def test_introspect_with_client_credentials_of_same_app(api, acme, worker):
    other = token_for(api, new_client(api, acme, name="other", roles=["viewer"]))
    body = _introspect(api, other, headers={"Authorization": worker["basic"]})
    claims = claims_of(other)
    assert body["active"] is True
    assert body["scope"] == "docs.read"
    assert body["token_type"] == "Bearer"
    for name in ("client_id", "sub", "exp", "iat", "iss", "jti"):
        assert body[name] == claims[name], name
    assert body["iss"] == "http://testserver/v1/apps/acme-corp"
    assert body["exp"] > time.time()


def test_introspect_with_client_credentials_in_json_body(api, worker):
    response = api.post(
        "/v1/oauth/introspect",
        {"token": worker["token"], "clientId": worker["clientId"], "clientSecret": worker["clientSecret"]},
    )
    assert response.status_code == 200, response.content
    assert response.json()["active"] is True
    assert response.json()["sub"] == worker["clientId"]


def test_introspect_with_admin_bearer_token(api, acme, worker):
    body = _introspect(api, worker["token"], token=acme.token)
    assert body["active"] is True
    assert body["sub"] == worker["clientId"]
    assert body["scope"] == "docs.read"


def test_introspect_scope_reflects_current_roles(api, acme, worker):
    assert api.patch(f"/v1/clients/{worker['clientId']}", {"roles": []}, token=acme.token).status_code == 200
    body = _introspect(api, worker["token"], token=acme.token)
    assert body["active"] is True
    assert body["scope"] == ""


def test_introspect_with_bearer_lacking_clients_read_is_403(api, acme, worker):
    new_role(api, acme, "auditor", ["heimdall:audit.read"])
    token = token_for(api, new_client(api, acme, roles=["auditor"]))
    body = problem(
        api.post("/v1/oauth/introspect", form={"token": worker["token"]}, token=token),
        403,
        "permission_denied",
    )
    assert "heimdall:clients.read" in body["detail"]


def test_introspect_token_of_another_app_is_inactive(api, globex, worker):
    assert _introspect(api, globex.token, headers={"Authorization": worker["basic"]}) == {"active": False}
    assert _introspect(api, worker["token"], token=globex.token) == {"active": False}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 8000])
def test_introspect_garbage_is_inactive(api, acme, token):
    assert _introspect(api, token, token=acme.token) == {"active": False}


def test_introspect_expired_token_is_inactive(api, acme, worker):
    claims = claims_of(worker["token"])
    assert _introspect(api, worker["token"], token=acme.token)["active"] is True
    with clock_at(claims["exp"] + 1):
        assert _introspect(api, worker["token"], headers={"Authorization": worker["basic"]}) == {
            "active": False
        }


def test_introspect_without_credentials_is_401(api, worker):
    problem(api.post("/v1/oauth/introspect", form={"token": worker["token"]}), 401, "invalid_client")
