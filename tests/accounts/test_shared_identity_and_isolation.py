"""One identity across Apps (no App changes what another sees), and tenant isolation of every
users endpoint: another App's user is indistinguishable from a missing one."""

from __future__ import annotations

import pytest

from tests.accounts.support import (
    OTHER_PASSWORD,
    PASSWORD,
    audit_events,
    create_user,
    get_user,
    list_users,
    sign_in,
)
from tests.helpers import problem


def test_existing_identity_joins_another_app_with_its_password_and_profile_untouched(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD, displayName="A1")
    joined = create_user(
        api,
        globex,
        "Alice@Example.com",
        password=OTHER_PASSWORD,
        displayName="G1",
        roles=["viewer"],
        metadata={"tier": "gold"},
    )
    assert joined["id"] == alice["id"]
    assert joined["email"] == "alice@example.com"
    assert joined["displayName"] == "G1"
    assert joined["roles"] == ["viewer"]
    assert joined["metadata"] == {"tier": "gold"}
    # The password globex sent was ignored: the identity keeps the one acme set.
    problem(sign_in(api, "alice@example.com", OTHER_PASSWORD, globex.slug), 400, "invalid_grant")
    assert sign_in(api, "alice@example.com", PASSWORD, globex.slug).status_code == 200
    # acme's view did not change.
    seen_by_acme = get_user(api, acme, alice["id"])
    assert seen_by_acme["displayName"] == "A1"
    assert seen_by_acme["roles"] == []
    assert seen_by_acme["metadata"] == {}


def test_password_sent_for_an_existing_identity_is_ignored_even_if_weak(api, acme, globex):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    create_user(api, globex, "alice@example.com", password="short")
    assert list_users(api, globex, "email=alice@example.com")


def test_profile_changes_in_one_app_are_invisible_to_another(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", displayName="A1", metadata={"a": 1})
    create_user(api, globex, "alice@example.com", displayName="G1")
    response = api.patch(
        f"/v1/users/{alice['id']}", {"displayName": "G2", "metadata": {"g": 2}}, token=globex.token
    )
    assert response.status_code == 200, response.content
    assert response.json()["displayName"] == "G2"
    seen_by_acme = get_user(api, acme, alice["id"])
    assert seen_by_acme["displayName"] == "A1"
    assert seen_by_acme["metadata"] == {"a": 1}
    assert [e["action"] for e in audit_events(api, acme, targetId=alice["id"])] == ["user.created"]


def test_suspending_or_deleting_in_one_app_leaves_the_other_membership_alone(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD, displayName="A1")
    create_user(api, globex, "alice@example.com", displayName="G1")

    assert api.post(f"/v1/users/{alice['id']}/suspend", token=globex.token).status_code == 200
    assert get_user(api, acme, alice["id"])["status"] == "active"
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200
    problem(sign_in(api, "alice@example.com", PASSWORD, globex.slug), 400, "invalid_grant")

    assert api.delete(f"/v1/users/{alice['id']}", token=globex.token).status_code == 204
    problem(api.get(f"/v1/users/{alice['id']}", token=globex.token), 404, "not_found")
    seen_by_acme = get_user(api, acme, alice["id"])
    assert seen_by_acme["status"] == "active"
    assert seen_by_acme["displayName"] == "A1"
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200


def test_identity_is_removed_with_its_last_membership(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    assert api.delete(f"/v1/users/{alice['id']}", token=acme.token).status_code == 204
    # No identity remains: globex creating the email makes a new person with globex's password.
    again = create_user(api, globex, "alice@example.com", password=OTHER_PASSWORD)
    assert again["id"] != alice["id"]
    assert sign_in(api, "alice@example.com", OTHER_PASSWORD, globex.slug).status_code == 200


# ---- isolation ----------------------------------------------------------------------------------

ENDPOINTS = {
    "get": ("GET", "/v1/users/{id}", None),
    "patch": ("PATCH", "/v1/users/{id}", {"displayName": "Hijacked", "metadata": {"x": 1}}),
    "delete": ("DELETE", "/v1/users/{id}", None),
    "suspend": ("POST", "/v1/users/{id}/suspend", None),
    "reactivate": ("POST", "/v1/users/{id}/reactivate", None),
    "set-roles": ("PUT", "/v1/users/{id}/roles", {"roles": ["admin"]}),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_another_apps_admin_gets_404_and_changes_nothing(api, acme, globex, endpoint):
    user = create_user(api, acme, "only-acme@example.com", displayName="Acme", roles=["viewer"])
    if endpoint == "reactivate":  # so a leaking reactivate would visibly change something
        user = api.post(f"/v1/users/{user['id']}/suspend", token=acme.token).json()
    method, path, body = ENDPOINTS[endpoint]
    response = api.request(method, path.format(id=user["id"]), body, token=globex.token)
    problem(response, 404, "not_found")
    assert get_user(api, acme, user["id"]) == user
    assert not [e for e in audit_events(api, globex) if e["action"].startswith("user.")]


def test_unknown_user_id_is_the_same_404(api, acme, globex):
    user = create_user(api, acme, "only-acme@example.com")
    foreign = problem(api.get(f"/v1/users/{user['id']}", token=globex.token), 404, "not_found")
    missing = problem(
        api.get("/v1/users/usr_00000000000000000000000000", token=globex.token), 404, "not_found"
    )
    assert (foreign["title"], foreign["detail"]) == (missing["title"], missing["detail"])


def test_user_list_never_shows_another_apps_users(api, acme, globex):
    a1 = create_user(api, acme, "a1@example.com", roles=["editor"])
    a2 = create_user(api, acme, "a2@example.com", roles=["viewer"])
    g1 = create_user(api, globex, "g1@example.com", roles=["editor"])
    assert [u["id"] for u in list_users(api, globex)] == [g1["id"]]
    assert list_users(api, globex, "email=a1@example.com") == []
    assert [u["id"] for u in list_users(api, globex, "role=editor")] == [g1["id"]]
    assert list_users(api, globex, "role=viewer") == []
    assert list_users(api, globex, "status=active") == [get_user(api, globex, g1["id"])]
    assert [u["id"] for u in list_users(api, acme)] == [a2["id"], a1["id"]]


def test_shared_identity_is_listed_with_each_apps_own_profile(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", displayName="A1", roles=["editor"])
    create_user(api, globex, "alice@example.com", displayName="G1", roles=["viewer"])
    (listed,) = list_users(api, globex)
    assert (listed["id"], listed["displayName"], listed["roles"]) == (alice["id"], "G1", ["viewer"])
    assert list_users(api, globex, "role=editor") == []
