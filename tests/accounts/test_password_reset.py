"""The operator's password reset: the recovery path for a person whose password only another
App trusts (or who lost it). Only the operator, acting in an App, may do it."""

from __future__ import annotations

from tests.accounts.support import PASSWORD, audit_events, authorize, create_user, refresh, sign_in, signed_in
from tests.helpers import problem

NEW = "an operator-verified passphrase"


def _reset(api, operator, app, user_id, password=NEW):
    return api.post(
        f"/v1/users/{user_id}/password",
        {"newPassword": password},
        token=operator.token,
        headers={"Heimdall-App": app.slug},
    )


def test_operator_reset_password_is_trusted_by_every_app_and_ends_sessions(api, operator, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    create_user(api, globex, "alice@example.com")
    session = signed_in(api, "alice@example.com", PASSWORD, acme.slug)
    problem(sign_in(api, "alice@example.com", PASSWORD, globex.slug), 400, "invalid_grant")

    assert _reset(api, operator, acme, alice["id"]).status_code == 204

    assert sign_in(api, "alice@example.com", NEW, acme.slug).status_code == 200
    assert sign_in(api, "alice@example.com", NEW, globex.slug).status_code == 200
    problem(sign_in(api, "alice@example.com", PASSWORD, acme.slug), 400, "invalid_grant")
    problem(refresh(api, session["refresh_token"]), 400, "invalid_grant")
    assert authorize(api, session["access_token"], "heimdall:users.read")["reason"] == "token_revoked"
    (event,) = [e for e in audit_events(api, acme) if e["action"] == "user.password_reset"]
    assert event["actor"] == {"type": "operator", "id": operator.client_id}
    assert NEW not in str(event)


def test_an_app_admin_cannot_reset_passwords(api, acme):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    problem(
        api.post(f"/v1/users/{alice['id']}/password", {"newPassword": NEW}, token=acme.token),
        403,
        "permission_denied",
    )
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200


def test_reset_is_scoped_to_the_app_the_operator_acts_in(api, operator, acme, globex):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    problem(_reset(api, operator, globex, alice["id"]), 404, "not_found")


def test_reset_refuses_weak_passwords(api, operator, acme):
    alice = create_user(api, acme, "alice@example.com", password=PASSWORD)
    problem(_reset(api, operator, acme, alice["id"], "short"), 422, "weak_password")
    problem(
        api.post(
            f"/v1/users/{alice['id']}/password",
            {"password": NEW},
            token=operator.token,
            headers={"Heimdall-App": acme.slug},
        ),
        400,
        "validation_error",
    )
