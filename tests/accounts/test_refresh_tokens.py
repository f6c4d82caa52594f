"""Refresh tokens: rotation, reuse detection, revocation and introspection (RFC 7009 / 7662),
isolation between Apps, and one-winner rotation under concurrent use."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from tests.accounts.support import (
    PASSWORD,
    TOKEN_PATH,
    audit_events,
    authorize,
    claims_of,
    create_user,
    declare,
    introspect,
    refresh,
    revoke,
    signed_in,
)
from tests.helpers import problem


@pytest.fixture
def session(api, acme):
    """A signed-in editor of acme (docs.read declared): (user, token response)."""
    declare(api, acme, "docs.read")
    user = create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["editor"])
    return user, signed_in(api, "ed@example.com", PASSWORD, acme.slug)


def test_rotation_returns_a_new_pair_and_the_old_refresh_token_stops(api, acme, session):
    user, first = session
    response = refresh(api, first["refresh_token"])
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    second = response.json()
    assert second["token_type"] == "Bearer"
    assert second["expires_in"] == 900
    assert second["scope"] == "docs.read"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    claims = claims_of(second["access_token"])
    assert claims["sub"] == user["id"]
    assert claims["sid"] == claims_of(first["access_token"])["sid"]  # same session
    assert authorize(api, second["access_token"], "docs.read")["allowed"] is True
    problem(refresh(api, first["refresh_token"]), 400, "invalid_grant")


def test_rotation_accepts_the_rfc6749_form_encoding(api, session):
    _, first = session
    response = refresh(api, first["refresh_token"], form=True)
    assert response.status_code == 200, response.content
    assert response.json()["refresh_token"] != first["refresh_token"]


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(api, acme, session):
    user, first = session
    second = refresh(api, first["refresh_token"]).json()
    third = refresh(api, second["refresh_token"]).json()

    problem(refresh(api, first["refresh_token"]), 400, "invalid_grant")  # reuse
    problem(refresh(api, third["refresh_token"]), 400, "invalid_grant")  # the family is gone
    assert introspect(api, acme, third["refresh_token"]) == {"active": False}

    (event,) = audit_events(api, acme, action="refresh_token.reuse_detected")
    assert event["target"] == {"type": "user", "id": user["id"]}
    assert event["changes"]["session"] == claims_of(first["access_token"])["sid"]
    assert first["refresh_token"] not in json.dumps(event)


def test_reuse_does_not_touch_the_users_other_sessions(api, acme, session):
    _, first = session
    other = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    refresh(api, first["refresh_token"])
    problem(refresh(api, first["refresh_token"]), 400, "invalid_grant")
    assert refresh(api, other["refresh_token"]).status_code == 200


def test_unknown_or_missing_refresh_token(api):
    problem(refresh(api, "hmd_rt_not-a-real-token"), 400, "invalid_grant")
    problem(api.post(TOKEN_PATH, {"grantType": "refresh_token"}), 400, "invalid_request")


def test_revoking_a_refresh_token_via_oauth_revoke(api, acme, session):
    _, first = session
    revoke(api, acme, first["refresh_token"])
    problem(refresh(api, first["refresh_token"]), 400, "invalid_grant")
    assert introspect(api, acme, first["refresh_token"]) == {"active": False}
    assert "refresh_token.revoked" in [e["action"] for e in audit_events(api, acme)]


def test_introspection_of_refresh_tokens(api, acme, session):
    user, first = session
    answer = introspect(api, acme, first["refresh_token"])
    assert answer["active"] is True
    assert answer["token_type"] == "refresh_token"
    assert answer["sub"] == user["id"]
    assert answer["app"] == acme.id
    assert answer["exp"] > answer["iat"]

    second = refresh(api, first["refresh_token"]).json()
    assert introspect(api, acme, first["refresh_token"]) == {"active": False}  # used
    assert introspect(api, acme, second["refresh_token"])["active"] is True
    revoke(api, acme, second["refresh_token"])
    assert introspect(api, acme, second["refresh_token"]) == {"active": False}


def test_refresh_token_is_useless_at_another_apps_introspect_and_revoke(api, acme, globex, session):
    _, first = session
    assert introspect(api, globex, first["refresh_token"]) == {"active": False}
    revoke(api, globex, first["refresh_token"])  # 200 as RFC 7009 requires, but nothing happens
    assert introspect(api, acme, first["refresh_token"])["active"] is True
    assert refresh(api, first["refresh_token"]).status_code == 200
    assert not [e for e in audit_events(api, globex) if e["action"].startswith("refresh_token.")]


def test_refresh_with_another_apps_client_credentials_is_refused(api, globex, session):
    _, first = session
    response = api.post(
        TOKEN_PATH,
        {
            "grantType": "refresh_token",
            "refreshToken": first["refresh_token"],
            "clientId": globex.client_id,
            "clientSecret": globex.client_secret,
        },
    )
    problem(response, 401, "invalid_client")


# ---- concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_rotation_has_exactly_one_winner(api, acme):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers with a database lock; row locking needs PostgreSQL")
    create_user(api, acme, "ed@example.com", password=PASSWORD)
    first = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    workers = 8
    barrier = threading.Barrier(workers)
    body = json.dumps({"grantType": "refresh_token", "refreshToken": first["refresh_token"]})

    def attempt(_: int):
        try:
            client = Client()
            barrier.wait(timeout=10)
            response = client.post(TOKEN_PATH, body, content_type="application/json")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(attempt, range(workers)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (workers - 1), results
    assert all(body["error"] == "invalid_grant" for status, body in results if status == 400)
    (winner,) = [body for status, body in results if status == 200]
    # The losers presented a used token: the family, including the winner's new token, is revoked.
    problem(refresh(api, winner["refresh_token"]), 400, "invalid_grant")
