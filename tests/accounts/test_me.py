"""GET /v1/me for user and client tokens, and POST /v1/me/password."""

from __future__ import annotations

from tests.accounts.support import (
    OTHER_PASSWORD,
    PASSWORD,
    create_user,
    declare,
    refresh,
    sign_in,
    signed_in,
)
from tests.helpers import problem

NEW_PASSWORD = "a brand new passphrase 42"


def test_me_for_a_user_token(api, acme):
    declare(api, acme, "docs.read", "docs.write")
    user = create_user(
        api, acme, "ed@example.com", password=PASSWORD, roles=["viewer"], displayName="Ed", metadata={"k": 1}
    )
    access = signed_in(api, "ed@example.com", PASSWORD, acme.slug)["access_token"]
    response = api.get("/v1/me", token=access)
    assert response.status_code == 200, response.content
    me = response.json()
    assert me["type"] == "user"
    assert me["id"] == user["id"]
    assert me["app"] == acme.slug
    assert me["email"] == "ed@example.com"
    assert me["displayName"] == "Ed"
    assert me["status"] == "active"
    assert me["metadata"] == {"k": 1}
    assert me["roles"] == ["viewer"]
    assert me["permissions"] == ["docs.read"]
    # It follows role changes at once.
    assert (
        api.put(f"/v1/users/{user['id']}/roles", {"roles": ["editor"]}, token=acme.token).status_code == 200
    )
    me = api.get("/v1/me", token=access).json()
    assert (me["roles"], me["permissions"]) == (["editor"], ["docs.read", "docs.write"])


def test_me_for_a_client_token(api, acme):
    response = api.get("/v1/me", token=acme.token)
    assert response.status_code == 200, response.content
    me = response.json()
    assert me["type"] == "client"
    assert me["id"] == acme.client_id
    assert me["name"] == "admin"
    assert me["app"] == acme.slug
    assert me["roles"] == ["admin"]
    assert "heimdall:users.write" in me["permissions"]
    assert "email" not in me


def test_me_without_a_token_is_401(api, acme):
    problem(api.get("/v1/me"), 401, "invalid_token")
    problem(api.get("/v1/me", token="not-a-jwt"), 401, "invalid_token")


def test_password_change_rotates_the_password_and_other_sessions_in_this_app(api, acme, globex):
    create_user(api, acme, "ed@example.com", password=PASSWORD)
    create_user(api, globex, "ed@example.com", password=OTHER_PASSWORD)
    current = signed_in(api, "ed@example.com", PASSWORD, acme.slug)  # changes the password
    other = signed_in(api, "ed@example.com", PASSWORD, acme.slug)  # another device
    elsewhere = signed_in(api, "ed@example.com", OTHER_PASSWORD, globex.slug)  # another App

    response = api.post(
        "/v1/me/password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        token=current["access_token"],
    )
    assert response.status_code == 204, response.content

    problem(sign_in(api, "ed@example.com", PASSWORD, acme.slug), 400, "invalid_grant")
    assert sign_in(api, "ed@example.com", NEW_PASSWORD, acme.slug).status_code == 200
    # Credentials are per App: globex's password and session are untouched.
    problem(sign_in(api, "ed@example.com", NEW_PASSWORD, globex.slug), 400, "invalid_grant")
    assert sign_in(api, "ed@example.com", OTHER_PASSWORD, globex.slug).status_code == 200
    assert authorize_reason(api, elsewhere["access_token"]) == "permission_not_granted"  # alive, no role
    # this App's other session ends at once; the session that changed it goes on
    problem(refresh(api, other["refresh_token"]), 400, "invalid_grant")
    assert authorize_reason(api, other["access_token"]) == "token_revoked"
    assert refresh(api, current["refresh_token"]).status_code == 200
    assert refresh(api, elsewhere["refresh_token"]).status_code == 200


def authorize_reason(api, token):
    response = api.post("/v1/authorize", {"token": token, "permission": "heimdall:users.read"})
    assert response.status_code == 200, response.content
    return response.json()["reason"]


def test_password_change_with_wrong_current_password_is_403(api, acme):
    create_user(api, acme, "ed@example.com", password=PASSWORD)
    session = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    response = api.post(
        "/v1/me/password",
        {"currentPassword": OTHER_PASSWORD, "newPassword": NEW_PASSWORD},
        token=session["access_token"],
    )
    problem(response, 403, "invalid_current_password")
    assert sign_in(api, "ed@example.com", PASSWORD, acme.slug).status_code == 200


def test_password_change_to_a_weak_password_is_422(api, acme):
    create_user(api, acme, "ed@example.com", password=PASSWORD)
    session = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    response = api.post(
        "/v1/me/password",
        {"currentPassword": PASSWORD, "newPassword": "password1234"},
        token=session["access_token"],
    )
    body = problem(response, 422, "weak_password")
    assert {e["field"] for e in body["errors"]} == {"newPassword"}
    problem(sign_in(api, "ed@example.com", "password1234", acme.slug), 400, "invalid_grant")


def test_password_change_with_missing_fields_is_400(api, acme):
    create_user(api, acme, "ed@example.com", password=PASSWORD)
    session = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    response = api.post("/v1/me/password", {"newPassword": NEW_PASSWORD}, token=session["access_token"])
    problem(response, 400, "validation_error")


def test_a_client_token_cannot_change_a_password(api, acme):
    response = api.post(
        "/v1/me/password", {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}, token=acme.token
    )
    problem(response, 403, "permission_denied")
