"""Every write emits its audit event, with the documented shape and the request's context."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import Api

EVENT_ID = re.compile(r"^evt_[0-9a-z]{26}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def events(api: Api, token: str, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{name}={value}" for name, value in {"limit": "200", **params}.items())
    response = api.get(f"/v1/audit-events?{query}", token=token)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def only(found: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(found) == 1, found
    return found[0]


# ---- shape ----------------------------------------------------------------------------------------


def test_event_has_the_documented_shape(api, acme):
    event = only(events(api, acme.token, action="app.created"))

    assert EVENT_ID.match(event["id"])
    assert RFC3339_UTC.match(event["occurredAt"])
    assert event["action"] == "app.created"
    assert set(event["actor"]) == {"type", "id"}
    assert event["target"] == {"type": "app", "id": acme.id}
    assert set(event["context"]) == {"ip", "userAgent", "requestId"}
    assert set(event) <= {"id", "occurredAt", "action", "actor", "target", "context", "changes", "seq", "hash"}
    assert {"seq", "hash"} <= set(event)  # null until sealed (tests/audit/test_chain.py)


def test_event_records_request_id_ip_and_user_agent(api, operator):
    response = api.post(
        "/v1/apps",
        {"slug": "traced-app", "displayName": "Traced"},
        token=operator.token,
        headers={"X-Request-Id": "req-create-traced-1", "User-Agent": "heimdall-tests/1.0"},
    )
    assert response.status_code == 201
    assert response["X-Request-Id"] == "req-create-traced-1"
    app_id = response.json()["id"]

    event = only(events(api, operator.token, action="app.created", targetId=app_id))

    assert event["context"]["requestId"] == "req-create-traced-1"
    assert event["context"]["userAgent"] == "heimdall-tests/1.0"
    assert event["context"]["ip"] == "127.0.0.1"


def test_generated_request_id_is_recorded(api, operator, acme):
    response = api.patch(f"/v1/apps/{acme.slug}", {"displayName": "Acme 2"}, token=operator.token)
    generated = response["X-Request-Id"]

    event = only(events(api, operator.token, action="app.updated", targetId=acme.id))

    assert event["context"]["requestId"] == generated


# ---- App lifecycle ----------------------------------------------------------------------------------


def test_app_created_is_in_the_new_apps_log(api, operator, acme):
    event = only(events(api, acme.token, action="app.created"))

    assert event["target"] == {"type": "app", "id": acme.id}
    assert event["actor"] == {"type": "client", "id": operator.client_id}
    assert event["changes"]["slug"] == "acme-corp"


def test_app_created_is_in_the_operator_log(api, operator, acme):
    event = only(events(api, operator.token, action="app.created", targetId=acme.id))

    assert event["actor"]["id"] == operator.client_id
    assert event["changes"]["slug"] == "acme-corp"


def test_app_updated_records_changes(api, operator, acme):
    api.patch(
        f"/v1/apps/{acme.slug}",
        {"displayName": "Acme 2", "settings": {"m2mTokenTtlSeconds": 120}},
        token=operator.token,
    )

    for token in (operator.token, acme.token):
        event = only(events(api, token, action="app.updated", targetId=acme.id))
        assert event["changes"]["displayName"] == {"from": "Acme-Corp", "to": "Acme 2"}
        assert event["changes"]["settings"]["to"]["m2mTokenTtlSeconds"] == 120


def test_patch_without_change_records_nothing(api, operator, acme):
    before = events(api, operator.token)

    api.patch(f"/v1/apps/{acme.slug}", {"displayName": "Acme-Corp"}, token=operator.token)

    assert events(api, operator.token) == before


def test_app_suspended_and_reactivated_are_recorded(api, operator, acme):
    api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)
    api.patch(f"/v1/apps/{acme.slug}", {"status": "active"}, token=operator.token)

    suspended = only(events(api, operator.token, action="app.suspended", targetId=acme.id))
    reactivated = only(events(api, operator.token, action="app.reactivated", targetId=acme.id))
    assert suspended["changes"]["status"] == {"from": "active", "to": "suspended"}
    assert reactivated["changes"]["status"] == {"from": "suspended", "to": "active"}
    fresh = api.client_token(acme.client_id, acme.client_secret)  # the old token died with the suspension
    in_app_log = {e["action"] for e in events(api, fresh, targetId=acme.id)}
    assert {"app.suspended", "app.reactivated"} <= in_app_log


def test_app_deleted_is_in_the_operator_log(api, operator, acme):
    response = api.delete(
        f"/v1/apps/{acme.slug}", token=operator.token, headers={"X-Request-Id": "req-delete-acme"}
    )
    assert response.status_code == 204

    event = only(events(api, operator.token, action="app.deleted"))

    assert event["target"] == {"type": "app", "id": acme.id}
    assert event["actor"] == {"type": "client", "id": operator.client_id}
    assert event["context"]["requestId"] == "req-delete-acme"


# ---- clients and tokens ---------------------------------------------------------------------------


def test_admin_client_created_is_in_the_new_apps_log(api, acme):
    event = only(events(api, acme.token, action="client.created"))

    assert event["target"] == {"type": "client", "id": acme.client_id}
    assert event["changes"]["roles"] == ["admin"]


def test_client_created_through_api_is_recorded(api, acme):
    response = api.post(
        "/v1/clients", {"name": "worker"}, token=acme.token, headers={"X-Request-Id": "req-client-1"}
    )
    client_id = response.json()["clientId"]

    event = only(events(api, acme.token, action="client.created", targetId=client_id))

    assert event["actor"] == {"type": "client", "id": acme.client_id}
    assert event["context"]["requestId"] == "req-client-1"


def test_token_issued_is_recorded(api, acme):
    response = api.post(
        "/v1/oauth/token",
        {"clientId": acme.client_id, "clientSecret": acme.client_secret},
        headers={"X-Request-Id": "req-token-1"},
    )
    assert response.status_code == 200

    issued = [
        e
        for e in events(api, acme.token, action="token.issued")
        if e["context"]["requestId"] == "req-token-1"
    ]

    event = only(issued)
    assert event["actor"] == {"type": "client", "id": acme.client_id}
    assert event["target"]["type"] == "token"
    assert event["changes"]["grantType"] == "client_credentials"


def test_failed_client_authentication_is_recorded(api, acme):
    api.post("/v1/oauth/token", {"clientId": acme.client_id, "clientSecret": "hmd_cs_wrong-guess"})

    event = only(events(api, acme.token, action="client.authentication_failed"))

    assert event["target"] == {"type": "client", "id": acme.client_id}
    assert event["actor"]["type"] == "anonymous"
