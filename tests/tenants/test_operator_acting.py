"""The Heimdall-App header: an operator acting inside another App."""

from __future__ import annotations

from tests.helpers import problem

ACT_AS_ACME = {"Heimdall-App": "acme-corp"}


def test_operator_with_header_gets_that_app(api, operator, acme):
    response = api.get("/v1/app", token=operator.token, headers=ACT_AS_ACME)

    assert response.status_code == 200, response.content
    assert response.json()["id"] == acme.id
    assert response.json()["slug"] == "acme-corp"


def test_operator_without_header_gets_operator_app(api, operator, acme):
    response = api.get("/v1/app", token=operator.token)

    assert response.status_code == 200
    assert response.json()["slug"] == "heimdall"


def test_operator_with_header_patches_that_app(api, operator, acme):
    response = api.patch(
        "/v1/app", {"displayName": "Acme (by operator)"}, token=operator.token, headers=ACT_AS_ACME
    )

    assert response.status_code == 200, response.content
    assert api.get("/v1/app", token=acme.token).json()["displayName"] == "Acme (by operator)"
    assert api.get("/v1/app", token=operator.token).json()["displayName"] != "Acme (by operator)"


def test_operator_with_header_lists_that_apps_audit_events(api, operator, acme, globex):
    response = api.get("/v1/audit-events?limit=200", token=operator.token, headers=ACT_AS_ACME)

    assert response.status_code == 200, response.content
    events = response.json()["data"]
    created = [e for e in events if e["action"] == "app.created"]
    assert [e["target"]["id"] for e in created] == [acme.id]
    assert globex.id not in response.content.decode()


def test_operator_action_is_recorded_as_operator_in_that_apps_log(api, operator, acme):
    api.patch("/v1/app", {"displayName": "Acme (by operator)"}, token=operator.token, headers=ACT_AS_ACME)

    events = api.get("/v1/audit-events?action=app.updated", token=acme.token).json()["data"]

    assert len(events) == 1
    assert events[0]["actor"] == {"type": "operator", "id": operator.client_id}
    assert events[0]["target"] == {"type": "app", "id": acme.id}


def test_operator_with_header_can_create_a_client_in_that_app(api, operator, acme):
    response = api.post("/v1/clients", {"name": "worker"}, token=operator.token, headers=ACT_AS_ACME)

    assert response.status_code == 201, response.content
    listed = api.get("/v1/clients", token=acme.token).json()["data"]
    assert response.json()["clientId"] in [c["clientId"] for c in listed]


def test_non_operator_sending_header_is_permission_denied(api, acme, globex):
    response = api.get("/v1/app", token=acme.token, headers={"Heimdall-App": "globex"})

    problem(response, 403, "permission_denied")


def test_non_operator_sending_own_slug_in_header_is_permission_denied(api, acme):
    problem(api.get("/v1/app", token=acme.token, headers=ACT_AS_ACME), 403, "permission_denied")


def test_non_operator_header_refusal_changes_nothing(api, acme, globex):
    response = api.patch(
        "/v1/app", {"displayName": "Hijacked"}, token=acme.token, headers={"Heimdall-App": "globex"}
    )

    problem(response, 403, "permission_denied")
    assert api.get("/v1/app", token=globex.token).json()["displayName"] == "Globex"
    assert api.get("/v1/app", token=acme.token).json()["displayName"] == "Acme-Corp"


def test_header_with_unknown_slug_is_not_found(api, operator):
    response = api.get("/v1/app", token=operator.token, headers={"Heimdall-App": "no-such-app"})

    problem(response, 404, "not_found")


def test_header_with_malformed_slug_is_validation_error(api, operator):
    response = api.get("/v1/app", token=operator.token, headers={"Heimdall-App": "Not A Slug!"})

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["Heimdall-App"]


def test_header_without_token_is_permission_denied(api, acme):
    """API.md: any caller other than an operator sending Heimdall-App gets 403."""
    problem(api.get("/v1/app", headers=ACT_AS_ACME), 403, "permission_denied")
