"""POST /v1/users/{id}/password: an App admin (within their ceiling) or an operator acting in the
App sets a member's password in that App only, and the member's sessions there end."""

from __future__ import annotations

from tests.accounts.support import PASSWORD, audit_events, authorize, create_user, refresh, sign_in, signed_in
from tests.helpers import problem
from tests.tokens.support import new_client

NEW = "an admin-chosen passphrase"


def _set(api, token, user_id, password=NEW, headers=None):
    return api.post(f"/v1/users/{user_id}/password", {"password": password}, token=token, headers=headers)


def test_admin_sets_password_in_this_app_only_and_ends_sessions_here(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    create_user(api, globex, "alice@example.com", password="globex own passphrase")
    acme_session = signed_in(api, "alice@example.com", PASSWORD, acme.slug)
    globex_session = signed_in(api, "alice@example.com", "globex own passphrase", globex.slug)

    assert _set(api, acme.token, alice["id"]).status_code == 204

    assert sign_in(api, "alice@example.com", NEW, acme.slug).status_code == 200
    problem(sign_in(api, "alice@example.com", PASSWORD, acme.slug), 400, "invalid_grant")
    # Globex: its own password still works, the new one does not, its session lives on.
    problem(sign_in(api, "alice@example.com", NEW, globex.slug), 400, "invalid_grant")
    assert sign_in(api, "alice@example.com", "globex own passphrase", globex.slug).status_code == 200
    assert refresh(api, globex_session["refresh_token"]).status_code == 200
    # Acme's old session ended at once.
    problem(refresh(api, acme_session["refresh_token"]), 400, "invalid_grant")
    assert authorize(api, acme_session["access_token"], "heimdall:users.read")["reason"] == "token_revoked"
    (event,) = [e for e in audit_events(api, acme) if e["action"] == "user.password_reset"]
    assert event["actor"] == {"type": "client", "id": acme.client_id}
    assert NEW not in str(event)


def test_operator_acting_in_the_app_sets_a_password(api, operator, acme):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    response = _set(api, operator.token, alice["id"], headers={"Heimdall-App": acme.slug})
    assert response.status_code == 204, response.content
    assert sign_in(api, "alice@example.com", NEW, acme.slug).status_code == 200
    (event,) = [e for e in audit_events(api, acme) if e["action"] == "user.password_reset"]
    assert event["actor"] == {"type": "operator", "id": operator.client_id}


def test_setting_a_password_needs_users_write_and_the_ceiling(api, acme):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD, roles=["admin"])
    bob = create_user(api, acme, "bob@example.com", password=PASSWORD)
    reader = new_client(api, acme, permissions=["heimdall:users.read"])
    reader_token = api.client_token(reader["clientId"], reader["clientSecret"])
    problem(_set(api, reader_token, bob["id"]), 403, "permission_denied")
    writer = new_client(api, acme, permissions=["heimdall:users.write", "heimdall:users.read"])
    writer_token = api.client_token(writer["clientId"], writer["clientSecret"])
    # Alice holds admin, more than the writer: it cannot take over her account.
    problem(_set(api, writer_token, alice["id"]), 403, "permission_denied")
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200
    assert _set(api, writer_token, bob["id"]).status_code == 204


def test_another_apps_member_is_404(api, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    problem(_set(api, globex.token, alice["id"]), 404, "not_found")
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200


def test_weak_or_misnamed_passwords_are_refused(api, acme):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    problem(_set(api, acme.token, alice["id"], "short"), 422, "weak_password")
    problem(api.post(f"/v1/users/{alice['id']}/password", {"newPassword": NEW}, token=acme.token), 400, "validation_error")
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200
