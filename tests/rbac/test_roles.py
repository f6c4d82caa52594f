"""POST/GET/PATCH/DELETE /v1/roles: named sets of permission names and patterns."""

import pytest

from tests.helpers import problem
from tests.tokens.support import declare, new_client, new_role


def _role_names(api, app):
    response = api.get("/v1/roles?limit=200", token=app.token)
    assert response.status_code == 200, response.content
    return sorted(r["name"] for r in response.json()["data"])


def test_new_app_has_admin_editor_viewer_roles_as_declared(api, acme):
    response = api.get("/v1/roles", token=acme.token)
    assert response.status_code == 200
    roles = {r["name"]: r for r in response.json()["data"]}
    assert set(roles) == {"admin", "editor", "viewer"}
    assert roles["admin"]["permissions"] == ["*", "heimdall:*"]
    assert roles["editor"]["permissions"] == ["*"]
    assert roles["viewer"]["permissions"] == ["*.read"]
    for role in roles.values():
        assert role["id"].startswith("rol_")
    assert api.get("/v1/roles/viewer", token=acme.token).json() == roles["viewer"]


def test_create_role_returns_patterns_unexpanded(api, acme):
    declare(api, acme, "docs.read", "docs.write", "billing.read")
    body = {
        "name": "docs-editor",
        "description": "Edits documents",
        "permissions": ["docs.*", "*.read", "billing.read", "heimdall:users.read"],
    }
    response = api.post("/v1/roles", body, token=acme.token)
    assert response.status_code == 201, response.content
    role = response.json()
    assert role["name"] == "docs-editor"
    assert role["description"] == "Edits documents"
    assert role["permissions"] == ["docs.*", "*.read", "billing.read", "heimdall:users.read"]
    assert role["id"].startswith("rol_")
    assert api.get("/v1/roles/docs-editor", token=acme.token).json()["permissions"] == role["permissions"]


def test_create_role_naming_undeclared_permission_is_422_and_creates_nothing(api, acme):
    declare(api, acme, "docs.read")
    response = api.post(
        "/v1/roles", {"name": "r1", "permissions": ["docs.read", "docs.delete"]}, token=acme.token
    )
    body = problem(response, 422, "unknown_permission")
    assert "docs.delete" in body["detail"]
    assert [e["message"] for e in body["errors"]] == ["docs.delete"]
    assert "r1" not in _role_names(api, acme)
    problem(api.get("/v1/roles/r1", token=acme.token), 404, "not_found")


def test_create_role_naming_unknown_management_permission_is_422(api, acme):
    response = api.post("/v1/roles", {"name": "r1", "permissions": ["heimdall:apps.write"]}, token=acme.token)
    problem(response, 422, "unknown_permission")
    assert "r1" not in _role_names(api, acme)


def test_patterns_need_no_declared_permission(api, acme):
    response = api.post(
        "/v1/roles", {"name": "future", "permissions": ["*", "reports.*", "*.export"]}, token=acme.token
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("pattern", ["*.*.*", "docs.**", "**", "Docs.read", "docs", "heimdall:", "*:*", ""])
def test_create_role_with_invalid_pattern_is_400(api, acme, pattern):
    response = api.post("/v1/roles", {"name": "bad", "permissions": [pattern]}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert any(e["field"].startswith("permissions") for e in body["errors"]), body
    assert "bad" not in _role_names(api, acme)


@pytest.mark.parametrize("name", ["Admin2", "-lead", "a" * 65, "has space", ""])
def test_create_role_with_invalid_name_is_400(api, acme, name):
    body = problem(
        api.post("/v1/roles", {"name": name, "permissions": []}, token=acme.token), 400, "validation_error"
    )
    assert {e["field"] for e in body["errors"]} == {"name"}


def test_create_role_twice_is_409_role_exists(api, acme):
    new_role(api, acme, "ops", ["*"])
    problem(api.post("/v1/roles", {"name": "ops", "permissions": []}, token=acme.token), 409, "role_exists")
    problem(api.post("/v1/roles", {"name": "admin", "permissions": []}, token=acme.token), 409, "role_exists")
    assert api.get("/v1/roles/ops", token=acme.token).json()["permissions"] == ["*"]


def test_patch_role_permissions_replaces_them(api, acme):
    declare(api, acme, "docs.read", "docs.write")
    created = new_role(api, acme, "ops", ["docs.read"])
    response = api.patch("/v1/roles/ops", {"permissions": ["docs.write", "heimdall:*"]}, token=acme.token)
    assert response.status_code == 200, response.content
    assert response.json()["permissions"] == ["docs.write", "heimdall:*"]
    assert response.json()["id"] == created["id"]
    assert api.get("/v1/roles/ops", token=acme.token).json()["permissions"] == ["docs.write", "heimdall:*"]


def test_patch_role_with_undeclared_permission_is_422_and_changes_nothing(api, acme):
    declare(api, acme, "docs.read")
    new_role(api, acme, "ops", ["docs.read"])
    problem(
        api.patch("/v1/roles/ops", {"permissions": ["docs.nope"]}, token=acme.token),
        422,
        "unknown_permission",
    )
    assert api.get("/v1/roles/ops", token=acme.token).json()["permissions"] == ["docs.read"]


def test_patch_role_name_is_not_allowed(api, acme):
    new_role(api, acme, "ops", [])
    problem(api.patch("/v1/roles/ops", {"name": "ops2"}, token=acme.token), 400, "validation_error")
    assert "ops" in _role_names(api, acme)


def test_patch_missing_role_is_404(api, acme):
    problem(api.patch("/v1/roles/nope", {"permissions": []}, token=acme.token), 404, "not_found")


def test_delete_role_held_by_a_client_is_409_role_in_use(api, acme):
    new_role(api, acme, "ops", ["*"])
    client = new_client(api, acme, roles=["ops"])
    body = problem(api.delete("/v1/roles/ops", token=acme.token), 409, "role_in_use")
    assert client["clientId"] in body["detail"]
    assert "ops" in _role_names(api, acme)
    # the App's admin client holds `admin`
    problem(api.delete("/v1/roles/admin", token=acme.token), 409, "role_in_use")


def test_delete_unused_role_is_204_then_404(api, acme):
    new_role(api, acme, "ops", ["*"])
    response = api.delete("/v1/roles/ops", token=acme.token)
    assert response.status_code == 204, response.content
    assert "ops" not in _role_names(api, acme)
    problem(api.get("/v1/roles/ops", token=acme.token), 404, "not_found")
    problem(api.delete("/v1/roles/ops", token=acme.token), 404, "not_found")


def test_delete_role_after_its_client_moved_off_it(api, acme):
    new_role(api, acme, "ops", ["*"])
    client = new_client(api, acme, roles=["ops"])
    problem(api.delete("/v1/roles/ops", token=acme.token), 409, "role_in_use")
    assert api.patch(f"/v1/clients/{client['clientId']}", {"roles": []}, token=acme.token).status_code == 200
    assert api.delete("/v1/roles/ops", token=acme.token).status_code == 204
