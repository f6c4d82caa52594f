"""/v1/clients: M2M clients, their secrets, and what changes to them do to existing tokens."""

import pytest

from tests.helpers import problem
from tests.tokens.support import (
    authorize,
    claims_of,
    declare,
    new_client,
    new_role,
    token_for,
    token_response,
)


def test_create_client_returns_201_with_secret_once(api, acme):
    declare(api, acme, "docs.read")
    response = api.post(
        "/v1/clients",
        {"name": "billing-worker", "roles": ["viewer"], "permissions": ["docs.read"]},
        token=acme.token,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["clientId"].startswith("m2m_")
    assert body["clientSecret"].startswith("hmd_cs_") and len(body["clientSecret"]) > 40
    assert body["name"] == "billing-worker"
    assert body["roles"] == ["viewer"]
    assert body["permissions"] == ["docs.read"]
    assert body["createdAt"].endswith("Z")

    detail = api.get(f"/v1/clients/{body['clientId']}", token=acme.token)
    assert detail.status_code == 200
    assert "clientSecret" not in detail.json()
    assert body["clientSecret"] not in detail.content.decode()
    assert {k: detail.json()[k] for k in ("clientId", "name", "roles", "permissions", "createdAt")} == {
        k: body[k] for k in ("clientId", "name", "roles", "permissions", "createdAt")
    }
    listing = api.get("/v1/clients", token=acme.token)
    assert listing.status_code == 200
    assert body["clientSecret"] not in listing.content.decode()
    assert all("clientSecret" not in c for c in listing.json()["data"])


def test_list_clients_shows_this_apps_clients(api, acme, globex):
    one = new_client(api, acme, name="one")
    two = new_client(api, acme, name="two")
    new_client(api, globex, name="outsider")
    data = api.get("/v1/clients", token=acme.token).json()["data"]
    assert sorted(c["clientId"] for c in data) == sorted([one["clientId"], two["clientId"], acme.client_id])


def test_create_client_with_unknown_role_is_422(api, acme):
    body = problem(
        api.post("/v1/clients", {"name": "x", "roles": ["viewer", "ghost"]}, token=acme.token),
        422,
        "unknown_role",
    )
    assert "ghost" in body["detail"]
    assert [c["name"] for c in api.get("/v1/clients", token=acme.token).json()["data"]] == ["admin"]


def test_create_client_with_unknown_permission_is_422(api, acme):
    body = problem(
        api.post("/v1/clients", {"name": "x", "permissions": ["docs.read"]}, token=acme.token),
        422,
        "unknown_permission",
    )
    assert "docs.read" in body["detail"]
    assert [c["name"] for c in api.get("/v1/clients", token=acme.token).json()["data"]] == ["admin"]


def test_create_client_validation(api, acme):
    problem(api.post("/v1/clients", {}, token=acme.token), 400, "validation_error")
    problem(
        api.post("/v1/clients", {"name": "x", "accessTokenTtlSeconds": 5}, token=acme.token),
        400,
        "validation_error",
    )
    problem(
        api.post("/v1/clients", {"name": "x", "secret": "mine"}, token=acme.token), 400, "validation_error"
    )


def test_get_unknown_client_is_404(api, acme):
    problem(api.get("/v1/clients/m2m_00000000000000000000000000", token=acme.token), 404, "not_found")


def test_patch_client_roles_changes_existing_token_at_once(api, acme):
    declare(api, acme, "docs.read", "docs.write")
    client = new_client(api, acme, roles=["viewer"])
    token = token_for(api, client)
    assert authorize(api, token, "docs.read")["allowed"]
    assert authorize(api, token, "docs.write")["reason"] == "permission_not_granted"

    response = api.patch(f"/v1/clients/{client['clientId']}", {"roles": ["editor"]}, token=acme.token)
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == ["editor"]
    answer = authorize(api, token, "docs.write")
    assert (answer["allowed"], answer["role"]) == (True, "editor")

    assert api.patch(f"/v1/clients/{client['clientId']}", {"roles": []}, token=acme.token).status_code == 200
    assert authorize(api, token, "docs.read")["reason"] == "permission_not_granted"


def test_patch_client_roles_grants_management_api_at_once(api, acme):
    client = new_client(api, acme)
    token = token_for(api, client)
    problem(api.get("/v1/clients", token=token), 403, "permission_denied")
    assert (
        api.patch(f"/v1/clients/{client['clientId']}", {"roles": ["admin"]}, token=acme.token).status_code
        == 200
    )
    assert api.get("/v1/clients", token=token).status_code == 200


def test_patch_client_with_unknown_role_is_422_and_changes_nothing(api, acme):
    client = new_client(api, acme, roles=["viewer"])
    problem(
        api.patch(f"/v1/clients/{client['clientId']}", {"roles": ["ghost"]}, token=acme.token),
        422,
        "unknown_role",
    )
    assert api.get(f"/v1/clients/{client['clientId']}", token=acme.token).json()["roles"] == ["viewer"]


def test_patch_client_direct_permissions(api, acme):
    declare(api, acme, "docs.read", "docs.write")
    client = new_client(api, acme, permissions=["docs.read"])
    token = token_for(api, client)
    assert not authorize(api, token, "docs.write")["allowed"]
    response = api.patch(
        f"/v1/clients/{client['clientId']}", {"permissions": ["docs.write"]}, token=acme.token
    )
    assert response.status_code == 200, response.content
    assert response.json()["permissions"] == ["docs.write"]
    assert authorize(api, token, "docs.write") == {
        "allowed": True,
        "role": None,
        "subject": client["clientId"],
        "app": "acme-corp",
        "reason": "granted",
    }
    assert not authorize(api, token, "docs.read")["allowed"]


@pytest.mark.parametrize("ttl", [60, 120, 86_400])
def test_client_access_token_ttl_sets_expires_in_and_exp(api, acme, ttl):
    client = new_client(api, acme, accessTokenTtlSeconds=ttl)
    assert client["accessTokenTtlSeconds"] == ttl
    response = token_response(api, client["clientId"], client["clientSecret"])
    assert response.status_code == 200, response.content
    assert response.json()["expires_in"] == ttl
    claims = claims_of(response.json()["access_token"])
    assert claims["exp"] - claims["iat"] == ttl


def test_client_without_ttl_uses_app_m2m_default(api, acme):
    client = new_client(api, acme)
    response = token_response(api, client["clientId"], client["clientSecret"])
    assert response.json()["expires_in"] == 3600
    claims = claims_of(response.json()["access_token"])
    assert claims["exp"] - claims["iat"] == 3600


def test_patch_client_ttl_applies_to_next_token(api, acme):
    client = new_client(api, acme)
    response = api.patch(
        f"/v1/clients/{client['clientId']}", {"accessTokenTtlSeconds": 300}, token=acme.token
    )
    assert response.status_code == 200 and response.json()["accessTokenTtlSeconds"] == 300
    assert token_response(api, client["clientId"], client["clientSecret"]).json()["expires_in"] == 300


# ---- secret rotation ------------------------------------------------------------------------------


def test_rotate_secret_without_grace_old_secret_fails_at_once(api, acme):
    client = new_client(api, acme)
    response = api.post(
        f"/v1/clients/{client['clientId']}/secrets", {"gracePeriodSeconds": 0}, token=acme.token
    )
    assert response.status_code == 200, response.content
    rotated = response.json()
    assert rotated["clientId"] == client["clientId"]
    assert rotated["clientSecret"].startswith("hmd_cs_")
    assert rotated["clientSecret"] != client["clientSecret"]
    assert rotated["previousSecretExpiresAt"] is None

    assert token_response(api, client["clientId"], rotated["clientSecret"]).status_code == 200
    old = token_response(api, client["clientId"], client["clientSecret"])
    body = problem(old, 401, "invalid_client")
    assert body["error"] == "invalid_client"


def test_rotate_secret_default_grace_is_zero(api, acme):
    client = new_client(api, acme)
    rotated = api.post(f"/v1/clients/{client['clientId']}/secrets", {}, token=acme.token).json()
    assert rotated["previousSecretExpiresAt"] is None
    problem(token_response(api, client["clientId"], client["clientSecret"]), 401, "invalid_client")
    assert token_response(api, client["clientId"], rotated["clientSecret"]).status_code == 200


def test_rotate_secret_with_grace_keeps_old_secret_working(api, acme):
    from datetime import UTC, datetime, timedelta

    client = new_client(api, acme)
    before = datetime.now(UTC)
    response = api.post(
        f"/v1/clients/{client['clientId']}/secrets", {"gracePeriodSeconds": 3600}, token=acme.token
    )
    assert response.status_code == 200, response.content
    rotated = response.json()
    expires = datetime.fromisoformat(rotated["previousSecretExpiresAt"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=3590) < expires < before + timedelta(seconds=3700)

    assert token_response(api, client["clientId"], client["clientSecret"]).status_code == 200
    assert token_response(api, client["clientId"], rotated["clientSecret"]).status_code == 200

    # a second rotation without grace ends the old secret's grace too
    again = api.post(
        f"/v1/clients/{client['clientId']}/secrets", {"gracePeriodSeconds": 0}, token=acme.token
    ).json()
    problem(token_response(api, client["clientId"], client["clientSecret"]), 401, "invalid_client")
    problem(token_response(api, client["clientId"], rotated["clientSecret"]), 401, "invalid_client")
    assert token_response(api, client["clientId"], again["clientSecret"]).status_code == 200


def test_rotate_secret_grace_expires(api, acme):
    import types
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    client = new_client(api, acme)
    rotated = api.post(
        f"/v1/clients/{client['clientId']}/secrets", {"gracePeriodSeconds": 60}, token=acme.token
    ).json()
    assert token_response(api, client["clientId"], client["clientSecret"]).status_code == 200
    later = (timezone.now() + timedelta(seconds=61)).timestamp()
    with mock.patch("tokens.clients.time", types.SimpleNamespace(time=lambda: later)):
        problem(token_response(api, client["clientId"], client["clientSecret"]), 401, "invalid_client")
        assert token_response(api, client["clientId"], rotated["clientSecret"]).status_code == 200


def test_rotate_secret_does_not_revoke_existing_tokens(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["viewer"])
    token = token_for(api, client)
    assert api.post(f"/v1/clients/{client['clientId']}/secrets", {}, token=acme.token).status_code == 200
    assert authorize(api, token, "docs.read")["allowed"]


def test_rotate_secret_validation(api, acme):
    client = new_client(api, acme)
    problem(
        api.post(f"/v1/clients/{client['clientId']}/secrets", {"gracePeriodSeconds": -1}, token=acme.token),
        400,
        "validation_error",
    )
    problem(
        api.post(f"/v1/clients/{client['clientId']}/secrets", {"grace": 5}, token=acme.token),
        400,
        "validation_error",
    )
    assert token_response(api, client["clientId"], client["clientSecret"]).status_code == 200


# ---- deletion ---------------------------------------------------------------------------------------


def test_delete_client_revokes_its_tokens_and_secret(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, roles=["admin"])
    token = token_for(api, client)
    assert authorize(api, token, "docs.read")["allowed"]
    assert api.get("/v1/clients", token=token).status_code == 200

    response = api.delete(f"/v1/clients/{client['clientId']}", token=acme.token)
    assert response.status_code == 204, response.content

    answer = authorize(api, token, "docs.read")
    assert (answer["allowed"], answer["reason"], answer["role"]) == (False, "token_revoked", None)
    problem(api.get("/v1/clients", token=token), 401, "invalid_token")
    body = problem(token_response(api, client["clientId"], client["clientSecret"]), 401, "invalid_client")
    assert body["error"] == "invalid_client"
    problem(api.get(f"/v1/clients/{client['clientId']}", token=acme.token), 404, "not_found")
    problem(api.delete(f"/v1/clients/{client['clientId']}", token=acme.token), 404, "not_found")


def test_deleted_client_token_is_inactive_in_introspection(api, acme):
    client = new_client(api, acme)
    token = token_for(api, client)
    assert api.delete(f"/v1/clients/{client['clientId']}", token=acme.token).status_code == 204
    response = api.post("/v1/oauth/introspect", {"token": token}, token=acme.token)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_client_without_roles_management_is_403_naming_permission(api, acme):
    new_role(api, acme, "noop", [])
    token = token_for(api, new_client(api, acme, roles=["noop"]))
    body = problem(api.post("/v1/clients", {"name": "x"}, token=token), 403, "permission_denied")
    assert "heimdall:clients.write" in body["detail"]
