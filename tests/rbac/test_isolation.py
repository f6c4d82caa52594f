"""Another App's objects are indistinguishable from missing ones, and nothing about them changes.
A caller without the management permission gets 403 naming it."""

import pytest

from tests.helpers import problem
from tests.tokens.support import authorize, declare, new_client, new_role, token_for, token_response


@pytest.fixture
def acme_objects(api, acme, globex):
    declare(api, acme, "acme_docs.read")
    role = new_role(api, acme, "acme-ops", ["acme_docs.read"])
    client = new_client(api, acme, name="acme-worker", roles=["acme-ops"])
    client["token"] = token_for(api, client)
    return {"role": role, "client": client}


def _snapshot(api, acme, objects):
    client_id = objects["client"]["clientId"]
    return {
        "permission": api.get("/v1/permissions/acme_docs.read", token=acme.token).json(),
        "role": api.get("/v1/roles/acme-ops", token=acme.token).json(),
        "client": api.get(f"/v1/clients/{client_id}", token=acme.token).json(),
    }


def _requests(client_id):
    return [
        ("GET", "/v1/permissions/acme_docs.read", None),
        ("DELETE", "/v1/permissions/acme_docs.read", None),
        ("GET", "/v1/roles/acme-ops", None),
        ("PATCH", "/v1/roles/acme-ops", {"permissions": ["*"], "description": "pwned"}),
        ("DELETE", "/v1/roles/acme-ops", None),
        ("GET", f"/v1/clients/{client_id}", None),
        ("PATCH", f"/v1/clients/{client_id}", {"name": "pwned", "roles": ["admin"]}),
        ("DELETE", f"/v1/clients/{client_id}", None),
        ("POST", f"/v1/clients/{client_id}/secrets", {"gracePeriodSeconds": 0}),
    ]


def test_other_apps_objects_are_404_and_unchanged(api, acme, globex, acme_objects):
    client = acme_objects["client"]
    before = _snapshot(api, acme, acme_objects)
    for method, path, body in _requests(client["clientId"]):
        response = api.request(method, path, body, token=globex.token)
        problem(response, 404, "not_found")
        assert "acme" not in response.json()["detail"], (method, path, response.json())

    assert _snapshot(api, acme, acme_objects) == before
    # the secret was not rotated and the client's token still works as before
    assert token_response(api, client["clientId"], client["clientSecret"]).status_code == 200
    assert authorize(api, client["token"], "acme_docs.read")["allowed"] is True
    # and nothing leaked into globex's lists
    for path in ("/v1/permissions", "/v1/roles", "/v1/clients"):
        assert "acme" not in api.get(path, token=globex.token).content.decode()


def test_not_found_for_other_app_matches_truly_missing(api, acme, globex, acme_objects):
    foreign = api.get(f"/v1/clients/{acme_objects['client']['clientId']}", token=globex.token).json()
    missing = api.get("/v1/clients/m2m_00000000000000000000000000", token=globex.token).json()
    for body in (foreign, missing):
        body.pop("requestId")
    assert foreign == missing
    foreign = api.get("/v1/roles/acme-ops", token=globex.token).json()
    missing = api.get("/v1/roles/no-such-role", token=globex.token).json()
    for body in (foreign, missing):
        body.pop("requestId")
    assert foreign == missing


def test_same_names_in_two_apps_are_independent(api, acme, globex):
    declare(api, acme, "docs.read")
    declare(api, globex, "docs.read")
    new_role(api, acme, "ops", ["docs.read"])
    new_role(api, globex, "ops", ["*"])
    assert api.delete("/v1/permissions/docs.read", token=globex.token).status_code == 204
    assert api.get("/v1/permissions/docs.read", token=acme.token).status_code == 200
    assert api.get("/v1/roles/ops", token=acme.token).json()["permissions"] == ["docs.read"]
    assert api.get("/v1/roles/ops", token=globex.token).json()["permissions"] == ["*"]


def test_other_apps_role_and_permission_cannot_be_granted(api, acme, globex, acme_objects):
    problem(
        api.post("/v1/clients", {"name": "x", "roles": ["acme-ops"]}, token=globex.token), 422, "unknown_role"
    )
    problem(
        api.post("/v1/clients", {"name": "x", "permissions": ["acme_docs.read"]}, token=globex.token),
        422,
        "unknown_permission",
    )
    problem(
        api.post("/v1/roles", {"name": "x", "permissions": ["acme_docs.read"]}, token=globex.token),
        422,
        "unknown_permission",
    )


def test_other_apps_token_is_not_authorized_in_this_app(api, acme, globex):
    answer = authorize(api, globex.token, "heimdall:clients.read", app="acme-corp")
    assert (answer["allowed"], answer["reason"]) == (False, "app_mismatch")


def test_viewer_client_gets_403_naming_the_permission(api, acme):
    declare(api, acme, "docs.read")
    viewer = token_for(api, new_client(api, acme, roles=["viewer"]))
    assert authorize(api, viewer, "docs.read")["allowed"] is True
    body = problem(
        api.post("/v1/roles", {"name": "x", "permissions": []}, token=viewer), 403, "permission_denied"
    )
    assert "heimdall:roles.write" in body["detail"]
    for method, path, needed in [
        ("GET", "/v1/roles", "heimdall:roles.read"),
        ("GET", "/v1/permissions", "heimdall:roles.read"),
        ("POST", "/v1/permissions", "heimdall:roles.write"),
        ("PATCH", "/v1/roles/viewer", "heimdall:roles.write"),
        ("DELETE", "/v1/roles/viewer", "heimdall:roles.write"),
        ("DELETE", "/v1/permissions/docs.read", "heimdall:roles.write"),
        ("GET", "/v1/clients", "heimdall:clients.read"),
        ("POST", "/v1/clients", "heimdall:clients.write"),
        ("PATCH", f"/v1/clients/{acme.client_id}", "heimdall:clients.write"),
        ("DELETE", f"/v1/clients/{acme.client_id}", "heimdall:clients.write"),
        ("POST", f"/v1/clients/{acme.client_id}/secrets", "heimdall:clients.write"),
    ]:
        body = problem(
            api.request(method, path, None if method == "GET" else {}, token=viewer), 403, "permission_denied"
        )
        assert needed in body["detail"], (method, path, body["detail"])
    assert "x" not in [r["name"] for r in api.get("/v1/roles", token=acme.token).json()["data"]]


def test_read_only_management_role_can_read_but_not_write(api, acme):
    new_role(api, acme, "rbac-reader", ["heimdall:roles.read", "heimdall:clients.read"])
    reader = token_for(api, new_client(api, acme, roles=["rbac-reader"]))
    assert api.get("/v1/roles", token=reader).status_code == 200
    assert api.get(f"/v1/clients/{acme.client_id}", token=reader).status_code == 200
    body = problem(
        api.patch(f"/v1/clients/{acme.client_id}", {"name": "x"}, token=reader), 403, "permission_denied"
    )
    assert "heimdall:clients.write" in body["detail"]
    assert api.get(f"/v1/clients/{acme.client_id}", token=reader).json()["name"] == "admin"
