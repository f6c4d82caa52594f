"""What role patterns grant, observed through /v1/authorize with client tokens."""

import pytest

from tests.tokens.support import authorize, claims_of, declare, new_client, new_role, token_for

DECLARED = ("docs.read", "docs.write", "billing.read", "billing.write")


@pytest.fixture
def declared(api, acme):
    declare(api, acme, *DECLARED)
    return acme


def _holder_token(api, app, permissions):
    new_role(api, app, "r", permissions)
    return token_for(api, new_client(api, app, roles=["r"]))


def _allowed(api, token, permission):
    return authorize(api, token, permission)["allowed"]


@pytest.mark.parametrize(
    ("grants", "allowed", "denied"),
    [
        (["*"], set(DECLARED), {"heimdall:users.read", "heimdall:clients.write", "other.read"}),
        (["docs.*"], {"docs.read", "docs.write"}, {"billing.read", "billing.write", "heimdall:users.read"}),
        (["*.read"], {"docs.read", "billing.read"}, {"docs.write", "billing.write", "heimdall:users.read"}),
        (
            ["heimdall:*"],
            {"heimdall:users.read", "heimdall:roles.write", "heimdall:clients.read", "heimdall:audit.read"},
            set(DECLARED) | {"heimdall:apps.read", "heimdall:apps.write"},
        ),
        (
            ["heimdall:*.read"],
            {"heimdall:users.read", "heimdall:app.read"},
            {"heimdall:users.write", "docs.read"},
        ),
        (["docs.read", "heimdall:users.read"], {"docs.read", "heimdall:users.read"}, {"docs.write"}),
    ],
    ids=["star", "resource-star", "star-action", "heimdall-star", "heimdall-star-read", "exact"],
)
def test_role_pattern_grants(api, declared, grants, allowed, denied):
    token = _holder_token(api, declared, grants)
    for permission in sorted(allowed):
        answer = authorize(api, token, permission)
        assert answer["allowed"], (grants, permission, answer)
        assert answer["role"] == "r"
    for permission in sorted(denied):
        answer = authorize(api, token, permission)
        assert not answer["allowed"], (grants, permission, answer)
        assert answer["reason"] == "permission_not_granted"
        assert answer["role"] is None


def test_star_does_not_grant_management_permissions(api, declared):
    token = _holder_token(api, declared, ["*"])
    assert not _allowed(api, token, "heimdall:roles.read")
    # ... and the management API agrees
    assert api.get("/v1/roles", token=token).status_code == 403


def test_permission_declared_after_token_issue_is_granted_by_star(api, declared):
    star = _holder_token(api, declared, ["*"])
    new_role(api, declared, "reports", ["reports.*"])
    reports = token_for(api, new_client(api, declared, roles=["reports"]))
    assert authorize(api, star, "reports.export")["reason"] == "permission_not_granted"
    assert authorize(api, reports, "reports.export")["reason"] == "permission_not_granted"
    declare(api, declared, "reports.export")
    assert authorize(api, star, "reports.export") == {
        "allowed": True,
        "role": "r",
        "subject": claims_of(star)["sub"],
        "app": "acme-corp",
        "reason": "granted",
    }
    assert _allowed(api, reports, "reports.export")


def test_deleted_permission_is_no_longer_granted_by_existing_token(api, declared):
    token = _holder_token(api, declared, ["docs.*"])
    assert _allowed(api, token, "docs.write")
    assert api.delete("/v1/permissions/docs.write", token=declared.token).status_code == 204
    assert authorize(api, token, "docs.write")["reason"] == "permission_not_granted"
    assert _allowed(api, token, "docs.read")


def test_removing_permission_from_role_denies_existing_token_at_once(api, declared):
    token = _holder_token(api, declared, ["docs.read", "docs.write"])
    assert _allowed(api, token, "docs.write")
    response = api.patch("/v1/roles/r", {"permissions": ["docs.read"]}, token=declared.token)
    assert response.status_code == 200, response.content
    answer = authorize(api, token, "docs.write")
    assert answer["allowed"] is False
    assert answer["reason"] == "permission_not_granted"
    assert _allowed(api, token, "docs.read")


def test_adding_permission_to_role_grants_existing_token_at_once(api, declared):
    token = _holder_token(api, declared, ["docs.read"])
    assert not _allowed(api, token, "billing.write")
    assert (
        api.patch(
            "/v1/roles/r", {"permissions": ["docs.read", "billing.*"]}, token=declared.token
        ).status_code
        == 200
    )
    assert _allowed(api, token, "billing.write")


def test_role_field_names_the_granting_role(api, declared):
    new_role(api, declared, "docs-writer", ["docs.write"])
    client = new_client(api, declared, roles=["viewer", "docs-writer"])
    token = token_for(api, client)
    read = authorize(api, token, "docs.read")
    assert (read["allowed"], read["role"], read["subject"], read["app"]) == (
        True,
        "viewer",
        client["clientId"],
        "acme-corp",
    )
    assert authorize(api, token, "docs.write")["role"] == "docs-writer"
    assert "actor" not in read


def test_role_is_null_for_a_directly_granted_permission(api, declared):
    client = new_client(api, declared, roles=["viewer"], permissions=["billing.write"])
    token = token_for(api, client)
    direct = authorize(api, token, "billing.write")
    assert direct["allowed"] is True
    assert direct["role"] is None
    assert direct["reason"] == "granted"
    assert authorize(api, token, "billing.read")["role"] == "viewer"


def test_direct_permission_pattern_on_a_client(api, declared):
    client = new_client(api, declared, permissions=["billing.*"])
    token = token_for(api, client)
    assert authorize(api, token, "billing.write") == {
        "allowed": True,
        "role": None,
        "subject": client["clientId"],
        "app": "acme-corp",
        "reason": "granted",
    }
    assert not _allowed(api, token, "docs.read")
