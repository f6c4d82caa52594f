"""Declaring or deleting a permission is granting or revoking it for every role whose patterns
cover it, so only a caller holding it (or a pattern covering it) may do either. Operators acting
through Heimdall-App are not limited."""

from __future__ import annotations

import pytest

from tests.helpers import problem
from tests.tokens.support import authorize, declare, new_client, new_role, token_for


def _names(api, app):
    response = api.get("/v1/permissions?limit=200", token=app.token)
    assert response.status_code == 200, response.content
    return sorted(p["name"] for p in response.json()["data"])


def _manager(api, acme, *grants):
    new_role(api, acme, "manager", list(grants))
    return token_for(api, new_client(api, acme, roles=["manager"]))


def test_declaring_a_permission_beyond_the_ceiling_is_403_and_changes_nothing(api, acme):
    declare(api, acme, "docs.read")
    token = _manager(api, acme, "heimdall:roles.*", "docs.*")
    before = _names(api, acme)
    body = problem(
        api.post("/v1/permissions", {"name": "billing.refund"}, token=token), 403, "permission_denied"
    )
    assert "billing.refund" in body["detail"]
    assert _names(api, acme) == before
    # the admin's `*` did not silently gain it
    assert authorize(api, acme.token, "billing.refund")["allowed"] is False


def test_deleting_a_permission_beyond_the_ceiling_is_403_and_changes_nothing(api, acme):
    declare(api, acme, "docs.read", "billing.admin")
    token = _manager(api, acme, "heimdall:roles.*", "docs.*")
    before = _names(api, acme)
    body = problem(api.delete("/v1/permissions/billing.admin", token=token), 403, "permission_denied")
    assert "billing.admin" in body["detail"]
    assert _names(api, acme) == before
    assert authorize(api, acme.token, "billing.admin")["allowed"] is True


def test_a_narrowed_token_cannot_declare_through_the_patterns_it_left_out(api, acme):
    # the admin client holds `*`, but a token narrowed to roles.write carries no pattern
    token = api.client_token(acme.client_id, acme.client_secret, scope="heimdall:roles.write")
    problem(api.post("/v1/permissions", {"name": "billing.refund"}, token=token), 403, "permission_denied")
    assert "billing.refund" not in _names(api, acme)


@pytest.mark.parametrize("pattern", ["billing.*", "*.refund", "*"])
def test_a_covering_pattern_allows_declaring_and_deleting(api, acme, pattern):
    token = _manager(api, acme, "heimdall:roles.read", "heimdall:roles.write", pattern)
    response = api.post("/v1/permissions", {"name": "billing.refund"}, token=token)
    assert response.status_code == 201, response.content
    assert authorize(api, token, "billing.refund")["allowed"] is True
    assert api.delete("/v1/permissions/billing.refund", token=token).status_code == 204
    assert "billing.refund" not in _names(api, acme)


def test_holding_the_exact_permission_allows_deleting_it(api, acme):
    declare(api, acme, "docs.read")
    token = _manager(api, acme, "heimdall:roles.read", "heimdall:roles.write", "docs.read")
    assert api.delete("/v1/permissions/docs.read", token=token).status_code == 204
    assert "docs.read" not in _names(api, acme)


def test_an_operator_acting_through_heimdall_app_is_not_limited(api, operator, acme):
    acting = {"Heimdall-App": acme.slug}
    response = api.post("/v1/permissions", {"name": "billing.refund"}, token=operator.token, headers=acting)
    assert response.status_code == 201, response.content
    assert authorize(api, acme.token, "billing.refund")["allowed"] is True
    response = api.delete("/v1/permissions/billing.refund", token=operator.token, headers=acting)
    assert response.status_code == 204, response.content
    assert "billing.refund" not in _names(api, acme)


def test_reserved_and_missing_names_keep_their_answers_for_a_limited_caller(api, acme):
    token = _manager(api, acme, "heimdall:roles.read", "heimdall:roles.write", "docs.*")
    problem(
        api.post("/v1/permissions", {"name": "heimdall:users.read"}, token=token), 422, "reserved_permission"
    )
    problem(api.delete("/v1/permissions/docs.nothing", token=token), 404, "not_found")
