"""Security review findings on password sign-in: the client is checked before the password,
refused usernames are not stored verbatim, and the per-IP limit counts per App."""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings

from tests.accounts.support import PASSWORD, audit_events, create_user, sign_in
from tests.helpers import basic, problem
from tests.tokens.support import new_client

TOKEN_PATH = "/v1/oauth/token"


def _sign_in_with_client(api, email, password, app_slug, client_id, secret):
    return api.post(
        TOKEN_PATH,
        form={"grant_type": "password", "username": email, "password": password, "app": app_slug},
        headers={"Authorization": basic(client_id, secret)},
    )


def test_bogus_client_credentials_learn_nothing_about_the_password(api, acme):
    """Before: a wrong password answered 400 invalid_grant and the right one 401 invalid_client."""
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    client = new_client(api, acme)
    right = _sign_in_with_client(api, "alice@example.com", PASSWORD, acme.slug, client["clientId"], "hmd_cs_wrong")
    wrong = _sign_in_with_client(api, "alice@example.com", "not it at all", acme.slug, client["clientId"], "hmd_cs_wrong")
    a, b = problem(right, 401, "invalid_client"), problem(wrong, 401, "invalid_client")
    assert {k: v for k, v in a.items() if k != "requestId"} == {k: v for k, v in b.items() if k != "requestId"}
    # Neither attempt reached the password: no sign-in of any kind was recorded.
    assert not [e for e in audit_events(api, acme) if e["action"].startswith("user.login")]
    # With the real secret, the sign-in works.
    good = _sign_in_with_client(api, "alice@example.com", PASSWORD, acme.slug, client["clientId"], client["clientSecret"])
    assert good.status_code == 200, good.content


def test_a_client_of_another_app_is_refused_before_the_password(api, acme, globex):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    foreign = new_client(api, globex)
    response = _sign_in_with_client(
        api, "alice@example.com", PASSWORD, acme.slug, foreign["clientId"], foreign["clientSecret"]
    )
    problem(response, 401, "invalid_client")
    assert not [e for e in audit_events(api, acme) if e["action"].startswith("user.login")]


def test_a_non_email_username_is_not_stored_verbatim(api, acme):
    """Someone types their password into the username field: it must not land in the audit log."""
    typed = "MySecretPassphrase!2026"
    problem(sign_in(api, typed, PASSWORD, acme.slug), 400, "invalid_grant")
    (event,) = [e for e in audit_events(api, acme) if e["action"] == "user.login_failed"]
    assert typed not in str(event) and typed.lower() not in str(event)
    assert event["changes"]["email"] is None
    assert len(event["changes"]["usernameDigest"]) == 16
    # The same typed username gives the same digest (failures can still be correlated).
    problem(sign_in(api, typed, PASSWORD, acme.slug), 400, "invalid_grant")
    digests = {e["changes"]["usernameDigest"] for e in audit_events(api, acme) if e["action"] == "user.login_failed"}
    assert len(digests) == 1


def test_the_per_ip_limit_counts_per_app(api, acme, globex):
    """Behind a proxy every request may share one address: one App's failures must not lock
    password sign-in for every other App."""
    create_user(api, acme, "a@example.com", password=PASSWORD)
    create_user(api, globex, "g@example.com", password=PASSWORD)
    with override_settings(HEIMDALL={**settings.HEIMDALL, "LOGIN_MAX_FAILURES_PER_IP": 3}):
        for n in range(3):
            problem(sign_in(api, f"x{n}@example.com", "wrong password!", acme.slug, ip="10.1.1.1"), 400, "invalid_grant")
        problem(sign_in(api, "a@example.com", PASSWORD, acme.slug, ip="10.1.1.1"), 429, "too_many_attempts")
        # Another App, same address: unaffected.
        assert sign_in(api, "g@example.com", PASSWORD, globex.slug, ip="10.1.1.1").status_code == 200
