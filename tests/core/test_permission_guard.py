"""The bearer-token guard: 401 invalid_token without a valid token, 403 naming the permission."""

from __future__ import annotations

import pytest

from tests.helpers import problem


def test_app_admin_listing_apps_is_denied_naming_apps_read(api, acme):
    body = problem(api.get("/v1/apps", token=acme.token), 403, "permission_denied")

    assert "heimdall:apps.read" in body["detail"]


def test_app_admin_creating_an_app_is_denied_naming_apps_write(api, operator, acme):
    response = api.post("/v1/apps", {"slug": "sneaky", "displayName": "Sneaky"}, token=acme.token)

    body = problem(response, 403, "permission_denied")
    assert "heimdall:apps.write" in body["detail"]
    problem(api.get("/v1/apps/sneaky", token=operator.token), 404, "not_found")


def test_app_admin_deleting_another_app_is_denied(api, operator, acme, globex):
    problem(api.delete(f"/v1/apps/{globex.slug}", token=acme.token), 403, "permission_denied")

    assert api.get("/v1/app", token=globex.token).status_code == 200


def test_app_admin_suspending_own_app_through_apps_api_is_denied(api, acme):
    problem(
        api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=acme.token),
        403,
        "permission_denied",
    )

    assert api.get("/v1/app", token=acme.token).json()["status"] == "active"


def test_operator_may_list_apps(api, operator):
    assert api.get("/v1/apps", token=operator.token).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/v1/apps"), ("get", "/v1/app"), ("get", "/v1/audit-events"), ("post", "/v1/apps")],
)
def test_missing_token_is_invalid_token_with_www_authenticate(api, method, path):
    response = getattr(api, method)(path)

    problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "x" * 10_000,
    ],
)
def test_garbage_token_is_invalid_token_with_www_authenticate(api, acme, token):
    response = api.get("/v1/app", token=token)

    problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_tampered_token_is_invalid_token(api, acme):
    header, payload, signature = acme.token.split(".")
    tampered = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])

    problem(api.get("/v1/app", token=tampered), 401, "invalid_token")


def test_non_bearer_authorization_is_invalid_token(api, acme):
    response = api.get("/v1/app", headers={"Authorization": "Basic Zm9vOmJhcg=="})

    problem(response, 401, "invalid_token")
