"""The ceiling rule covers a client's delegation fields.

Managing a client (change, rotate its secret, delete) requires holding everything in its
`delegablePermissions`, and, when it has `actsForUsers: true`, `heimdall:users.write` too (it can
act for any user of the App, which is as much as managing users). Setting either field is
granting and needs the same. Operators acting through Heimdall-App are not limited.
"""

from __future__ import annotations

import pytest

from tests.helpers import problem
from tests.tokens.support import declare, new_client, new_role, token_for

CLIENTS = ("heimdall:clients.read", "heimdall:clients.write")


def _manager(api, acme, *grants):
    new_role(api, acme, "manager", [*CLIENTS, *grants])
    return token_for(api, new_client(api, acme, name="manager", roles=["manager"]))


def _assert_untouched(api, acme, target, name):
    seen = api.get(f"/v1/clients/{target['clientId']}", token=acme.token)
    assert seen.status_code == 200, seen.content
    assert seen.json()["name"] == name
    api.client_token(target["clientId"], target["clientSecret"])  # its secret still works


@pytest.mark.parametrize(
    "fields",
    [
        {"delegablePermissions": ["heimdall:users.write"]},
        {"delegablePermissions": ["billing.refund"]},
        {"delegablePermissions": ["billing.*"]},
        {"actsForUsers": True, "delegablePermissions": ["docs.read"]},
    ],
    ids=["delegable-users-write", "delegable-exact", "delegable-pattern", "acts-for-users"],
)
def test_cannot_manage_a_client_whose_delegation_exceeds_the_caller(api, acme, fields):
    declare(api, acme, "docs.read", "billing.refund")
    token = _manager(api, acme, "docs.read")
    target = new_client(api, acme, name="delegate", **fields)
    path = f"/v1/clients/{target['clientId']}"
    body = problem(
        api.post(f"{path}/secrets", {"gracePeriodSeconds": 3600}, token=token), 403, "permission_denied"
    )
    assert "clientSecret" not in body
    problem(api.patch(path, {"name": "mine"}, token=token), 403, "permission_denied")
    problem(api.delete(path, token=token), 403, "permission_denied")
    _assert_untouched(api, acme, target, "delegate")


def test_cannot_create_a_client_acting_for_users_without_users_write(api, acme):
    declare(api, acme, "docs.read")
    token = _manager(api, acme, "docs.read")
    body = problem(
        api.post(
            "/v1/clients",
            {"name": "x", "actsForUsers": True, "delegablePermissions": ["docs.read"]},
            token=token,
        ),
        403,
        "permission_denied",
    )
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("actsForUsers", "exceeds_own_permissions")]
    names = [c["name"] for c in api.get("/v1/clients", token=acme.token).json()["data"]]
    assert "x" not in names


def test_cannot_create_a_client_delegating_beyond_the_caller(api, acme):
    declare(api, acme, "docs.read", "billing.refund")
    token = _manager(api, acme, "docs.read", "heimdall:users.write")
    body = problem(
        api.post("/v1/clients", {"name": "x", "delegablePermissions": ["billing.refund"]}, token=token),
        403,
        "permission_denied",
    )
    assert {e["field"] for e in body["errors"]} == {"delegablePermissions"}


def test_cannot_set_acts_for_users_or_wider_delegation_on_a_client_it_manages(api, acme):
    declare(api, acme, "docs.read", "billing.refund")
    token = _manager(api, acme, "docs.read")
    created = api.post("/v1/clients", {"name": "mine", "permissions": ["docs.read"]}, token=token)
    assert created.status_code == 201, created.content
    path = f"/v1/clients/{created.json()['clientId']}"
    body = problem(api.patch(path, {"actsForUsers": True}, token=token), 403, "permission_denied")
    assert [e["field"] for e in body["errors"]] == ["actsForUsers"]
    body = problem(
        api.patch(path, {"delegablePermissions": ["billing.refund"]}, token=token), 403, "permission_denied"
    )
    assert [e["field"] for e in body["errors"]] == ["delegablePermissions"]
    seen = api.get(path, token=acme.token).json()
    assert (seen["actsForUsers"], seen["delegablePermissions"]) == (False, [])


def test_a_caller_holding_users_write_and_the_delegation_may_manage_such_a_client(api, acme):
    declare(api, acme, "docs.read", "docs.write")
    token = _manager(api, acme, "docs.*", "heimdall:users.write")
    created = api.post(
        "/v1/clients",
        {"name": "acting", "actsForUsers": True, "delegablePermissions": ["docs.read", "docs.*"]},
        token=token,
    )
    assert created.status_code == 201, created.content
    path = f"/v1/clients/{created.json()['clientId']}"
    patched = api.patch(path, {"name": "renamed", "delegablePermissions": ["docs.write"]}, token=token)
    assert patched.status_code == 200, patched.content
    assert api.post(f"{path}/secrets", {}, token=token).status_code == 200
    assert api.delete(path, token=token).status_code == 204


def test_turning_acts_for_users_off_also_needs_users_write(api, acme):
    declare(api, acme, "docs.read")
    token = _manager(api, acme, "docs.read")
    target = new_client(api, acme, name="acting", actsForUsers=True)
    problem(
        api.patch(f"/v1/clients/{target['clientId']}", {"actsForUsers": False}, token=token),
        403,
        "permission_denied",
    )
    assert api.get(f"/v1/clients/{target['clientId']}", token=acme.token).json()["actsForUsers"] is True


def test_an_operator_acting_in_an_app_is_not_limited_by_delegation(api, operator, acme):
    target = new_client(
        api, acme, name="acting", actsForUsers=True, delegablePermissions=["heimdall:users.write"]
    )
    acting = {"Heimdall-App": acme.slug}
    path = f"/v1/clients/{target['clientId']}"
    assert api.post(f"{path}/secrets", {}, token=operator.token, headers=acting).status_code == 200
    response = api.patch(path, {"delegablePermissions": ["heimdall:*"]}, token=operator.token, headers=acting)
    assert response.status_code == 200, response.content
    assert api.delete(path, token=operator.token, headers=acting).status_code == 204
