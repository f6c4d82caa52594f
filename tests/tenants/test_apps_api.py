"""POST/GET /v1/apps: creating and listing Apps as the operator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, Operator, problem

DEFAULT_TTLS = {
    "accessTokenTtlSeconds": 900,
    "refreshTokenTtlSeconds": 2_592_000,
    "m2mTokenTtlSeconds": 3600,
}


def _app_slugs(api: Api, operator: Operator) -> list[str]:
    response = api.get("/v1/apps?limit=200", token=operator.token)
    assert response.status_code == 200, response.content
    return [app["slug"] for app in response.json()["data"]]


def _operator_event_ids(api: Api, operator: Operator) -> list[str]:
    response = api.get("/v1/audit-events?limit=200", token=operator.token)
    assert response.status_code == 200, response.content
    return [event["id"] for event in response.json()["data"]]


def _assert_nothing_written(api: Api, operator: Operator, slugs: list[str], events: list[str]) -> None:
    assert _app_slugs(api, operator) == slugs
    assert _operator_event_ids(api, operator) == events


# ---- create -------------------------------------------------------------------------------------


def test_create_app_returns_app_with_default_settings(api, operator):
    response = api.post("/v1/apps", {"slug": "acme-corp", "displayName": "Acme"}, token=operator.token)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("app_")
    assert body["slug"] == "acme-corp"
    assert body["displayName"] == "Acme"
    assert body["status"] == "active"
    for name, value in DEFAULT_TTLS.items():
        assert body["settings"][name] == value
    assert body["createdAt"].endswith("Z")
    assert body["updatedAt"].endswith("Z")


def test_create_app_returns_admin_client_whose_token_reads_the_app(api, operator):
    response = api.post("/v1/apps", {"slug": "acme-corp", "displayName": "Acme"}, token=operator.token)
    admin = response.json()["adminClient"]
    assert admin["clientId"].startswith("m2m_")
    assert admin["clientSecret"]

    token = api.client_token(admin["clientId"], admin["clientSecret"])
    me = api.get("/v1/app", token=token)

    assert me.status_code == 200, me.content
    assert me.json()["id"] == response.json()["id"]
    assert me.json()["slug"] == "acme-corp"


def test_admin_client_secret_is_shown_only_at_creation(api, operator, acme):
    secret = acme.client_secret

    detail = api.get(f"/v1/apps/{acme.slug}", token=operator.token)
    listing = api.get("/v1/apps", token=operator.token)
    own = api.get("/v1/app", token=acme.token)

    for response in (detail, listing, own):
        assert response.status_code == 200
        assert secret not in response.content.decode()
        assert "adminClient" not in response.content.decode()


def test_create_app_with_settings_keeps_other_defaults(api, operator):
    response = api.post(
        "/v1/apps",
        {"slug": "tuned", "displayName": "Tuned", "settings": {"accessTokenTtlSeconds": 600}},
        token=operator.token,
    )

    assert response.status_code == 201, response.content
    settings = response.json()["settings"]
    assert settings["accessTokenTtlSeconds"] == 600
    assert settings["refreshTokenTtlSeconds"] == 2_592_000
    assert settings["m2mTokenTtlSeconds"] == 3600


def test_create_app_with_duplicate_slug_is_slug_taken(api, operator, acme):
    slugs, events = _app_slugs(api, operator), _operator_event_ids(api, operator)

    response = api.post("/v1/apps", {"slug": "acme-corp", "displayName": "Again"}, token=operator.token)

    problem(response, 409, "slug_taken")
    _assert_nothing_written(api, operator, slugs, events)


def test_create_app_with_operator_slug_is_slug_taken(api, operator):
    response = api.post("/v1/apps", {"slug": "heimdall", "displayName": "Impostor"}, token=operator.token)

    problem(response, 409, "slug_taken")
    assert _app_slugs(api, operator) == ["heimdall"]


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param("ab", id="too-short"),
        pytest.param("Acme", id="uppercase"),
        pytest.param("a" * 64, id="too-long-64"),
        pytest.param("acme_corp", id="underscore"),
        pytest.param("acme corp", id="space"),
        pytest.param("", id="empty"),
        pytest.param(12345, id="integer"),
        pytest.param(["acme"], id="list"),
        pytest.param(None, id="null"),
    ],
)
def test_create_app_with_invalid_slug_is_refused_and_writes_nothing(api, operator, slug):
    slugs, events = _app_slugs(api, operator), _operator_event_ids(api, operator)

    response = api.post("/v1/apps", {"slug": slug, "displayName": "Bad"}, token=operator.token)

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["slug"], body
    _assert_nothing_written(api, operator, slugs, events)


def test_create_app_slug_of_63_chars_is_accepted(api, operator):
    response = api.post("/v1/apps", {"slug": "a" * 63, "displayName": "Long"}, token=operator.token)

    assert response.status_code == 201, response.content


def test_create_app_without_slug_is_refused(api, operator):
    body = problem(
        api.post("/v1/apps", {"displayName": "No slug"}, token=operator.token), 400, "validation_error"
    )

    assert "slug" in [error["field"] for error in body["errors"]]


def test_create_app_with_unknown_field_is_refused_and_writes_nothing(api, operator):
    slugs, events = _app_slugs(api, operator), _operator_event_ids(api, operator)

    response = api.post(
        "/v1/apps", {"slug": "acme-corp", "displayName": "Acme", "colour": "red"}, token=operator.token
    )

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["colour"]
    _assert_nothing_written(api, operator, slugs, events)


def test_create_app_with_unknown_setting_names_the_setting(api, operator):
    slugs, events = _app_slugs(api, operator), _operator_event_ids(api, operator)

    response = api.post(
        "/v1/apps",
        {"slug": "acme-corp", "displayName": "Acme", "settings": {"sessionColour": "red"}},
        token=operator.token,
    )

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["settings.sessionColour"]
    _assert_nothing_written(api, operator, slugs, events)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("accessTokenTtlSeconds", 59),
        ("accessTokenTtlSeconds", 86_401),
        ("refreshTokenTtlSeconds", 0),
        ("m2mTokenTtlSeconds", -1),
        ("m2mTokenTtlSeconds", "3600"),
        ("m2mTokenTtlSeconds", True),
        ("accessTokenTtlSeconds", 900.5),
    ],
)
def test_create_app_with_out_of_range_ttl_is_refused_and_writes_nothing(api, operator, name, value):
    slugs, events = _app_slugs(api, operator), _operator_event_ids(api, operator)

    response = api.post(
        "/v1/apps",
        {"slug": "acme-corp", "displayName": "Acme", "settings": {name: value}},
        token=operator.token,
    )

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == [f"settings.{name}"]
    _assert_nothing_written(api, operator, slugs, events)


def test_create_app_with_settings_not_an_object_is_refused(api, operator):
    response = api.post(
        "/v1/apps", {"slug": "acme-corp", "displayName": "Acme", "settings": [1]}, token=operator.token
    )

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["settings"]


def test_create_app_with_malformed_json_is_malformed_json_and_writes_nothing(api, operator):
    slugs, events = _app_slugs(api, operator), _operator_event_ids(api, operator)

    response = api.post("/v1/apps", raw=b'{"slug": "acme-corp", ', token=operator.token)

    problem(response, 400, "malformed_json")
    _assert_nothing_written(api, operator, slugs, events)


def test_create_app_with_json_array_body_is_refused(api, operator):
    response = api.post("/v1/apps", [{"slug": "acme-corp"}], token=operator.token)

    problem(response, 400, "validation_error")


# ---- list ---------------------------------------------------------------------------------------


def test_list_apps_is_an_envelope_newest_first(api, operator, make_app):
    first, second = make_app("first-app"), make_app("second-app")

    response = api.get("/v1/apps", token=operator.token)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "nextCursor"}
    assert body["nextCursor"] is None
    assert [app["slug"] for app in body["data"]] == ["second-app", "first-app", "heimdall"]
    assert body["data"][0]["id"] == second.id
    assert body["data"][1]["id"] == first.id
    assert "adminClient" not in body["data"][0]


def test_list_apps_paginates_with_limit_and_cursor(api, operator, make_app):
    for slug in ("app-one", "app-two", "app-three"):
        make_app(slug)

    page1 = api.get("/v1/apps?limit=2", token=operator.token).json()
    assert [app["slug"] for app in page1["data"]] == ["app-three", "app-two"]
    assert page1["nextCursor"]

    page2 = api.get(f"/v1/apps?limit=2&cursor={page1['nextCursor']}", token=operator.token).json()
    assert [app["slug"] for app in page2["data"]] == ["app-one", "heimdall"]
    assert page2["nextCursor"] is None


@pytest.mark.parametrize("limit", ["0", "201", "abc", "-1", "1.5"])
def test_list_apps_with_invalid_limit_is_refused(api, operator, limit):
    body = problem(api.get(f"/v1/apps?limit={limit}", token=operator.token), 400, "validation_error")

    assert [error["field"] for error in body["errors"]] == ["limit"]


@pytest.mark.parametrize("limit", ["1", "200"])
def test_list_apps_accepts_limit_bounds(api, operator, limit):
    response = api.get(f"/v1/apps?limit={limit}", token=operator.token)

    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


@pytest.mark.parametrize("cursor", ["not-a-cursor", "%%%", "YWJj"])
def test_list_apps_with_bad_cursor_is_refused(api, operator, cursor):
    body = problem(api.get(f"/v1/apps?cursor={cursor}", token=operator.token), 400, "validation_error")

    assert [error["field"] for error in body["errors"]] == ["cursor"]


# ---- get ----------------------------------------------------------------------------------------


def test_get_app_by_slug(api, operator, acme):
    response = api.get(f"/v1/apps/{acme.slug}", token=operator.token)

    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["id"] == acme.id
    assert body["slug"] == "acme-corp"
    assert set(body) >= {"id", "slug", "displayName", "status", "settings", "createdAt", "updatedAt"}


def test_get_unknown_app_is_not_found(api, operator):
    problem(api.get("/v1/apps/no-such-app", token=operator.token), 404, "not_found")
