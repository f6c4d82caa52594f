"""Invites through the HTTP API: create, list, get, revoke, lookup, accept (public and with a
bearer token), every refusal, audit events, and isolation between Apps."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from core.context import system_scope
from invites.models import Invite
from tests.accounts.support import PASSWORD, audit_events, authorize, create_user, refresh, sign_in, signed_in
from tests.helpers import problem
from tests.tokens.support import declare, new_client, new_role

JOIN_PASSWORD = "a joining passphrase"


def make_invite(api, app, **body: Any) -> dict[str, Any]:
    body.setdefault("role", "viewer")
    response = api.post("/v1/invites", body, token=app.token)
    assert response.status_code == 201, response.content
    return response.json()


def accept(api, token, email=None, password=JOIN_PASSWORD, bearer=None, **extra):
    body: dict[str, Any] = {"token": token, "password": password, **extra}
    if email is not None:
        body["email"] = email
    return api.post("/v1/invites/accept", body, token=bearer)


# ---- create, list, get, revoke --------------------------------------------------------------------


def test_create_returns_the_token_once_with_defaults(api, acme):
    before = timezone.now()
    invite = make_invite(api, acme)
    assert invite["id"].startswith("inv_")
    assert invite["token"].startswith("hmd_inv_") and len(invite["token"]) > 40
    assert (invite["role"], invite["email"], invite["maxUses"], invite["uses"], invite["status"]) == (
        "viewer",
        None,
        1,
        0,
        "pending",
    )
    assert invite["url"] is None
    expires = timezone.datetime.fromisoformat(invite["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(days=7) - timedelta(seconds=5) < expires - before < timedelta(days=7, seconds=5)
    # never shown again, never stored in clear
    listed = api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()
    assert "token" not in listed
    with system_scope(reason="test: inspects rows across Apps"):
        assert invite["token"] not in str(list(Invite.objects.values()))


def test_create_gives_the_accept_url_from_the_app_template(api, acme):
    template = "https://app.example.com/join?token={token}"
    assert api.patch("/v1/app", {"settings": {"inviteUrlTemplate": template}}, token=acme.token).status_code == 200
    invite = make_invite(api, acme)
    assert invite["url"] == f"https://app.example.com/join?token={invite['token']}"


@pytest.mark.parametrize(
    "template", ["https://app.example.com/join", "javascript:alert({token})", "http://evil.example/{token}", 3]
)
def test_bad_invite_url_templates_are_refused(api, acme, template):
    problem(api.patch("/v1/app", {"settings": {"inviteUrlTemplate": template}}, token=acme.token), 400, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"role": "viewer", "expiresInSeconds": 30 * 86_400 + 1},
        {"role": "viewer", "expiresInSeconds": 0},
        {"role": "viewer", "maxUses": 0},
        {"role": "viewer", "maxUses": 1001},
        {"role": "viewer", "maxUses": True},
        {"role": "viewer", "email": "not an email"},
        {"role": "viewer", "extra": 1},
        {},
    ],
)
def test_invalid_create_is_400_and_creates_nothing(api, acme, body):
    problem(api.post("/v1/invites", body, token=acme.token), 400, "validation_error")
    assert api.get("/v1/invites", token=acme.token).json()["data"] == []


def test_unknown_role_is_422(api, acme):
    problem(api.post("/v1/invites", {"role": "nope"}, token=acme.token), 422, "unknown_role")


def test_only_a_role_the_caller_could_grant_itself(api, acme):
    declare(api, acme, "docs.read")
    new_role(api, acme, "reader", ["docs.read"])
    inviter = new_client(api, acme, permissions=["heimdall:invites.write", "heimdall:invites.read"])
    token = api.client_token(inviter["clientId"], inviter["clientSecret"])
    problem(api.post("/v1/invites", {"role": "admin"}, token=token), 403, "permission_denied")
    problem(api.post("/v1/invites", {"role": "reader"}, token=token), 403, "permission_denied")
    holder = new_client(api, acme, permissions=["heimdall:invites.write", "docs.read"])
    holder_token = api.client_token(holder["clientId"], holder["clientSecret"])
    assert api.post("/v1/invites", {"role": "reader"}, token=holder_token).status_code == 201


def test_list_filters_and_derived_status(api, acme):
    pending = make_invite(api, acme, email="P@Example.com")
    revoked = make_invite(api, acme, role="editor")
    assert api.delete(f"/v1/invites/{revoked['id']}", token=acme.token).status_code == 204
    expired = make_invite(api, acme)
    with system_scope(reason="test: inspects rows across Apps"):
        Invite.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    exhausted = make_invite(api, acme)
    assert accept(api, exhausted["token"], "x@example.com").status_code == 201

    def ids(query=""):
        response = api.get(f"/v1/invites{query}", token=acme.token)
        assert response.status_code == 200, response.content
        return [i["id"] for i in response.json()["data"]]

    assert ids() == [exhausted["id"], expired["id"], revoked["id"], pending["id"]]
    for status, invite in [("pending", pending), ("revoked", revoked), ("expired", expired), ("exhausted", exhausted)]:
        assert ids(f"?status={status}") == [invite["id"]]
        assert api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()["status"] == status
    assert ids("?role=editor") == [revoked["id"]]
    assert ids("?email=p@example.com") == [pending["id"]]
    assert pending["email"] == "p@example.com"
    problem(api.get("/v1/invites?status=nope", token=acme.token), 400, "validation_error")
    page = api.get("/v1/invites?limit=2", token=acme.token).json()
    assert len(page["data"]) == 2 and page["nextCursor"]
    rest = api.get(f"/v1/invites?limit=2&cursor={page['nextCursor']}", token=acme.token).json()
    assert [i["id"] for i in rest["data"]] == [revoked["id"], pending["id"]]


def test_revoke_is_idempotent_and_audited_once(api, acme):
    invite = make_invite(api, acme)
    assert api.delete(f"/v1/invites/{invite['id']}", token=acme.token).status_code == 204
    assert api.delete(f"/v1/invites/{invite['id']}", token=acme.token).status_code == 204
    problem(accept(api, invite["token"], "r@example.com"), 410, "invite_revoked")
    actions = [e["action"] for e in audit_events(api, acme) if e["action"].startswith("invite.")]
    assert actions.count("invite.revoked") == 1


def test_permissions_are_required(api, acme):
    reader = new_client(api, acme, permissions=["heimdall:invites.read"])
    token = api.client_token(reader["clientId"], reader["clientSecret"])
    problem(api.post("/v1/invites", {"role": "viewer"}, token=token), 403, "permission_denied")
    invite = make_invite(api, acme)
    problem(api.delete(f"/v1/invites/{invite['id']}", token=token), 403, "permission_denied")
    assert api.get("/v1/invites", token=token).status_code == 200
    nobody = new_client(api, acme, permissions=[])
    nobody_token = api.client_token(nobody["clientId"], nobody["clientSecret"])
    problem(api.get("/v1/invites", token=nobody_token), 403, "permission_denied")
    problem(api.get("/v1/invites"), 401, "invalid_token")


# ---- lookup ------------------------------------------------------------------------------------


def test_lookup_reveals_only_what_an_invitee_needs(api, acme):
    invite = make_invite(api, acme, email="bound@example.com")
    response = api.get(f"/v1/invites/lookup?token={invite['token']}")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "app": {"displayName": "Acme-Corp"},
        "role": "viewer",
        "emailRequired": True,
        "expiresAt": invite["expiresAt"],
    }
    problem(api.get("/v1/invites/lookup?token=hmd_inv_unknown"), 404, "not_found")
    problem(api.get("/v1/invites/lookup"), 404, "not_found")


# ---- accept ------------------------------------------------------------------------------------


def test_public_accept_creates_a_member_signed_in_with_a_refresh_token(api, acme):
    declare(api, acme, "docs.read")
    invite = make_invite(api, acme)
    response = accept(api, invite["token"], "New@Example.com", displayName="Newcomer")
    assert response.status_code == 201, response.content
    tokens = response.json()
    assert set(tokens) >= {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    answer = authorize(api, tokens["access_token"], "docs.read")
    assert (answer["allowed"], answer["role"]) == (True, "viewer")
    users = api.get("/v1/users?email=new@example.com", token=acme.token).json()["data"]
    assert [(u["displayName"], u["roles"]) for u in users] == [("Newcomer", ["viewer"])]
    assert refresh(api, tokens["refresh_token"]).status_code == 200
    assert sign_in(api, "new@example.com", JOIN_PASSWORD, acme.slug).status_code == 200
    assert api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()["uses"] == 1
    (event,) = [e for e in audit_events(api, acme) if e["action"] == "invite.accepted"]
    assert event["target"] == {"type": "user", "id": users[0]["id"]}
    assert invite["token"] not in str(audit_events(api, acme))
    assert JOIN_PASSWORD not in str(audit_events(api, acme))


def test_a_person_known_elsewhere_joins_with_this_apps_own_password_same_answer(api, acme, globex):
    create_user(api, globex, "known@example.com", password=PASSWORD)
    first, second = make_invite(api, acme), make_invite(api, acme)
    known = accept(api, first["token"], "known@example.com")
    fresh = accept(api, second["token"], "fresh@example.com")
    assert known.status_code == fresh.status_code == 201
    assert set(known.json()) == set(fresh.json())
    assert sign_in(api, "known@example.com", JOIN_PASSWORD, acme.slug).status_code == 200
    # globex's password is untouched and opens only globex
    assert sign_in(api, "known@example.com", PASSWORD, globex.slug).status_code == 200
    problem(sign_in(api, "known@example.com", JOIN_PASSWORD, globex.slug), 400, "invalid_grant")
    problem(sign_in(api, "known@example.com", PASSWORD, acme.slug), 400, "invalid_grant")


def test_a_member_of_another_app_joins_with_a_bearer_token(api, acme, globex):
    create_user(api, globex, "g@example.com", password=PASSWORD)
    session = signed_in(api, "g@example.com", PASSWORD, globex.slug)
    invite = make_invite(api, acme, email="g@example.com")
    response = accept(api, invite["token"], bearer=session["access_token"])
    assert response.status_code == 201, response.content
    assert sign_in(api, "g@example.com", JOIN_PASSWORD, acme.slug).status_code == 200
    # With a bearer token the email comes from the token: an email in the body is refused.
    other = make_invite(api, acme)
    problem(accept(api, other["token"], "g@example.com", bearer=session["access_token"]), 400, "validation_error")
    # A client token cannot accept for anyone.
    problem(accept(api, other["token"], bearer=globex.token), 403, "permission_denied")


def test_bound_invite_refuses_another_email_normalized_like_sign_in(api, acme):
    invite = make_invite(api, acme, email="Bound@Example.com")
    problem(accept(api, invite["token"], "other@example.com"), 403, "invite_email_mismatch")
    assert api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()["uses"] == 0
    assert accept(api, invite["token"], "  BOUND@example.COM ").status_code == 201
    refused = [e for e in audit_events(api, acme) if e["action"] == "invite.accept_refused"]
    assert [e["changes"]["reason"] for e in refused] == ["invite_email_mismatch"]


def test_already_member_is_409_and_consumes_no_use(api, acme):
    create_user(api, acme, "member@example.com", password=PASSWORD)
    invite = make_invite(api, acme)
    problem(accept(api, invite["token"], "member@example.com"), 409, "already_member")
    assert api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()["uses"] == 0
    session = signed_in(api, "member@example.com", PASSWORD, acme.slug)
    problem(accept(api, invite["token"], bearer=session["access_token"]), 409, "already_member")
    assert sign_in(api, "member@example.com", PASSWORD, acme.slug).status_code == 200  # password untouched


def test_expired_exhausted_and_revoked_are_410(api, acme):
    expired = make_invite(api, acme)
    with system_scope(reason="test: inspects rows across Apps"):
        Invite.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    problem(accept(api, expired["token"], "a@example.com"), 410, "invite_expired")
    problem(api.get(f"/v1/invites/lookup?token={expired['token']}"), 410, "invite_expired")
    used = make_invite(api, acme)
    assert accept(api, used["token"], "b@example.com").status_code == 201
    problem(accept(api, used["token"], "c@example.com"), 410, "invite_exhausted")
    revoked = make_invite(api, acme)
    api.delete(f"/v1/invites/{revoked['id']}", token=acme.token)
    problem(accept(api, revoked["token"], "d@example.com"), 410, "invite_revoked")
    assert [u["email"] for u in api.get("/v1/users", token=acme.token).json()["data"]] == ["b@example.com"]


def test_unknown_token_is_404_and_weak_password_is_422(api, acme):
    problem(accept(api, "hmd_inv_" + "x" * 43, "a@example.com"), 404, "not_found")
    problem(accept(api, "garbage", "a@example.com"), 404, "not_found")
    invite = make_invite(api, acme)
    problem(accept(api, invite["token"], "a@example.com", password="password123"), 422, "weak_password")
    problem(accept(api, invite["token"]), 400, "validation_error")  # no email, no bearer
    assert api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()["uses"] == 0


def test_accept_and_lookup_are_throttled_per_ip(api, acme):
    with override_settings(HEIMDALL={**settings.HEIMDALL, "LOGIN_MAX_FAILURES_PER_IP": 3}):
        for _ in range(3):
            problem(accept(api, "hmd_inv_" + "y" * 43, "a@example.com"), 404, "not_found")
        problem(accept(api, "hmd_inv_" + "y" * 43, "a@example.com"), 429, "too_many_attempts")
        for _ in range(3):
            problem(api.get("/v1/invites/lookup?token=hmd_inv_zz"), 404, "not_found")
        response = api.get("/v1/invites/lookup?token=hmd_inv_zz")
        problem(response, 429, "too_many_attempts")
        assert int(response["Retry-After"]) > 0


def test_suspended_app_invites_cannot_be_accepted(api, operator, acme):
    invite = make_invite(api, acme)
    api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)
    problem(accept(api, invite["token"], "s@example.com"), 403, "app_suspended")


# ---- isolation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_another_apps_invite_is_404(api, acme, globex, method):
    invite = make_invite(api, acme)
    problem(api.request(method, f"/v1/invites/{invite['id']}", token=globex.token), 404, "not_found")
    assert api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()["status"] == "pending"
    assert api.get("/v1/invites", token=globex.token).json()["data"] == []
    assert not [e for e in audit_events(api, globex) if e["action"].startswith("invite.")]


# ---- concurrency (one process, several threads; the cross-process case is in tests/multiprocess)


@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_never_exceed_max_uses(api, acme):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serializes writers, tested by the same code path)")
    invite = make_invite(api, acme, maxUses=3)
    results: list[int] = []
    barrier = threading.Barrier(10)

    def run(n: int) -> None:
        from tests.helpers import Api

        client = Api()
        barrier.wait()
        results.append(accept(client, invite["token"], f"c{n}@example.com").status_code)
        connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201] * 3 + [410] * 7
    assert api.get(f"/v1/invites/{invite['id']}", token=acme.token).json()["uses"] == 3
    assert len(api.get("/v1/users", token=acme.token).json()["data"]) == 3
