"""Suspend, reactivate, change roles and delete: each takes effect at once on tokens already
issued (/v1/authorize, introspection, the management API and refresh tokens)."""

from __future__ import annotations

import time
import types

import pytest

from tests.accounts.support import (
    PASSWORD,
    authorize,
    create_user,
    declare,
    get_user,
    introspect,
    refresh,
    sign_in,
    signed_in,
)
from tests.helpers import problem
from tokens import keys as token_keys


@pytest.fixture
def editor(api, acme):
    """An editor of acme (which declares docs.read and docs.write), signed in once."""
    declare(api, acme, "docs.read", "docs.write")
    user = create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["editor"])
    tokens = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    return user, tokens


def test_suspension_stops_existing_access_and_refresh_tokens(api, acme, editor):
    user, tokens = editor
    access = tokens["access_token"]
    assert authorize(api, access, "docs.write")["allowed"] is True
    assert api.get("/v1/me", token=access).status_code == 200

    response = api.post(f"/v1/users/{user['id']}/suspend", token=acme.token)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "suspended"

    answer = authorize(api, access, "docs.read")
    assert (answer["allowed"], answer["reason"]) == (False, "subject_suspended")
    problem(api.get("/v1/me", token=access), 401, "invalid_token")
    assert introspect(api, acme, access) == {"active": False}
    assert introspect(api, acme, tokens["refresh_token"]) == {"active": False}
    problem(refresh(api, tokens["refresh_token"]), 400, "invalid_grant")


def test_tokens_issued_before_suspension_stay_dead_after_reactivation(api, acme, editor):
    user, tokens = editor
    assert api.post(f"/v1/users/{user['id']}/suspend", token=acme.token).status_code == 200
    response = api.post(f"/v1/users/{user['id']}/reactivate", token=acme.token)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    assert introspect(api, acme, tokens["refresh_token"]) == {"active": False}
    problem(refresh(api, tokens["refresh_token"]), 400, "invalid_grant")
    # The access token issued before the suspension does not come back either.
    answer = authorize(api, tokens["access_token"], "docs.read")
    assert (answer["allowed"], answer["reason"]) == (False, "token_revoked")
    problem(api.get("/v1/me", token=tokens["access_token"]), 401, "invalid_token")
    assert introspect(api, acme, tokens["access_token"]) == {"active": False}
    # The user can sign in again, and the new session works.
    assert (
        refresh(api, signed_in(api, "ed@example.com", PASSWORD, acme.slug)["refresh_token"]).status_code
        == 200
    )


def test_suspending_twice_is_409_already_suspended(api, acme):
    user = create_user(api, acme, "s@example.com")
    assert api.post(f"/v1/users/{user['id']}/suspend", token=acme.token).status_code == 200
    problem(api.post(f"/v1/users/{user['id']}/suspend", token=acme.token), 409, "already_suspended")
    assert get_user(api, acme, user["id"])["status"] == "suspended"


def test_reactivating_an_active_user_is_409_already_active(api, acme):
    user = create_user(api, acme, "s@example.com")
    problem(api.post(f"/v1/users/{user['id']}/reactivate", token=acme.token), 409, "already_active")
    assert get_user(api, acme, user["id"])["status"] == "active"


def test_role_change_applies_to_existing_tokens_at_once(api, acme, editor):
    user, tokens = editor
    access = tokens["access_token"]
    answer = authorize(api, access, "docs.write")
    assert (answer["allowed"], answer["role"]) == (True, "editor")

    response = api.put(f"/v1/users/{user['id']}/roles", {"roles": ["viewer"]}, token=acme.token)
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == ["viewer"]

    answer = authorize(api, access, "docs.write")
    assert (answer["allowed"], answer["reason"]) == (False, "permission_not_granted")
    answer = authorize(api, access, "docs.read")
    assert (answer["allowed"], answer["role"]) == (True, "viewer")
    assert introspect(api, acme, access)["scope"] == "docs.read"

    assert api.put(f"/v1/users/{user['id']}/roles", {"roles": []}, token=acme.token).status_code == 200
    assert authorize(api, access, "docs.read")["reason"] == "permission_not_granted"


def test_set_roles_with_unknown_role_is_422_and_changes_nothing(api, acme):
    user = create_user(api, acme, "r@example.com", roles=["editor"])
    response = api.put(f"/v1/users/{user['id']}/roles", {"roles": ["viewer", "ghost"]}, token=acme.token)
    problem(response, 422, "unknown_role")
    assert get_user(api, acme, user["id"])["roles"] == ["editor"]


def test_set_roles_requires_a_list(api, acme):
    user = create_user(api, acme, "r@example.com", roles=["editor"])
    for body in ({}, {"roles": "viewer"}, {"roles": None}):
        response = api.put(f"/v1/users/{user['id']}/roles", body, token=acme.token)
        problem(response, 400, "validation_error")
    assert get_user(api, acme, user["id"])["roles"] == ["editor"]


def test_delete_revokes_tokens_and_a_second_delete_is_404(api, acme, editor):
    user, tokens = editor
    assert api.delete(f"/v1/users/{user['id']}", token=acme.token).status_code == 204
    answer = authorize(api, tokens["access_token"], "docs.read")
    assert (answer["allowed"], answer["reason"]) == (False, "token_revoked")
    problem(api.get("/v1/me", token=tokens["access_token"]), 401, "invalid_token")
    problem(api.get(f"/v1/users/{user['id']}", token=acme.token), 404, "not_found")
    problem(api.delete(f"/v1/users/{user['id']}", token=acme.token), 404, "not_found")
    problem(refresh(api, tokens["refresh_token"]), 400, "invalid_grant")
    problem(sign_in(api, "ed@example.com", PASSWORD, acme.slug), 400, "invalid_grant")


def test_readded_user_gets_a_new_identity_and_old_tokens_stay_revoked(api, acme, editor):
    user, tokens = editor
    assert api.delete(f"/v1/users/{user['id']}", token=acme.token).status_code == 204
    again = create_user(api, acme, "ed@example.com", roles=["editor"])
    assert again["id"] != user["id"]  # the identity went with its last membership
    assert authorize(api, tokens["access_token"], "docs.read")["reason"] == "token_revoked"
    problem(refresh(api, tokens["refresh_token"]), 400, "invalid_grant")


def _sleep_into_next_second() -> None:
    time.sleep(1.02 - time.time() % 1)


def test_readded_member_of_a_shared_identity_keeps_old_tokens_revoked(api, acme, globex, editor):
    """The identity survives through its globex membership; the re-added acme member is a new
    membership with a new usr_ id, and tokens from the removed one must stay dead."""
    user, tokens = editor
    create_user(api, globex, "ed@example.com")
    assert api.delete(f"/v1/users/{user['id']}", token=acme.token).status_code == 204
    _sleep_into_next_second()  # the re-add happens in a later second than the token's iat
    again = create_user(api, acme, "ed@example.com", roles=["editor"])
    assert again["id"] != user["id"]
    answer = authorize(api, tokens["access_token"], "docs.read")
    assert (answer["allowed"], answer["reason"]) == (False, "token_revoked")
    problem(refresh(api, tokens["refresh_token"]), 400, "invalid_grant")


def test_token_issued_in_the_same_second_as_the_readd_stays_revoked(api, acme, globex, monkeypatch):
    """Whole-second `iat` against the membership's join time: a token minted less than a second
    before the re-add (or by an instance whose clock is slightly ahead) must not come back to
    life. The signing clock runs 1 s ahead here so the collision is deterministic."""
    declare(api, acme, "docs.read")
    user = create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["editor"])
    create_user(api, globex, "ed@example.com")
    real_time = time.time
    monkeypatch.setattr(token_keys, "time", types.SimpleNamespace(time=lambda: real_time() + 1))
    access = signed_in(api, "ed@example.com", PASSWORD, acme.slug)["access_token"]
    monkeypatch.undo()
    assert authorize(api, access, "docs.read")["allowed"] is True

    assert api.delete(f"/v1/users/{user['id']}", token=acme.token).status_code == 204
    assert authorize(api, access, "docs.read")["reason"] == "token_revoked"
    create_user(api, acme, "ed@example.com", roles=["editor"])
    answer = authorize(api, access, "docs.read")
    assert (answer["allowed"], answer["reason"]) == (False, "token_revoked")
