"""Conventions every response follows: X-Request-Id, problem+json for 404/405."""

from __future__ import annotations

import re

import pytest

from tests.helpers import problem


def test_request_id_is_generated_when_absent(api):
    first = api.get("/healthz")["X-Request-Id"]
    second = api.get("/healthz")["X-Request-Id"]

    assert first and second
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", first)


def test_request_id_is_echoed_when_sent(api):
    response = api.get("/healthz", headers={"X-Request-Id": "caller-req-42"})

    assert response["X-Request-Id"] == "caller-req-42"


def test_request_id_is_echoed_in_problem_body(api):
    response = api.get("/v1/apps", headers={"X-Request-Id": "caller-req-43"})

    body = problem(response, 401, "invalid_token")
    assert body["requestId"] == "caller-req-43"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("a" * 300, id="300-chars"),
        pytest.param("has spaces in it", id="spaces"),
        pytest.param("<script>", id="markup"),
    ],
)
def test_invalid_request_id_is_replaced(api, bad):
    response = api.get("/healthz", headers={"X-Request-Id": bad})

    assert response["X-Request-Id"]
    assert response["X-Request-Id"] != bad
    assert re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", response["X-Request-Id"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/healthz"),
        ("get", "/v1/openapi.json"),
        ("get", "/v1/nope"),
        ("get", "/v1/apps"),
        ("post", "/v1/oauth/token"),
        ("post", "/v1/authorize"),
        ("get", "/v1/apps/no-such-app/jwks.json"),
    ],
)
def test_every_response_carries_a_request_id(api, method, path):
    assert getattr(api, method)(path)["X-Request-Id"]


@pytest.mark.parametrize("path", ["/v1/nope", "/nope", "/v1/apps/acme/nope/deeper", "/v1/audit-events/evt_x"])
def test_unknown_path_is_not_found_problem(api, path):
    problem(api.get(path), 404, "not_found")


def test_unknown_path_with_token_is_not_found_problem(api, operator):
    problem(api.get("/v1/nope", token=operator.token), 404, "not_found")


def test_wrong_method_on_apps_is_method_not_allowed(api, operator):
    response = api.put("/v1/apps", {"slug": "x-app", "displayName": "X"}, token=operator.token)

    problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"] and "POST" in response["Allow"]
    assert "PUT" not in response["Allow"]


def test_wrong_method_on_own_app_is_method_not_allowed(api, acme):
    response = api.delete("/v1/app", token=acme.token)

    problem(response, 405, "method_not_allowed")
    assert api.get("/v1/app", token=acme.token).status_code == 200


def test_wrong_method_on_oauth_token_is_method_not_allowed(api):
    response = api.get("/v1/oauth/token")

    problem(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_wrong_method_on_healthz_is_problem(api):
    response = api.post("/healthz", {})

    problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_success_responses_are_json(api, acme):
    response = api.get("/v1/app", token=acme.token)

    assert response["Content-Type"].startswith("application/json")
