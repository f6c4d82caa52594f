"""Across processes: `manage.py rotate_signing_keys --revoke`, run as its own process against the
shared PostgreSQL database, makes the OTHER servers refuse the dropped key's tokens within a second.

Uses test_propagation's helpers (servers, HTTP, polling); it needs its own cluster fixture only to
keep the servers' environment, so that `manage.py` runs against the same database. Skipped unless
DATABASE_URL points at PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.multiprocess.test_propagation import (
    DATABASE_URL,
    IS_POSTGRES,
    PROPAGATION_LIMIT,
    Cluster,
    Server,
    _admin_conninfo,
    _manage,
    _server_env,
    _stop,
    _with_dbname,
    authorize,
    await_reason,
    client_token,
    expect,
    http,
    launch_pair,
    new_app,
    warm,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not IS_POSTGRES, reason="multi-process tests need DATABASE_URL pointing at PostgreSQL"),
]


@dataclass
class Shared:
    cluster: Cluster
    env: dict[str, str]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    import psycopg

    dbname = f"heimdall_mp_{secrets.token_hex(6)}"
    admin = _admin_conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    servers: list[Server] = []
    try:
        env = _server_env(_with_dbname(DATABASE_URL, dbname))
        creds, token = launch_pair(env, tmp_path_factory.mktemp("servers"), servers)
        a, b = servers
        yield Shared(Cluster(a, b, creds["clientId"], creds["clientSecret"], token), env)
    finally:
        for server in servers:
            _stop(server)
        for server in servers:
            print(f"\n--- server {server.name} log (tail) ---\n{server.tail(15)}")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _kids(server: Server, slug: str) -> list[str]:
    return [k["kid"] for k in expect(http(server.base, "GET", f"/v1/apps/{slug}/jwks.json"), 200)["keys"]]


def test_revoke_command_reaches_the_other_server_within_a_second(shared: Shared) -> None:
    cluster = shared.cluster
    app = new_app(cluster, "compromised")
    old_kid = _kid(app.token)
    # B has the key, the App and the token cached; A too.
    warm(cluster.b, app.token, "heimdall:clients.read", "admin")
    warm(cluster.a, app.token, "heimdall:clients.read", "admin")
    assert expect(http(cluster.b.base, "GET", "/v1/clients", token=app.token), 200)
    assert old_kid in _kids(cluster.b, app.slug)

    _manage(shared.env, "rotate_signing_keys", "--app", app.slug, "--revoke")
    changed = time.monotonic()

    delay = await_reason(cluster.b, app.token, "heimdall:clients.read", "token_invalid", changed)
    assert delay <= PROPAGATION_LIMIT
    assert authorize(cluster.a, app.token, "heimdall:clients.read")["reason"] == "token_invalid"
    assert http(cluster.b.base, "GET", "/v1/clients", token=app.token).status == 401
    for server in (cluster.a, cluster.b):
        assert old_kid not in _kids(server, app.slug)

    fresh = client_token(cluster.b, app.admin_id, app.admin_secret)
    assert _kid(fresh) != old_kid
    for server in (cluster.a, cluster.b):
        answer = authorize(server, fresh, "heimdall:clients.read")
        assert answer["allowed"] is True, answer
