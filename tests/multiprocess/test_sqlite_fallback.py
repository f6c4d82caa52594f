"""The embedded (SQLite) mode's fallback: with no LISTEN/NOTIFY, each process polls the change log
(HEIMDALL_SQLITE_POLL_SECONDS, 0.5 s by default). Two server processes share one SQLite file; a
revocation and a role change made through one reach the other within about a second."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.multiprocess.test_propagation import (
    Server,
    _server_env,
    _stop,
    basic,
    client_token,
    expect,
    http,
    launch_pair,
)

LIMIT = 1.5  # one poll interval (0.5 s), plus scheduling slack on a loaded 2-core machine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, str]]:
    folder = tmp_path_factory.mktemp("sqlite-pair")
    servers: list[Server] = []
    try:
        _, operator = launch_pair(_server_env(f"sqlite:///{folder / 'heimdall.sqlite3'}"), folder, servers)
        a, b = servers
        yield a, b, operator
    finally:
        for server in servers:
            _stop(server)


def _new_app(server: Server, operator: str, slug: str) -> tuple[dict[str, str], str]:
    """An App created through `server`: (its admin client, an admin token)."""
    admin = expect(
        http(server.base, "POST", "/v1/apps", {"slug": slug, "displayName": slug}, token=operator), 201
    )["adminClient"]
    return admin, client_token(server, admin["clientId"], admin["clientSecret"])


def _await(server: Server, token: str, permission: str, reason: str) -> float:
    started = time.monotonic()
    while True:
        answer = expect(
            http(server.base, "POST", "/v1/authorize", {"token": token, "permission": permission}), 200
        )
        elapsed = time.monotonic() - started
        if answer["reason"] == reason:
            print(f"\n{server.name} reported {reason} after {elapsed * 1000:.0f} ms (SQLite polling)")
            return elapsed
        assert answer["allowed"] is True, answer
        assert elapsed <= LIMIT, f"{server.name} still answers {answer} after {elapsed:.2f} s"
        time.sleep(0.05)


def test_revocation_reaches_the_other_process_by_polling(pair: tuple[Server, Server, str]) -> None:
    a, b, operator = pair
    app = expect(
        http(a.base, "POST", "/v1/apps", {"slug": "lite", "displayName": "Lite"}, token=operator), 201
    )
    admin = app["adminClient"]
    token = expect(
        http(
            a.base,
            "POST",
            "/v1/oauth/token",
            {"clientId": admin["clientId"], "clientSecret": admin["clientSecret"]},
        ),
        200,
    )["access_token"]
    assert expect(
        http(b.base, "POST", "/v1/authorize", {"token": token, "permission": "heimdall:users.read"}), 200
    )["allowed"]
    expect(
        http(
            a.base,
            "POST",
            "/v1/oauth/revoke",
            form={"token": token},
            headers={"Authorization": basic(admin["clientId"], admin["clientSecret"])},
        ),
        200,
    )
    _await(b, token, "heimdall:users.read", "token_revoked")


def test_role_change_reaches_the_other_process_by_polling(pair: tuple[Server, Server, str]) -> None:
    a, b, operator = pair
    app = expect(
        http(a.base, "POST", "/v1/apps", {"slug": "lite-roles", "displayName": "Lite"}, token=operator), 201
    )
    admin = app["adminClient"]
    admin_token = expect(
        http(
            a.base,
            "POST",
            "/v1/oauth/token",
            {"clientId": admin["clientId"], "clientSecret": admin["clientSecret"]},
        ),
        200,
    )["access_token"]
    expect(http(a.base, "POST", "/v1/permissions", {"name": "docs.read"}, token=admin_token), 201)
    expect(
        http(
            a.base, "POST", "/v1/roles", {"name": "reader", "permissions": ["docs.read"]}, token=admin_token
        ),
        201,
    )
    client = expect(
        http(a.base, "POST", "/v1/clients", {"name": "r", "roles": ["reader"]}, token=admin_token), 201
    )
    token = expect(
        http(
            a.base,
            "POST",
            "/v1/oauth/token",
            {"clientId": client["clientId"], "clientSecret": client["clientSecret"]},
        ),
        200,
    )["access_token"]
    # B learns the new App's signing key through the change log too (it may have read the key
    # table less than a poll ago): wait for it to accept the token, within the same bound.
    started = time.monotonic()
    while not expect(http(b.base, "POST", "/v1/authorize", {"token": token, "permission": "docs.read"}), 200)[
        "allowed"
    ]:
        assert time.monotonic() - started <= LIMIT, "B never accepted the new App's token"
        time.sleep(0.05)
    expect(http(b.base, "PATCH", "/v1/roles/reader", {"permissions": []}, token=admin_token), 200)
    _await(a, token, "docs.read", "permission_not_granted")
