"""GET/PATCH /v1/app: an App's own record, seen through its own token."""

from __future__ import annotations

from tests.helpers import problem


def test_get_own_app(api, acme):
    response = api.get("/v1/app", token=acme.token)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == acme.id
    assert body["slug"] == "acme-corp"
    assert body["status"] == "active"
    assert body["settings"]["accessTokenTtlSeconds"] == 900


def test_get_own_app_sees_only_own_app(api, acme, globex):
    assert api.get("/v1/app", token=acme.token).json()["id"] == acme.id
    assert api.get("/v1/app", token=globex.token).json()["id"] == globex.id


def test_get_own_app_without_token_is_invalid_token(api):
    problem(api.get("/v1/app"), 401, "invalid_token")


def test_patch_own_app_display_name(api, acme):
    response = api.patch("/v1/app", {"displayName": "Acme Renamed"}, token=acme.token)

    assert response.status_code == 200, response.content
    assert response.json()["displayName"] == "Acme Renamed"
    assert api.get("/v1/app", token=acme.token).json()["displayName"] == "Acme Renamed"


def test_patch_own_app_settings_merges(api, acme):
    api.patch("/v1/app", {"settings": {"accessTokenTtlSeconds": 300}}, token=acme.token)

    response = api.patch("/v1/app", {"settings": {"m2mTokenTtlSeconds": 600}}, token=acme.token)

    assert response.status_code == 200, response.content
    settings = response.json()["settings"]
    assert settings["accessTokenTtlSeconds"] == 300
    assert settings["m2mTokenTtlSeconds"] == 600
    assert settings["refreshTokenTtlSeconds"] == 2_592_000


def test_patch_own_app_does_not_touch_other_apps(api, acme, globex):
    api.patch("/v1/app", {"displayName": "Acme Renamed"}, token=acme.token)

    assert api.get("/v1/app", token=globex.token).json()["displayName"] == "Globex"


def test_patch_own_app_status_is_refused_as_unknown_field(api, acme):
    response = api.patch("/v1/app", {"status": "suspended"}, token=acme.token)

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["status"]
    assert api.get("/v1/app", token=acme.token).json()["status"] == "active"


def test_patch_own_app_slug_is_refused(api, acme):
    body = problem(api.patch("/v1/app", {"slug": "acme-two"}, token=acme.token), 400, "validation_error")

    assert [error["field"] for error in body["errors"]] == ["slug"]
    assert api.get("/v1/app", token=acme.token).json()["slug"] == "acme-corp"


def test_patch_own_app_unknown_setting_is_refused(api, acme):
    body = problem(
        api.patch("/v1/app", {"settings": {"colour": "red"}}, token=acme.token), 400, "validation_error"
    )

    assert [error["field"] for error in body["errors"]] == ["settings.colour"]


def test_patch_own_app_out_of_range_ttl_is_refused_and_changes_nothing(api, acme):
    before = api.get("/v1/app", token=acme.token).json()

    response = api.patch(
        "/v1/app", {"displayName": "X", "settings": {"accessTokenTtlSeconds": 10}}, token=acme.token
    )

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["settings.accessTokenTtlSeconds"]
    assert api.get("/v1/app", token=acme.token).json() == before


def test_patch_own_app_malformed_json_is_refused(api, acme):
    problem(api.patch("/v1/app", raw=b"{not json", token=acme.token), 400, "malformed_json")


def test_patch_own_app_needs_app_write(api, acme):
    viewer = api.post("/v1/clients", {"name": "viewer", "roles": ["viewer"]}, token=acme.token)
    assert viewer.status_code == 201, viewer.content
    token = api.client_token(viewer.json()["clientId"], viewer.json()["clientSecret"])

    body = problem(api.patch("/v1/app", {"displayName": "X"}, token=token), 403, "permission_denied")

    assert "heimdall:app.write" in body["detail"]
