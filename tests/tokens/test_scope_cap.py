"""Any explicit `scope` caps a token for life, even one naming everything the client holds."""

from __future__ import annotations

from tests.tokens.support import declare, new_client


def _authorize(api, token, permission):
    response = api.post("/v1/authorize", {"token": token, "permission": permission})
    assert response.status_code == 200, response.content
    return response.json()


def test_an_explicit_scope_equal_to_everything_held_still_caps_the_token(api, acme):
    """Before: asking for exactly what the client held was treated as not narrowed, so the token
    silently gained permissions granted to the client later."""
    declare(api, acme, "docs.read", "docs.write")
    client = new_client(api, acme, permissions=["docs.read"])
    capped = api.client_token(client["clientId"], client["clientSecret"], scope="docs.read")
    uncapped = api.client_token(client["clientId"], client["clientSecret"])
    response = api.patch(
        f"/v1/clients/{client['clientId']}", {"permissions": ["docs.read", "docs.write"]}, token=acme.token
    )
    assert response.status_code == 200, response.content
    answer = _authorize(api, capped, "docs.write")
    assert (answer["allowed"], answer["reason"]) == (False, "permission_not_granted")
    assert _authorize(api, capped, "docs.read")["allowed"] is True
    # Without a scope, the token follows the client's grants (documented behaviour).
    assert _authorize(api, uncapped, "docs.write")["allowed"] is True
