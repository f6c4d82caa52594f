"""GET /v1/audit-events: filters, pagination, isolation between Apps, no secrets, read-only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.helpers import Api, problem


def page(api: Api, token: str, **params: str) -> Any:
    response = api.get(f"/v1/audit-events?{urlencode(params)}", token=token)
    assert response.status_code == 200, response.content
    return response.json()


def events(api: Api, token: str, **params: str) -> list[dict[str, Any]]:
    return page(api, token, limit="200", **params)["data"]


@pytest.fixture
def busy_acme(api, acme):
    """acme with a few more events: a client created, tokens issued, a rename."""
    worker = api.post("/v1/clients", {"name": "worker", "roles": ["viewer"]}, token=acme.token)
    assert worker.status_code == 201
    api.client_token(worker.json()["clientId"], worker.json()["clientSecret"])
    api.client_token(acme.client_id, acme.client_secret)
    api.patch("/v1/app", {"displayName": "Acme Busy"}, token=acme.token)
    acme.body["worker"] = worker.json()
    return acme


# ---- envelope and pagination --------------------------------------------------------------------


def test_list_is_an_envelope(api, acme):
    body = page(api, acme.token)

    assert set(body) == {"data", "nextCursor"}
    assert body["nextCursor"] is None
    assert {"app.created", "client.created", "token.issued"} <= {e["action"] for e in body["data"]}


def test_list_needs_audit_read(api, acme):
    viewer = api.post("/v1/clients", {"name": "p", "permissions": ["heimdall:app.read"]}, token=acme.token)
    assert viewer.status_code == 201, viewer.content
    token = api.client_token(viewer.json()["clientId"], viewer.json()["clientSecret"])

    body = problem(api.get("/v1/audit-events", token=token), 403, "permission_denied")

    assert "heimdall:audit.read" in body["detail"]


def test_pagination_walks_every_event_once_in_list_order(api, busy_acme):
    everything = [e["id"] for e in events(api, busy_acme.token)]
    assert len(everything) >= 6

    walked: list[str] = []
    cursor = None
    for _ in range(len(everything) + 1):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = page(api, busy_acme.token, **params)
        assert len(body["data"]) <= 2
        walked += [e["id"] for e in body["data"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break

    assert walked == everything
    assert everything == sorted(everything, reverse=True)


@pytest.mark.parametrize("limit", ["0", "201", "abc"])
def test_invalid_limit_is_refused(api, acme, limit):
    body = problem(api.get(f"/v1/audit-events?limit={limit}", token=acme.token), 400, "validation_error")

    assert [e["field"] for e in body["errors"]] == ["limit"]


def test_bad_cursor_is_refused(api, acme):
    body = problem(api.get("/v1/audit-events?cursor=bogus", token=acme.token), 400, "validation_error")

    assert [e["field"] for e in body["errors"]] == ["cursor"]


# ---- filters ------------------------------------------------------------------------------------


def test_filter_by_action(api, busy_acme):
    found = events(api, busy_acme.token, action="token.issued")

    assert len(found) >= 3
    assert {e["action"] for e in found} == {"token.issued"}


def test_filter_by_unknown_action_is_empty(api, busy_acme):
    assert events(api, busy_acme.token, action="nothing.happened") == []


def test_filter_by_actor_id(api, busy_acme):
    worker_id = busy_acme.body["worker"]["clientId"]

    found = events(api, busy_acme.token, actorId=worker_id)

    assert [e["action"] for e in found] == ["token.issued"]
    assert found[0]["actor"]["id"] == worker_id


def test_filter_by_target_id(api, busy_acme):
    worker_id = busy_acme.body["worker"]["clientId"]

    found = events(api, busy_acme.token, targetId=worker_id)

    assert [e["action"] for e in found] == ["client.created"]


def test_filters_combine(api, busy_acme):
    found = events(api, busy_acme.token, action="token.issued", actorId=busy_acme.client_id)

    assert len(found) >= 2
    assert all(e["action"] == "token.issued" and e["actor"]["id"] == busy_acme.client_id for e in found)


def test_filter_since_and_until(api, busy_acme):
    created = events(api, busy_acme.token, action="app.created")[0]
    renamed = events(api, busy_acme.token, action="app.updated")[0]
    assert datetime.fromisoformat(renamed["occurredAt"]) > datetime.fromisoformat(created["occurredAt"])

    since = [e["id"] for e in events(api, busy_acme.token, since=renamed["occurredAt"])]
    until = [e["id"] for e in events(api, busy_acme.token, until=renamed["occurredAt"])]

    assert renamed["id"] in since and created["id"] not in since
    assert created["id"] in until and renamed["id"] not in until
    everything = {e["id"] for e in events(api, busy_acme.token)}
    assert set(since) | set(until) == everything
    assert not set(since) & set(until)


def test_filter_since_with_offset(api, busy_acme):
    assert events(api, busy_acme.token, since="2000-01-01T00:00:00+02:00")
    assert events(api, busy_acme.token, since="2999-01-01T00:00:00Z") == []


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00"])
def test_bad_since_or_until_is_refused(api, acme, name, value):
    response = api.get(f"/v1/audit-events?{urlencode({name: value})}", token=acme.token)

    body = problem(response, 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == [name]


# ---- isolation ----------------------------------------------------------------------------------


def test_other_app_never_sees_the_events(api, busy_acme, globex):
    acme_events = events(api, busy_acme.token)
    acme_ids = {e["id"] for e in acme_events}

    globex_events = events(api, globex.token)

    assert acme_ids.isdisjoint({e["id"] for e in globex_events})
    assert busy_acme.id not in json.dumps(globex_events)
    assert busy_acme.client_id not in json.dumps(globex_events)


def test_other_app_filtering_by_target_id_gets_nothing(api, busy_acme, globex):
    target_id = events(api, busy_acme.token, action="client.created")[0]["target"]["id"]

    assert events(api, globex.token, targetId=target_id) == []
    assert events(api, globex.token, targetId=busy_acme.id) == []
    assert events(api, globex.token, actorId=busy_acme.client_id) == []


def test_app_admin_does_not_see_the_operator_log(api, operator, acme, globex):
    operator_ids = {e["id"] for e in events(api, operator.token)}

    acme_ids = {e["id"] for e in events(api, acme.token)}

    assert operator_ids.isdisjoint(acme_ids)
    assert globex.id not in json.dumps(events(api, acme.token))


# ---- no secrets -----------------------------------------------------------------------------------


def test_no_secret_or_token_appears_in_any_event(api, operator, busy_acme):
    secrets = [
        operator.client_secret,
        operator.token,
        busy_acme.client_secret,
        busy_acme.token,
        busy_acme.body["worker"]["clientSecret"],
    ]
    issued = api.post(
        "/v1/oauth/token", {"clientId": busy_acme.client_id, "clientSecret": busy_acme.client_secret}
    )
    secrets.append(issued.json()["access_token"])
    created = api.post("/v1/apps", {"slug": "leaky", "displayName": "Leaky"}, token=operator.token).json()
    secrets.append(created["adminClient"]["clientSecret"])
    rotated = api.post(
        f"/v1/clients/{busy_acme.body['worker']['clientId']}/secrets", {}, token=busy_acme.token
    )
    assert rotated.status_code == 200, rotated.content
    secrets.append(rotated.json()["clientSecret"])
    wrong_guess = "hmd_cs_this-guess-must-not-be-logged"
    api.post("/v1/oauth/token", {"clientId": busy_acme.client_id, "clientSecret": wrong_guess})
    secrets.append(wrong_guess)
    leaky_token = api.client_token(created["adminClient"]["clientId"], created["adminClient"]["clientSecret"])
    secrets.append(leaky_token)

    logs = [events(api, operator.token), events(api, busy_acme.token), events(api, leaky_token)]
    text = json.dumps(logs)

    assert len(json.loads(text)[1]) >= 8
    for secret in secrets:
        assert secret not in text
        assert secret.split(".")[-1] not in text  # nor a JWT's signature part


# ---- read-only ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_audit_list_refuses_writes(api, acme, method):
    before = events(api, acme.token)

    response = getattr(api, method)(
        "/v1/audit-events", **({"body": {"action": "x"}} if method != "delete" else {}), token=acme.token
    )

    problem(response, 405, "method_not_allowed")
    assert events(api, acme.token) == before


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_audit_event_detail_path_does_not_exist(api, acme, method):
    event_id = events(api, acme.token)[0]["id"]
    before = events(api, acme.token)

    response = getattr(api, method)(
        f"/v1/audit-events/{event_id}",
        **({"body": {"action": "x"}} if method in ("post", "put", "patch") else {}),
        token=acme.token,
    )

    assert response.status_code in (404, 405), response.status_code
    assert response["Content-Type"].startswith("application/problem+json")
    assert events(api, acme.token) == before
