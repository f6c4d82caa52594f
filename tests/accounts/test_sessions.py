"""Sessions (refresh-token families): narrowed scope holds, ends reach access tokens, refresh tokens
stay with the client they were issued to, and password changes are throttled."""

from __future__ import annotations

import pytest

from tests.accounts.support import (
    PASSWORD,
    audit_events,
    authorize,
    create_user,
    declare,
    refresh,
    revoke,
    signed_in,
)
from tests.helpers import basic, problem


@pytest.fixture
def editor(api, acme):
    declare(api, acme, "docs.read", "docs.write")
    create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["editor"])
    return signed_in(api, "ed@example.com", PASSWORD, acme.slug)


def test_refresh_never_widens_a_narrowed_scope(api, acme, editor):
    narrow = api.post(
        "/v1/oauth/token",
        {
            "grantType": "password",
            "username": "ed@example.com",
            "password": PASSWORD,
            "app": acme.slug,
            "scope": "docs.read",
        },
    )
    assert narrow.status_code == 200, narrow.content
    refreshed = refresh(api, narrow.json()["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["scope"] == "docs.read"
    assert (
        authorize(api, refreshed.json()["access_token"], "docs.write")["reason"] == "permission_not_granted"
    )
    # asking for more on refresh is refused
    again = api.post(
        "/v1/oauth/token",
        {
            "grantType": "refresh_token",
            "refreshToken": refreshed.json()["refresh_token"],
            "scope": "docs.read docs.write",
        },
    )
    problem(again, 400, "invalid_scope")


def test_reuse_detection_ends_the_sessions_access_tokens_too(api, acme, editor):
    rotated = refresh(api, editor["refresh_token"]).json()
    assert authorize(api, rotated["access_token"], "docs.read")["allowed"] is True
    problem(refresh(api, editor["refresh_token"]), 400, "invalid_grant")  # reuse
    assert authorize(api, rotated["access_token"], "docs.read")["reason"] == "token_revoked"
    assert authorize(api, editor["access_token"], "docs.read")["reason"] == "token_revoked"


def test_revoking_a_refresh_token_ends_its_session(api, acme, editor):
    other = signed_in(api, "ed@example.com", PASSWORD, acme.slug)
    revoke(api, acme, editor["refresh_token"])
    assert authorize(api, editor["access_token"], "docs.read")["reason"] == "token_revoked"
    assert authorize(api, other["access_token"], "docs.read")["allowed"] is True


def test_a_refresh_token_without_client_auth_can_be_revoked_by_its_holder(api, acme, editor):
    response = api.post("/v1/oauth/revoke", form={"token": editor["refresh_token"]})
    assert response.status_code == 200, response.content
    problem(refresh(api, editor["refresh_token"]), 400, "invalid_grant")


def test_a_refresh_token_stays_with_its_client(api, acme):
    declare(api, acme, "docs.read")
    create_user(api, acme, "ed@example.com", password=PASSWORD, roles=["editor"])
    web = api.post("/v1/clients", {"name": "web"}, token=acme.token).json()
    grant = api.post(
        "/v1/oauth/token",
        form={"grant_type": "password", "username": "ed@example.com", "password": PASSWORD, "app": acme.slug},
        headers={"Authorization": basic(web["clientId"], web["clientSecret"])},
    )
    assert grant.status_code == 200, grant.content
    tokens = grant.json()
    problem(refresh(api, tokens["refresh_token"]), 400, "invalid_grant")  # no client auth
    assert "token.refresh_failed" in [e["action"] for e in audit_events(api, acme)]
    # deleting the client ends what was issued through it
    assert api.delete(f"/v1/clients/{web['clientId']}", token=acme.token).status_code == 204
    assert authorize(api, tokens["access_token"], "docs.read")["reason"] == "token_revoked"


def test_password_change_attempts_are_throttled(api, acme, editor):
    for attempt in range(10):
        response = api.post(
            "/v1/me/password",
            {"currentPassword": f"wrong guess {attempt}", "newPassword": "a new passphrase 99"},
            token=editor["access_token"],
        )
        problem(response, 403, "invalid_current_password")
    response = api.post(
        "/v1/me/password",
        {"currentPassword": PASSWORD, "newPassword": "a new passphrase 99"},
        token=editor["access_token"],
    )
    problem(response, 429, "too_many_attempts")
    assert int(response["Retry-After"]) > 0


def test_me_for_an_operator_acting_in_an_app_describes_the_operator(api, operator, acme):
    response = api.get("/v1/me", token=operator.token, headers={"Heimdall-App": acme.slug})
    assert response.status_code == 200, response.content
    me = response.json()
    assert (me["type"], me["id"], me["app"]) == ("client", operator.client_id, "heimdall")


def test_a_token_rotated_while_its_session_ended_cannot_revive_it(api, acme, editor):
    """The race: a revocation marks the tokens it read while a refresh, holding one of them,
    inserts a successor it never saw. Any revoked token in the family ends the session."""
    from accounts.models import RefreshToken
    from core.context import system_scope

    successor = refresh(api, editor["refresh_token"]).json()
    with system_scope(reason="the revocation caught the rotated token but not its successor"):
        from django.utils import timezone

        RefreshToken.objects.filter(used_at__isnull=False).update(revoked_at=timezone.now())
    problem(refresh(api, successor["refresh_token"]), 400, "invalid_grant")
    with system_scope(reason="test: inspects rows across Apps"):
        assert not RefreshToken.objects.filter(revoked_at__isnull=True).exists()
