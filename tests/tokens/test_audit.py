"""Every RBAC, client and token change is audited, with the right target, and no secret in it."""

import json

from tests.helpers import basic
from tests.tokens.support import audit_events, claims_of, declare, new_client, new_role, token_for


def _one(api, app, action, target_id=None):
    events = audit_events(api, app, action=action)
    if target_id is not None:
        events = [e for e in events if e["target"] and e["target"]["id"] == target_id]
    assert len(events) == 1, (action, target_id, audit_events(api, app, action=action))
    return events[0]


def test_rbac_changes_are_audited_with_their_targets(api, acme):
    permission = api.post(
        "/v1/permissions", {"name": "docs.read", "description": "Read"}, token=acme.token
    ).json()
    role = new_role(api, acme, "ops", ["docs.read"])
    assert api.patch("/v1/roles/ops", {"permissions": ["*"]}, token=acme.token).status_code == 200
    assert api.delete("/v1/roles/ops", token=acme.token).status_code == 204
    assert api.delete("/v1/permissions/docs.read", token=acme.token).status_code == 204
    admin = {"type": "client", "id": acme.client_id}

    created = _one(api, acme, "permission.created")
    assert created["actor"] == admin
    assert created["target"] == {"type": "permission", "id": permission["id"]}
    assert created["changes"]["name"] == "docs.read"
    assert created["context"]["requestId"]

    assert _one(api, acme, "role.created")["target"] == {"type": "role", "id": role["id"]}
    updated = _one(api, acme, "role.updated")
    assert updated["target"] == {"type": "role", "id": role["id"]}
    assert updated["changes"]["permissions"] == {"from": ["docs.read"], "to": ["*"]}
    assert updated["actor"] == admin


def test_permission_deletion_is_audited_with_the_permissions_id(api, acme):
    permission = api.post("/v1/permissions", {"name": "docs.read"}, token=acme.token).json()
    assert api.delete("/v1/permissions/docs.read", token=acme.token).status_code == 204
    event = _one(api, acme, "permission.deleted")
    assert event["changes"]["name"] == "docs.read"
    assert event["target"] == {"type": "permission", "id": permission["id"]}


def test_role_deletion_is_audited_with_the_roles_id(api, acme):
    role = new_role(api, acme, "ops", [])
    assert api.delete("/v1/roles/ops", token=acme.token).status_code == 204
    event = _one(api, acme, "role.deleted")
    assert event["changes"]["name"] == "ops"
    assert event["target"] == {"type": "role", "id": role["id"]}


def test_client_deletion_is_audited_with_the_clients_id(api, acme):
    client = new_client(api, acme)
    assert api.delete(f"/v1/clients/{client['clientId']}", token=acme.token).status_code == 204
    assert _one(api, acme, "client.deleted")["target"] == {"type": "client", "id": client["clientId"]}
    assert len(audit_events(api, acme, targetId=client["clientId"], action="client.deleted")) == 1


def test_client_lifecycle_and_tokens_are_audited_without_secrets(api, acme):
    declare(api, acme, "docs.read")
    client = new_client(api, acme, name="worker", roles=["viewer"])
    client_id = client["clientId"]
    secrets = [client["clientSecret"]]
    token = token_for(api, client)
    narrowed = token_for(api, client, scope="docs.read")
    assert api.patch(f"/v1/clients/{client_id}", {"name": "worker-2"}, token=acme.token).status_code == 200
    rotated = api.post(
        f"/v1/clients/{client_id}/secrets", {"gracePeriodSeconds": 60}, token=acme.token
    ).json()
    secrets.append(rotated["clientSecret"])
    response = api.post(
        "/v1/oauth/revoke",
        form={"token": token},
        headers={"Authorization": basic(client_id, rotated["clientSecret"])},
    )
    assert response.status_code == 200
    failed = api.post("/v1/oauth/token", {"clientId": client_id, "clientSecret": "hmd_cs_wrong-guess"})
    assert failed.status_code == 401
    assert api.delete(f"/v1/clients/{client_id}", token=acme.token).status_code == 204

    created = _one(api, acme, "client.created", client_id)
    assert created["changes"]["name"] == "worker" and created["changes"]["roles"] == ["viewer"]
    assert _one(api, acme, "client.updated", client_id)["changes"]["name"] == {
        "from": "worker",
        "to": "worker-2",
    }
    rotated_event = _one(api, acme, "client.secret_rotated", client_id)
    assert rotated_event["changes"]["gracePeriodSeconds"] == 60

    issued = [e for e in audit_events(api, acme, action="token.issued") if e["actor"]["id"] == client_id]
    assert sorted(e["target"]["id"] for e in issued) == sorted(
        [claims_of(token)["jti"], claims_of(narrowed)["jti"]]
    )
    assert {e["changes"]["scope"] for e in issued} == {"docs.read"}
    revoked = _one(api, acme, "token.revoked", claims_of(token)["jti"])
    assert revoked["actor"] == {"type": "client", "id": client_id}

    everything = json.dumps(audit_events(api, acme))
    for secret in [*secrets, acme.client_secret, "hmd_cs_wrong-guess", token, narrowed, acme.token]:
        assert secret not in everything
    assert "hmd_cs_" not in everything


def test_token_issue_to_admin_is_audited(api, acme):
    issued = [e for e in audit_events(api, acme, action="token.issued") if e["actor"]["id"] == acme.client_id]
    assert [e["target"]["id"] for e in issued] == [claims_of(acme.token)["jti"]]
    assert issued[0]["changes"]["grantType"] == "client_credentials"
