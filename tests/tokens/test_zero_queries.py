"""In steady state /v1/authorize answers from memory: no database query per call."""

import time

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.tokens.support import authorize, claims_of, declare, header_of, new_client, new_role, token_for
from tokens.state import get_state


@pytest.fixture
def tokens(api, acme, globex):
    declare(api, acme, "docs.read", "docs.write")
    new_role(api, acme, "writer", ["docs.write"])
    viewer = token_for(api, new_client(api, acme, roles=["viewer"]))
    direct = token_for(api, new_client(api, acme, permissions=["docs.write"]))
    narrowed = token_for(api, new_client(api, acme, roles=["writer", "viewer"]), scope="docs.read")
    revoked = token_for(api, new_client(api, acme, roles=["viewer"]))
    assert api.post("/v1/oauth/revoke", {"token": revoked}, token=acme.token).status_code == 200
    kid = header_of(viewer)["kid"]
    now = int(time.time())
    expired = jwt.encode(
        {**claims_of(viewer), "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
        get_state().private_key(kid),
        algorithm="RS256",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    unknown_kid = jwt.encode(
        claims_of(viewer),
        get_state().private_key(kid),
        algorithm="RS256",
        headers={"kid": "key_x", "typ": "at+jwt"},
    )
    head, payload, signature = viewer.split(".")
    return [
        # (token, permission, app, expected reason)
        (viewer, "docs.read", None, "granted"),
        (viewer, "docs.read", "acme-corp", "granted"),
        (viewer, "docs.write", None, "permission_not_granted"),
        (viewer, "heimdall:users.read", None, "permission_not_granted"),
        (viewer, "docs.read", "globex", "app_mismatch"),
        (direct, "docs.write", None, "granted"),
        (narrowed, "docs.read", None, "granted"),
        (narrowed, "docs.write", None, "permission_not_granted"),
        (acme.token, "heimdall:clients.write", None, "granted"),
        (globex.token, "heimdall:users.read", "globex", "granted"),
        (revoked, "docs.read", None, "token_revoked"),
        (expired, "docs.read", None, "token_expired"),
        (unknown_kid, "docs.read", None, "token_invalid"),
        (f"{head}.{payload}.{signature[:-8]}AAAAAAAA", "docs.read", None, "token_invalid"),
        ("garbage", "docs.read", None, "token_invalid"),
        ("x" * 20_000, "docs.read", None, "token_invalid"),
    ]


def _run(api, cases):
    for token, permission, app, reason in cases:
        assert authorize(api, token, permission, app=app)["reason"] == reason, (permission, app, reason)


def test_authorize_runs_without_queries_after_warm_up(api, tokens):
    get_state().reset()  # start cold, so the warm-up really loads everything
    _run(api, tokens)  # warm-up: caches load
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            _run(api, tokens)
    assert len(queries) == 0, [q["sql"] for q in queries.captured_queries][:5]


def test_twenty_calls_of_one_allowed_and_one_denied_check_run_without_queries(api, tokens):
    viewer = tokens[0][0]
    authorize(api, viewer, "docs.read")
    authorize(api, viewer, "docs.write")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            assert authorize(api, viewer, "docs.read")["allowed"] is True
            assert authorize(api, viewer, "docs.write")["allowed"] is False
    assert len(queries) == 0, [q["sql"] for q in queries.captured_queries][:5]


def test_a_change_is_seen_then_queries_stop_again(api, acme, tokens):
    viewer = tokens[0][0]
    _run(api, tokens)
    assert api.patch("/v1/roles/viewer", {"permissions": ["*.write"]}, token=acme.token).status_code == 200
    assert authorize(api, viewer, "docs.write")["allowed"] is True  # reloads the App's definitions
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            assert authorize(api, viewer, "docs.write")["allowed"] is True
            assert authorize(api, viewer, "docs.read")["reason"] == "permission_not_granted"
    assert len(queries) == 0, [q["sql"] for q in queries.captured_queries][:5]


def test_warm_client_credentials_issuance_reads_nothing_from_the_database(api, acme):
    """A token request after the first is answered from memory but for its audit event."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api.client_token(acme.client_id, acme.client_secret)  # warm-up
    with CaptureQueriesContext(connection) as queries:
        api.client_token(acme.client_id, acme.client_secret)
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert "SELECT" not in statements, queries.captured_queries
    assert statements.count("INSERT") == 1, queries.captured_queries
