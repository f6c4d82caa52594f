"""POST/GET/DELETE /v1/permissions: declaring an App's own permissions."""

import pytest

from tests.helpers import problem


def _names(api, app):
    response = api.get("/v1/permissions?limit=200", token=app.token)
    assert response.status_code == 200, response.content
    return [p["name"] for p in response.json()["data"]]


def test_create_permission_returns_201_with_its_fields(api, acme):
    response = api.post(
        "/v1/permissions", {"name": "docs.read", "description": "Read documents"}, token=acme.token
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "docs.read"
    assert body["description"] == "Read documents"
    assert body["id"].startswith("prm_")
    assert body["createdAt"].endswith("Z")


def test_create_permission_without_description_is_allowed(api, acme):
    response = api.post("/v1/permissions", {"name": "invoice_items.bulk-export"}, token=acme.token)
    assert response.status_code == 201, response.content
    assert response.json()["description"] == ""


@pytest.mark.parametrize(
    "name",
    [
        "Docs.read",  # uppercase
        "docs.READ",
        "docs",  # no dot
        "a.b.c",  # two dots
        "a" * 100 + "." + "b" * 99,  # 200 characters
        "a" * 65 + ".read",  # a side longer than 64
        "docs.",
        ".read",
        "docs read",
        "docs.*",  # a pattern is not a permission
        "",
    ],
)
def test_create_permission_with_bad_name_is_validation_error_on_name(api, acme, name):
    body = problem(api.post("/v1/permissions", {"name": name}, token=acme.token), 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["name"], body
    assert name not in _names(api, acme)


@pytest.mark.parametrize("name", ["heimdall:users.read", "heimdall:docs.read"])
def test_create_permission_in_reserved_namespace_is_422(api, acme, name):
    problem(api.post("/v1/permissions", {"name": name}, token=acme.token), 422, "reserved_permission")
    assert name not in _names(api, acme)


def test_create_permission_twice_is_409_permission_exists(api, acme):
    assert api.post("/v1/permissions", {"name": "docs.read"}, token=acme.token).status_code == 201
    problem(api.post("/v1/permissions", {"name": "docs.read"}, token=acme.token), 409, "permission_exists")
    assert _names(api, acme).count("docs.read") == 1


def test_create_permission_with_unknown_field_is_validation_error(api, acme):
    response = api.post("/v1/permissions", {"name": "docs.read", "scope": "x"}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert "scope" in [e["field"] for e in body["errors"]]


def test_list_permissions_returns_declared_ones_only(api, acme, globex):
    for name in ("docs.read", "docs.write", "billing.read"):
        assert api.post("/v1/permissions", {"name": name}, token=acme.token).status_code == 201
    assert api.post("/v1/permissions", {"name": "globex.only"}, token=globex.token).status_code == 201
    response = api.get("/v1/permissions", token=acme.token)
    assert response.status_code == 200
    body = response.json()
    assert sorted(p["name"] for p in body["data"]) == ["billing.read", "docs.read", "docs.write"]
    assert body["nextCursor"] is None


def test_list_permissions_pages_with_cursor(api, acme):
    for name in ("a.read", "b.read", "c.read"):
        assert api.post("/v1/permissions", {"name": name}, token=acme.token).status_code == 201
    first = api.get("/v1/permissions?limit=2", token=acme.token).json()
    assert len(first["data"]) == 2 and first["nextCursor"]
    second = api.get(f"/v1/permissions?limit=2&cursor={first['nextCursor']}", token=acme.token).json()
    assert second["nextCursor"] is None
    seen = [p["name"] for p in first["data"] + second["data"]]
    assert sorted(seen) == ["a.read", "b.read", "c.read"]


def test_delete_permission_is_204_then_404(api, acme):
    assert api.post("/v1/permissions", {"name": "docs.read"}, token=acme.token).status_code == 201
    response = api.delete("/v1/permissions/docs.read", token=acme.token)
    assert response.status_code == 204, response.content
    assert "docs.read" not in _names(api, acme)
    problem(api.get("/v1/permissions/docs.read", token=acme.token), 404, "not_found")
    problem(api.delete("/v1/permissions/docs.read", token=acme.token), 404, "not_found")


def test_deleted_permission_can_be_declared_again(api, acme):
    assert api.post("/v1/permissions", {"name": "docs.read"}, token=acme.token).status_code == 201
    assert api.delete("/v1/permissions/docs.read", token=acme.token).status_code == 204
    assert api.post("/v1/permissions", {"name": "docs.read"}, token=acme.token).status_code == 201


@pytest.mark.parametrize("name", ["heimdall:users.read", "heimdall:x"])
def test_delete_reserved_permission_is_422(api, acme, name):
    problem(api.delete(f"/v1/permissions/{name}", token=acme.token), 422, "reserved_permission")


def test_get_one_permission(api, acme):
    created = api.post("/v1/permissions", {"name": "docs.read"}, token=acme.token).json()
    response = api.get("/v1/permissions/docs.read", token=acme.token)
    assert response.status_code == 200
    assert response.json() == created


def test_permissions_api_needs_a_token(api, acme):
    problem(api.get("/v1/permissions"), 401, "invalid_token")
    problem(api.post("/v1/permissions", {"name": "docs.read"}), 401, "invalid_token")
