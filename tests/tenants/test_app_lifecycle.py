"""PATCH/DELETE /v1/apps/{slug}: renaming, reconfiguring, suspending, reactivating, deleting."""

from __future__ import annotations

from tests.helpers import problem


def _authorize(api, token: str, permission: str = "heimdall:app.read") -> dict:
    response = api.post("/v1/authorize", {"token": token, "permission": permission})
    assert response.status_code == 200, response.content
    return response.json()


def _client_credentials(api, client_id: str, secret: str):
    return api.post("/v1/oauth/token", {"clientId": client_id, "clientSecret": secret})


# ---- rename / reconfigure -------------------------------------------------------------------------


def test_patch_app_display_name(api, operator, acme):
    response = api.patch(f"/v1/apps/{acme.slug}", {"displayName": "Acme Corporation"}, token=operator.token)

    assert response.status_code == 200, response.content
    assert response.json()["displayName"] == "Acme Corporation"
    assert api.get(f"/v1/apps/{acme.slug}", token=operator.token).json()["displayName"] == "Acme Corporation"


def test_patch_app_settings_merges_into_current_settings(api, operator, make_app):
    app = make_app("tuned", settings={"accessTokenTtlSeconds": 600})

    response = api.patch(
        f"/v1/apps/{app.slug}", {"settings": {"m2mTokenTtlSeconds": 120}}, token=operator.token
    )

    assert response.status_code == 200, response.content
    settings = api.get(f"/v1/apps/{app.slug}", token=operator.token).json()["settings"]
    assert settings["accessTokenTtlSeconds"] == 600
    assert settings["m2mTokenTtlSeconds"] == 120
    assert settings["refreshTokenTtlSeconds"] == 2_592_000


def test_patched_m2m_ttl_applies_to_new_client_tokens(api, operator, acme):
    api.patch(f"/v1/apps/{acme.slug}", {"settings": {"m2mTokenTtlSeconds": 120}}, token=operator.token)

    response = _client_credentials(api, acme.client_id, acme.client_secret)

    assert response.status_code == 200
    assert response.json()["expires_in"] == 120


def test_patch_app_slug_is_refused(api, operator, acme):
    response = api.patch(f"/v1/apps/{acme.slug}", {"slug": "acme-new"}, token=operator.token)

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["slug"]
    problem(api.get("/v1/apps/acme-new", token=operator.token), 404, "not_found")
    assert api.get(f"/v1/apps/{acme.slug}", token=operator.token).status_code == 200


def test_patch_app_with_unknown_setting_is_refused_and_changes_nothing(api, operator, acme):
    before = api.get(f"/v1/apps/{acme.slug}", token=operator.token).json()

    response = api.patch(
        f"/v1/apps/{acme.slug}",
        {"displayName": "Renamed", "settings": {"nope": 1}},
        token=operator.token,
    )

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["settings.nope"]
    assert api.get(f"/v1/apps/{acme.slug}", token=operator.token).json() == before


def test_patch_app_with_out_of_range_ttl_is_refused(api, operator, acme):
    response = api.patch(
        f"/v1/apps/{acme.slug}", {"settings": {"refreshTokenTtlSeconds": 10}}, token=operator.token
    )

    body = problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["settings.refreshTokenTtlSeconds"]


def test_patch_app_with_invalid_status_is_refused(api, operator, acme):
    body = problem(
        api.patch(f"/v1/apps/{acme.slug}", {"status": "deleted"}, token=operator.token),
        400,
        "validation_error",
    )

    assert [error["field"] for error in body["errors"]] == ["status"]


def test_patch_unknown_app_is_not_found(api, operator):
    problem(api.patch("/v1/apps/no-such-app", {"displayName": "X"}, token=operator.token), 404, "not_found")


# ---- suspend / reactivate ---------------------------------------------------------------------------


def test_suspend_app_returns_suspended_status(api, operator, acme):
    response = api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "suspended"


def test_suspend_app_makes_its_existing_token_fail_at_once(api, operator, acme):
    assert api.get("/v1/app", token=acme.token).status_code == 200

    api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)

    response = api.get("/v1/app", token=acme.token)
    problem(response, 401, "invalid_token")
    assert "WWW-Authenticate" in response


def test_suspend_app_makes_authorize_answer_app_suspended(api, operator, acme):
    assert _authorize(api, acme.token)["allowed"] is True

    api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)

    answer = _authorize(api, acme.token)
    assert answer["allowed"] is False
    assert answer["reason"] == "app_suspended"


def test_suspended_app_client_cannot_get_new_tokens(api, operator, acme):
    api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)

    response = _client_credentials(api, acme.client_id, acme.client_secret)

    assert response.status_code in (400, 401), response.content
    body = response.json()
    assert "access_token" not in body
    assert body["error"] == body["code"]
    assert body["code"] in ("unauthorized_client", "invalid_client")


def test_suspend_app_leaves_other_apps_tokens_working(api, operator, acme, globex):
    api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)

    assert api.get("/v1/app", token=globex.token).status_code == 200
    assert _authorize(api, globex.token)["allowed"] is True


def test_reactivating_an_app_does_not_resurrect_tokens_issued_before_suspension(api, operator, acme):
    api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)
    assert api.get("/v1/app", token=acme.token).status_code == 401
    assert _authorize(api, acme.token)["reason"] == "app_suspended"

    response = api.patch(f"/v1/apps/{acme.slug}", {"status": "active"}, token=operator.token)

    assert response.status_code == 200
    assert response.json()["status"] == "active"
    # What was issued before the suspension stays dead...
    assert api.get("/v1/app", token=acme.token).status_code == 401
    assert _authorize(api, acme.token)["reason"] == "token_revoked"
    # ...and new tokens work at once.
    fresh = _client_credentials(api, acme.client_id, acme.client_secret)
    assert fresh.status_code == 200
    assert _authorize(api, fresh.json()["access_token"])["reason"] == "granted"
    assert api.get("/v1/app", token=fresh.json()["access_token"]).status_code == 200


# ---- delete -------------------------------------------------------------------------------------


def test_delete_app_returns_204_and_its_slug_is_gone(api, operator, acme):
    response = api.delete(f"/v1/apps/{acme.slug}", token=operator.token)

    assert response.status_code == 204
    assert response.content == b""
    problem(api.get(f"/v1/apps/{acme.slug}", token=operator.token), 404, "not_found")
    slugs = [app["slug"] for app in api.get("/v1/apps", token=operator.token).json()["data"]]
    assert "acme-corp" not in slugs


def test_delete_app_makes_its_token_fail_at_once(api, operator, acme):
    api.delete(f"/v1/apps/{acme.slug}", token=operator.token)

    problem(api.get("/v1/app", token=acme.token), 401, "invalid_token")
    assert _authorize(api, acme.token)["allowed"] is False


def test_delete_app_makes_its_client_unable_to_get_tokens(api, operator, acme):
    api.delete(f"/v1/apps/{acme.slug}", token=operator.token)

    response = _client_credentials(api, acme.client_id, acme.client_secret)

    problem(response, 401, "invalid_client")


def test_delete_app_leaves_other_apps_untouched(api, operator, acme, globex):
    api.delete(f"/v1/apps/{acme.slug}", token=operator.token)

    assert api.get("/v1/app", token=globex.token).status_code == 200
    assert api.get(f"/v1/apps/{globex.slug}", token=operator.token).status_code == 200


def test_delete_unknown_app_is_not_found(api, operator):
    problem(api.delete("/v1/apps/no-such-app", token=operator.token), 404, "not_found")


# ---- the operator App ---------------------------------------------------------------------------


def test_delete_operator_app_is_protected(api, operator):
    problem(api.delete("/v1/apps/heimdall", token=operator.token), 409, "operator_app_protected")

    assert api.get("/v1/apps/heimdall", token=operator.token).status_code == 200
    assert api.get("/v1/apps", token=operator.token).status_code == 200


def test_suspend_operator_app_is_protected(api, operator):
    response = api.patch("/v1/apps/heimdall", {"status": "suspended"}, token=operator.token)

    problem(response, 409, "operator_app_protected")
    assert api.get("/v1/apps/heimdall", token=operator.token).json()["status"] == "active"
    assert api.get("/v1/apps", token=operator.token).status_code == 200
