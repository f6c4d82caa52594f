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
    signed_in,
)
from tests.helpers import problem

OWN_PASSWORD = "a passphrase only alice knows"

def test_existing_identity_joins_another_app_with_its_own_password_and_profile(api, acme, globex):
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
    # Each App has its own id for the person: Apps cannot correlate their users by id.
    assert joined["id"] != alice["id"] and joined["id"].startswith("usr_")
    assert joined["email"] == "alice@example.com"
    assert (joined["displayName"], joined["roles"], joined["metadata"]) == ("G1", ["viewer"], {"tier": "gold"})
    # Credentials are per App: each password opens its own App, never the other.
    assert sign_in(api, "alice@example.com", OTHER_PASSWORD, globex.slug).status_code == 200
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200
    problem(sign_in(api, "alice@example.com", PASSWORD, globex.slug), 400, "invalid_grant")
    problem(sign_in(api, "alice@example.com", OTHER_PASSWORD, acme.slug), 400, "invalid_grant")
    seen_by_acme = get_user(api, acme, alice["id"])
    assert (seen_by_acme["displayName"], seen_by_acme["roles"], seen_by_acme["metadata"]) == ("A1", [], {})


def test_changing_a_password_in_one_app_leaves_the_other_apps_password(api, acme, globex):
    create_user(api, acme, "bob@example.com", password=PASSWORD)
    create_user(api, globex, "bob@example.com", password=OTHER_PASSWORD)
    session = signed_in(api, "bob@example.com", PASSWORD, acme.slug)
    response = api.post(
        "/v1/me/password",
        {"currentPassword": PASSWORD, "newPassword": "bob's new acme passphrase"},
        token=session["access_token"],
    )
    assert response.status_code == 204, response.content
    assert sign_in(api, "bob@example.com", "bob's new acme passphrase", acme.slug).status_code == 200
    problem(sign_in(api, "bob@example.com", "bob's new acme passphrase", globex.slug), 400, "invalid_grant")
    assert sign_in(api, "bob@example.com", OTHER_PASSWORD, globex.slug).status_code == 200


def test_a_removed_members_password_does_not_come_back(api, acme, globex):
    user = create_user(api, acme, "carol@example.com", password=PASSWORD)
    create_user(api, globex, "carol@example.com")
    assert api.delete(f"/v1/users/{user['id']}", token=acme.token).status_code == 204
    # re-added to acme later, acme's old password is gone rather than silently back in force
    create_user(api, acme, "carol@example.com")
    problem(sign_in(api, "carol@example.com", PASSWORD, acme.slug), 400, "invalid_grant")


def test_an_app_cannot_take_over_a_person_by_registering_them_first(api, acme, globex):
    """globex registers victim@corp.com with a password it knows; acme later adds the same person
    as its admin with its own password. globex's password must not open acme."""
    create_user(api, globex, "victim@corp.com", password=OTHER_PASSWORD)
    create_user(api, acme, "victim@corp.com", password=PASSWORD, roles=["admin"])
    problem(sign_in(api, "victim@corp.com", OTHER_PASSWORD, acme.slug), 400, "invalid_grant")
    assert sign_in(api, "victim@corp.com", PASSWORD, acme.slug).status_code == 200
    assert sign_in(api, "victim@corp.com", OTHER_PASSWORD, globex.slug).status_code == 200


def test_registering_a_known_email_with_a_password_works_like_a_new_one(api, acme, globex):
    """The first App to register an email locks nobody else out of password sign-in, and the
    second App learns nothing: same 201 shape, and its password works."""
    create_user(api, acme, "known@example.com", password=PASSWORD)
    known = create_user(api, globex, "known@example.com", password=OTHER_PASSWORD)
    fresh = create_user(api, globex, "fresh@example.com", password=OTHER_PASSWORD)
    assert set(known) == set(fresh)
    assert sign_in(api, "known@example.com", OTHER_PASSWORD, globex.slug).status_code == 200
    assert sign_in(api, "fresh@example.com", OTHER_PASSWORD, globex.slug).status_code == 200


def test_creating_a_user_answers_the_same_whether_or_not_the_email_exists_elsewhere(api, acme, globex):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    known = problem(
        api.post("/v1/users", {"email": "alice@example.com", "password": "short"}, token=globex.token),
        422,
        "weak_password",
    )
    unknown = problem(
        api.post("/v1/users", {"email": "nobody@example.com", "password": "short"}, token=globex.token),
        422,
        "weak_password",
    )
    known.pop("requestId"), unknown.pop("requestId")
    assert known == unknown
    assert list_users(api, globex) == []


def test_profile_changes_in_one_app_are_invisible_to_another(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", displayName="A1", metadata={"a": 1})
    alice_g = create_user(api, globex, "alice@example.com", displayName="G1")
    response = api.patch(
        f"/v1/users/{alice_g['id']}", {"displayName": "G2", "metadata": {"g": 2}}, token=globex.token
    )
    assert response.status_code == 200, response.content
    assert response.json()["displayName"] == "G2"
    seen_by_acme = get_user(api, acme, alice["id"])
    assert seen_by_acme["displayName"] == "A1"
    assert seen_by_acme["metadata"] == {"a": 1}
    assert [e["action"] for e in audit_events(api, acme, targetId=alice["id"])] == ["user.created"]
    # and no event of acme's names globex's id for her
    assert audit_events(api, acme, targetId=alice_g["id"]) == []


def test_suspending_or_deleting_in_one_app_leaves_the_other_membership_alone(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD, displayName="A1")
    alice_g = create_user(api, globex, "alice@example.com", displayName="G1", password=OWN_PASSWORD)

    assert api.post(f"/v1/users/{alice_g['id']}/suspend", token=globex.token).status_code == 200
    assert get_user(api, acme, alice["id"])["status"] == "active"
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200
    problem(sign_in(api, "alice@example.com", OWN_PASSWORD, globex.slug), 400, "invalid_grant")

    assert api.delete(f"/v1/users/{alice_g['id']}", token=globex.token).status_code == 204
    problem(api.get(f"/v1/users/{alice_g['id']}", token=globex.token), 404, "not_found")
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
    create_user(api, acme, "alice@example.com", displayName="A1", roles=["editor"])
    alice_g = create_user(api, globex, "alice@example.com", displayName="G1", roles=["viewer"])
    (listed,) = list_users(api, globex)
    assert (listed["id"], listed["displayName"], listed["roles"]) == (alice_g["id"], "G1", ["viewer"])
    assert list_users(api, globex, "role=editor") == []
