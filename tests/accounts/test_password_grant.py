"""The password grant: success shape, refusals that reveal nothing, suspended users and Apps,
malformed requests; and brute-force throttling per identity+App and per IP."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from tests.accounts.support import (
    OTHER_PASSWORD,
    PASSWORD,
    TOKEN_PATH,
    claims_of,
    create_user,
    declare,
    get_user,
    sign_in,
    without_request_id,
)
from tests.helpers import problem


def test_password_grant_returns_tokens_for_the_users_roles(api, make_app):
    app = make_app("ttl-app", settings={"accessTokenTtlSeconds": 600})
    declare(api, app, "docs.read", "docs.write", "billing.read")
    editor = create_user(api, app, "ed@example.com", password=PASSWORD, roles=["viewer"])

    response = sign_in(api, "Ed@Example.com", PASSWORD, app.slug)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "billing.read docs.read"
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]

    claims = claims_of(body["access_token"])
    assert claims["sub"] == editor["id"]
    assert claims["roles"] == ["viewer"]
    assert claims["app"] == app.id
    assert claims["iss"] == f"http://testserver/v1/apps/{app.slug}"
    assert claims["sid"].startswith("ses_")
    assert claims["exp"] - claims["iat"] == 600
    assert claims["scope"] == "billing.read docs.read"
    assert get_user(api, app, editor["id"])["lastLoginAt"] is not None


def test_password_grant_accepts_the_rfc6749_form_encoding(api, acme):
    declare(api, acme, "docs.read")
    user = create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["editor"])
    response = sign_in(api, "ed@example.com", PASSWORD, acme.slug, form=True)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expires_in"] == 900
    assert body["scope"] == "docs.read"
    assert claims_of(body["access_token"])["sub"] == user["id"]


def test_refusals_that_must_not_reveal_anything_have_identical_bodies(api, acme, globex):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    create_user(api, globex, "bob@example.com", password=OTHER_PASSWORD)
    attempts = {
        "wrong password": sign_in(api, "alice@example.com", "not the right password", acme.slug),
        "unknown email": sign_in(api, "nobody@example.com", PASSWORD, acme.slug),
        "non-member": sign_in(api, "bob@example.com", OTHER_PASSWORD, acme.slug),
        "unknown app": sign_in(api, "alice@example.com", PASSWORD, "no-such-app"),
    }
    bodies = {}
    for case, response in attempts.items():
        body = problem(response, 400, "invalid_grant")
        assert body["error"] == "invalid_grant", case
        assert body["error_description"], case
        assert "access_token" not in body
        bodies[case] = without_request_id(body)
    reference = bodies["wrong password"]
    for case, body in bodies.items():
        assert body == reference, case
    assert len({r["Content-Type"] for r in attempts.values()}) == 1


def test_suspended_user_with_the_correct_password_is_refused(api, acme):
    user = create_user(api, acme, "s@example.com", password=PASSWORD)
    assert api.post(f"/v1/users/{user['id']}/suspend", token=acme.token).status_code == 200
    body = problem(sign_in(api, "s@example.com", PASSWORD, acme.slug), 400, "invalid_grant")
    assert body["error"] == "invalid_grant"


def test_nobody_signs_in_to_a_suspended_app(api, acme, operator):
    create_user(api, acme, "u@example.com", password=PASSWORD)
    response = api.patch(f"/v1/apps/{acme.slug}", {"status": "suspended"}, token=operator.token)
    assert response.status_code == 200, response.content
    response = sign_in(api, "u@example.com", PASSWORD, acme.slug)
    problem(response, 400, "invalid_grant")
    assert "access_token" not in response.json()


@pytest.mark.parametrize("missing", ["username", "password", "app", "all"], ids=lambda m: f"without-{m}")
def test_password_grant_with_missing_fields_is_invalid_request(api, acme, missing):
    params = {"grantType": "password", "username": "a@example.com", "password": PASSWORD, "app": acme.slug}
    if missing == "all":
        params = {"grantType": "password"}
    else:
        del params[missing]
    response = api.post(TOKEN_PATH, params)
    body = problem(response, 400, "invalid_request")
    assert body["error"] == "invalid_request"


def test_password_grant_with_non_string_fields_is_invalid_request(api, acme):
    for field, value in (("username", ["a@example.com"]), ("password", 12345678901), ("app", {"slug": "x"})):
        params = {
            "grantType": "password",
            "username": "a@example.com",
            "password": PASSWORD,
            "app": acme.slug,
        }
        params[field] = value
        problem(api.post(TOKEN_PATH, params), 400, "invalid_request")


# ---- throttling -------------------------------------------------------------------------------


def _assert_throttled(response):
    body = problem(response, 429, "too_many_attempts")
    assert body["error"] == body["code"] == "too_many_attempts"
    retry_after = response["Retry-After"]
    assert retry_after.isdigit() and 0 < int(retry_after) <= 900, retry_after
    assert "access_token" not in body
    return body


def test_eleventh_attempt_is_throttled_even_with_the_correct_password(api, acme, globex):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    create_user(api, globex, "alice@example.com")
    for attempt in range(10):
        response = sign_in(api, "alice@example.com", f"wrong password {attempt}", acme.slug)
        assert response.status_code == 400, (attempt, response.content)
        assert response.json()["error"] == "invalid_grant"
    _assert_throttled(sign_in(api, "alice@example.com", PASSWORD, acme.slug))
    _assert_throttled(sign_in(api, "ALICE@example.com", PASSWORD, acme.slug))
    # The limit is per identity *and App*: globex still answers (400: acme's admin-set password
    # is not trusted there), not 429.
    problem(sign_in(api, "alice@example.com", PASSWORD, globex.slug), 400, "invalid_grant")


def test_unknown_email_is_throttled_exactly_like_a_known_one(api, acme):
    for attempt in range(10):
        response = sign_in(api, "ghost@example.com", f"guess {attempt}", acme.slug)
        assert response.status_code == 400, (attempt, response.content)
        assert response.json()["error"] == "invalid_grant"
    _assert_throttled(sign_in(api, "ghost@example.com", "guess 10", acme.slug))


def test_successful_sign_in_resets_the_identity_counter(api, acme):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    for attempt in range(9):
        assert sign_in(api, "alice@example.com", f"wrong {attempt}", acme.slug).status_code == 400
    assert sign_in(api, "alice@example.com", PASSWORD, acme.slug).status_code == 200
    for attempt in range(9):
        response = sign_in(api, "alice@example.com", f"wrong again {attempt}", acme.slug)
        assert response.status_code == 400, (attempt, response.content)


def test_per_ip_limit_throttles_many_emails_from_one_address_only(api, acme):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    with override_settings(HEIMDALL={**settings.HEIMDALL, "LOGIN_MAX_FAILURES_PER_IP": 5}):
        for attempt in range(5):
            response = sign_in(api, f"user{attempt}@example.com", "guess guess", acme.slug, ip="10.0.0.9")
            assert response.status_code == 400, (attempt, response.content)
        _assert_throttled(sign_in(api, "user5@example.com", "guess guess", acme.slug, ip="10.0.0.9"))
        # The IP is throttled for everyone, whatever the email and password.
        _assert_throttled(sign_in(api, "alice@example.com", PASSWORD, acme.slug, ip="10.0.0.9"))
        # Another address is not.
        problem(
            sign_in(api, "user6@example.com", "guess guess", acme.slug, ip="10.0.0.10"), 400, "invalid_grant"
        )
        assert sign_in(api, "alice@example.com", PASSWORD, acme.slug, ip="10.0.0.10").status_code == 200


def test_throttled_answer_is_the_same_for_known_and_unknown_emails(api, acme):
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    for email in ("alice@example.com", "ghost@example.com"):
        for attempt in range(10):
            assert sign_in(api, email, f"wrong {attempt}", acme.slug).status_code == 400
    known = _assert_throttled(sign_in(api, "alice@example.com", PASSWORD, acme.slug))
    unknown = _assert_throttled(sign_in(api, "ghost@example.com", PASSWORD, acme.slug))
    assert set(known) == set(unknown)
    assert (known["title"], known["type"]) == (unknown["title"], unknown["type"])


def test_form_and_json_attempts_count_together(api, acme):
    for attempt in range(10):
        response = sign_in(api, "ghost@example.com", f"guess {attempt}", acme.slug, form=attempt % 2 == 0)
        assert response.status_code == 400, (attempt, response.content)
    _assert_throttled(sign_in(api, "ghost@example.com", "guess", acme.slug, form=True))


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_cannot_exceed_the_limit(api, acme):
    """Attempts are counted before the (slow) password check, so a burst of parallel guesses
    gets no more than the limit's worth of answers from the password check."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers with a database lock; concurrency needs PostgreSQL")
    create_user(api, acme, "alice@example.com", password=PASSWORD)
    workers = 16
    barrier = threading.Barrier(workers)

    def attempt(n: int):
        try:
            client = Client()
            body = json.dumps(
                {
                    "grantType": "password",
                    "username": "alice@example.com",
                    "password": f"guess {n}",
                    "app": acme.slug,
                }
            )
            barrier.wait(timeout=10)
            response = client.post("/v1/oauth/token", body, content_type="application/json")
            return response.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(attempt, range(workers)))
    assert set(statuses) <= {400, 429}, statuses
    assert statuses.count(400) <= 10, statuses
