"""Nobody hands out, or takes over, more than they hold themselves.

A caller may only grant roles and permissions it holds (patterns only when it holds one at least as
broad), and may only change, rotate, suspend or delete a client or user that holds nothing beyond
what the caller holds. Operators acting through Heimdall-App are not limited.
"""

from __future__ import annotations

from tests.helpers import problem
from tests.tokens.support import authorize, declare, new_client, new_role, token_for


def _manager(api, acme, *grants):
    new_role(api, acme, "manager", list(grants))
    return token_for(api, new_client(api, acme, roles=["manager"]))


def test_clients_write_alone_cannot_rotate_the_admin_clients_secret(api, acme):
    token = _manager(api, acme, "heimdall:clients.read", "heimdall:clients.write")
    response = api.post(f"/v1/clients/{acme.client_id}/secrets", {"gracePeriodSeconds": 3600}, token=token)
    body = problem(response, 403, "permission_denied")
    assert "clientSecret" not in body
    # the admin's secret still works: nothing changed
    api.client_token(acme.client_id, acme.client_secret)


def test_clients_write_alone_cannot_patch_or_delete_a_more_powerful_client(api, acme):
    token = _manager(api, acme, "heimdall:clients.read", "heimdall:clients.write")
    problem(api.patch(f"/v1/clients/{acme.client_id}", {"roles": []}, token=token), 403, "permission_denied")
    problem(api.delete(f"/v1/clients/{acme.client_id}", token=token), 403, "permission_denied")
    assert api.get(f"/v1/clients/{acme.client_id}", token=acme.token).json()["roles"] == ["admin"]


def test_clients_write_alone_cannot_create_an_admin_client(api, acme):
    token = _manager(api, acme, "heimdall:clients.read", "heimdall:clients.write")
    body = problem(
        api.post("/v1/clients", {"name": "x", "roles": ["admin"]}, token=token), 403, "permission_denied"
    )
    assert {e["code"] for e in body["errors"]} == {"exceeds_own_permissions"}
    assert len(api.get("/v1/clients", token=acme.token).json()["data"]) == 2  # admin + manager


def test_a_manager_may_manage_clients_within_its_own_permissions(api, acme):
    declare(api, acme, "docs.read")
    token = _manager(api, acme, "heimdall:clients.read", "heimdall:clients.write", "docs.read")
    created = api.post("/v1/clients", {"name": "reader", "permissions": ["docs.read"]}, token=token)
    assert created.status_code == 201, created.content
    client_id = created.json()["clientId"]
    rotated = api.post(f"/v1/clients/{client_id}/secrets", {}, token=token)
    assert rotated.status_code == 200, rotated.content
    assert api.delete(f"/v1/clients/{client_id}", token=token).status_code == 204


def test_users_write_alone_cannot_demote_suspend_or_delete_an_admin(api, acme):
    admin = api.post("/v1/users", {"email": "boss@example.com", "roles": ["admin"]}, token=acme.token).json()
    token = _manager(api, acme, "heimdall:users.read", "heimdall:users.write")
    problem(api.put(f"/v1/users/{admin['id']}/roles", {"roles": []}, token=token), 403, "permission_denied")
    problem(api.post(f"/v1/users/{admin['id']}/suspend", token=token), 403, "permission_denied")
    problem(api.delete(f"/v1/users/{admin['id']}", token=token), 403, "permission_denied")
    seen = api.get(f"/v1/users/{admin['id']}", token=acme.token).json()
    assert (seen["roles"], seen["status"]) == (["admin"], "active")


def test_roles_write_cannot_widen_its_own_role_to_a_pattern_it_does_not_hold(api, acme):
    declare(api, acme, "docs.read", "billing.refund")
    token = _manager(api, acme, "heimdall:roles.read", "heimdall:roles.write", "docs.read")
    problem(api.patch("/v1/roles/manager", {"permissions": ["*"]}, token=token), 403, "permission_denied")
    problem(
        api.post("/v1/roles", {"name": "x", "permissions": ["billing.*"]}, token=token),
        403,
        "permission_denied",
    )
    problem(
        api.post("/v1/roles", {"name": "y", "permissions": ["heimdall:*"]}, token=token),
        403,
        "permission_denied",
    )
    assert authorize(api, token, "billing.refund")["allowed"] is False
    # within its own holdings it may still define roles
    assert api.post("/v1/roles", {"name": "z", "permissions": ["docs.read"]}, token=token).status_code == 201


def test_a_pattern_holder_may_grant_narrower_patterns(api, acme):
    declare(api, acme, "docs.read", "docs.write")
    token = _manager(api, acme, "heimdall:roles.read", "heimdall:roles.write", "docs.*")
    assert (
        api.post("/v1/roles", {"name": "docs-all", "permissions": ["docs.*"]}, token=token).status_code == 201
    )
    problem(
        api.post("/v1/roles", {"name": "reads", "permissions": ["*.read"]}, token=token),
        403,
        "permission_denied",
    )


def test_an_operator_acting_in_an_app_is_not_limited(api, operator, acme):
    response = api.post(
        f"/v1/clients/{acme.client_id}/secrets", {}, token=operator.token, headers={"Heimdall-App": acme.slug}
    )
    assert response.status_code == 200, response.content


def test_a_role_editor_cannot_edit_or_delete_a_role_broader_than_itself(api, acme):
    token = _manager(
        api,
        acme,
        "heimdall:roles.read",
        "heimdall:roles.write",
        "heimdall:clients.read",
        "heimdall:clients.write",
    )
    problem(
        api.patch("/v1/roles/admin", {"permissions": ["heimdall:clients.read"]}, token=token),
        403,
        "permission_denied",
    )
    problem(api.delete("/v1/roles/editor", token=token), 403, "permission_denied")
    assert api.get("/v1/roles/admin", token=acme.token).json()["permissions"] == ["*", "heimdall:*"]
    # and so the admin client stays out of its reach
    problem(api.post(f"/v1/clients/{acme.client_id}/secrets", {}, token=token), 403, "permission_denied")


def test_users_write_alone_cannot_edit_an_admins_profile(api, acme):
    admin = api.post("/v1/users", {"email": "boss@example.com", "roles": ["admin"]}, token=acme.token).json()
    token = _manager(api, acme, "heimdall:users.read", "heimdall:users.write")
    problem(
        api.patch(f"/v1/users/{admin['id']}", {"metadata": {"x": 1}}, token=token), 403, "permission_denied"
    )


def test_holding_every_management_permission_covers_heimdall_star(api, acme):
    from rbac.permissions import MANAGEMENT_PERMISSIONS

    token = _manager(api, acme, *MANAGEMENT_PERMISSIONS)
    response = api.post("/v1/roles", {"name": "ops", "permissions": ["heimdall:*"]}, token=token)
    assert response.status_code == 201, response.content
