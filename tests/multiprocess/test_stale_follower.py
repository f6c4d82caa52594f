"""A process whose change follower is frozen stops answering from its caches within the staleness
bound (HEIMDALL_STALENESS_BOUND_SECONDS).

Server B reaches PostgreSQL through a small TCP proxy in this test process. The proxy recognises
B's follower connection (the one that sends `LISTEN`) and, on demand, stops forwarding its bytes in
both directions without closing it: a frozen middlebox. The kernel still acknowledges everything,
so neither TCP keepalives nor `tcp_user_timeout` notice; only the state's own staleness bound can.
B's other (request) connections keep flowing. A user is suspended through server A; B must stop
answering `granted` for that user's token once its state is older than the bound.

Runs only when DATABASE_URL points at PostgreSQL (as the other multi-process tests).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.multiprocess.test_propagation import (
    DATABASE_URL,
    IS_POSTGRES,
    PASSWORD,
    Cluster,
    Server,
    _admin_conninfo,
    _manage,
    _server_env,
    _sign_in,
    _start_server,
    _stop,
    _wait_ready,
    _with_dbname,
    authorize,
    client_token,
    expect,
    http,
    new_app,
    warm,
)

BOUND = 3.0  # HEIMDALL_STALENESS_BOUND_SECONDS of server B
RESYNC = 1.0  # HEIMDALL_RESYNC_SECONDS of server B
DEADLINE = BOUND + RESYNC + 10.0  # generous: only "well before the 60 s full resync" is asserted

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not IS_POSTGRES,
        reason="multi-process tests need DATABASE_URL pointing at PostgreSQL (LISTEN/NOTIFY, shared database)",
    ),
]


# ---- a TCP proxy that can freeze the follower's connection -----------------------------------


@dataclass(eq=False)
class _Pipe:
    client: socket.socket
    upstream: socket.socket
    follower: bool = False
    frozen: bool = False


class FreezableProxy:
    """127.0.0.1:<port> -> PostgreSQL. `freeze_followers()` stops forwarding, in both directions,
    the bytes of every connection that has sent `LISTEN` so far; the sockets stay open."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pipes: list[_Pipe] = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pipe = _Pipe(client, upstream)
            with self.lock:
                self.pipes.append(pipe)
            for src, dst, outbound in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump, args=(pipe, src, dst, outbound), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, pipe: _Pipe, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if outbound and b"LISTEN " in data:
                    pipe.follower = True
                while pipe.frozen and not self.closed.is_set():
                    time.sleep(0.05)  # hold the bytes; keep both sockets open
                if self.closed.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not pipe.frozen:  # a frozen connection is never closed by the proxy
                for sock in (pipe.client, pipe.upstream):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def followers(self) -> int:
        with self.lock:
            return sum(1 for pipe in self.pipes if pipe.follower)

    def freeze_followers(self) -> int:
        with self.lock:
            frozen = [pipe for pipe in self.pipes if pipe.follower]
            for pipe in frozen:
                pipe.frozen = True
        return len(frozen)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        with self.lock:
            for pipe in self.pipes:
                pipe.client.close()
                pipe.upstream.close()


# ---- two servers, B through the proxy ----------------------------------------------------------


@dataclass
class Setup:
    cluster: Cluster
    proxy: FreezableProxy


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    import psycopg

    dbname = f"heimdall_mp_{secrets.token_hex(6)}"
    admin = _admin_conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    target = urlsplit(DATABASE_URL)
    proxy = FreezableProxy(target.hostname or "127.0.0.1", target.port or 5432)
    servers: list[Server] = []
    try:
        env_a = _server_env(_with_dbname(DATABASE_URL, dbname))
        # The proxy must see the protocol in clear to recognise LISTEN.
        userinfo = target.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
        url_b = f"{target.scheme}://{netloc}/{dbname}?sslmode=disable"
        env_b = {
            **env_a,
            "DATABASE_URL": url_b,
            "HEIMDALL_STALENESS_BOUND_SECONDS": str(BOUND),
            "HEIMDALL_RESYNC_SECONDS": str(RESYNC),
        }
        _manage(env_a, "migrate", "--noinput", "-v", "0")
        creds = json.loads(_manage(env_a, "bootstrap", "--create-client", "x", "--json"))
        log_dir = tmp_path_factory.mktemp("stale-servers")
        servers.append(_start_server("A", env_a, log_dir))
        servers.append(_start_server("B", env_b, log_dir))
        deadline = time.monotonic() + 30
        for server in servers:
            _wait_ready(server, deadline)
        a, b = servers
        token = client_token(a, creds["clientId"], creds["clientSecret"])
        yield Setup(Cluster(a, b, creds["clientId"], creds["clientSecret"], token), proxy)
    finally:
        for server in servers:
            _stop(server)
        for server in servers:
            print(f"\n--- server {server.name} log (tail) ---\n{server.tail(15)}")
        proxy.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def test_frozen_follower_stops_granting_within_the_staleness_bound(setup: Setup) -> None:
    cluster, proxy = setup.cluster, setup.proxy
    a, b = cluster.a, cluster.b
    app = new_app(cluster, "frozen")
    user = expect(
        http(
            a.base,
            "POST",
            "/v1/users",
            {"email": "f@example.com", "password": PASSWORD, "roles": ["viewer"]},
            token=app.token,
        ),
        201,
    )
    expect(http(a.base, "POST", "/v1/permissions", {"name": "docs.read"}, token=app.token), 201)
    token = expect(_sign_in(a, "f@example.com", PASSWORD, app.slug), 200)["access_token"]

    warm(b, token, "docs.read", "viewer")  # also starts B's follower
    deadline = time.monotonic() + 10
    while proxy.followers() == 0:
        assert time.monotonic() < deadline, f"B's follower never sent LISTEN through the proxy:\n{b.tail()}"
        time.sleep(0.05)
    time.sleep(0.5)  # let the follower finish its first read

    assert proxy.freeze_followers() >= 1
    warm(b, token, "docs.read", "viewer")  # B's caches hold the active user; its follower is frozen

    expect(http(a.base, "POST", f"/v1/users/{user['id']}/suspend", token=app.token), 200)
    changed = time.monotonic()
    assert authorize(a, token, "docs.read")["reason"] == "subject_suspended"

    # A cold load reads the user's revoked refresh tokens as an ended session (`token_revoked`),
    # an invalidated warm cache answers `subject_suspended`: either is a refusal.
    refused = {"subject_suspended", "token_revoked"}
    while True:
        answer = authorize(b, token, "docs.read")
        elapsed = time.monotonic() - changed
        if answer["allowed"] is False:
            assert answer["reason"] in refused, answer
            print(f"\nfrozen B refused ({answer['reason']}) {elapsed * 1000:.0f} ms after the suspension")
            break
        assert answer["reason"] == "granted", answer
        assert elapsed <= DEADLINE, (
            f"B (follower frozen) still answers {answer} {elapsed:.1f} s after the suspension; "
            f"its staleness bound is {BOUND} s"
        )
        time.sleep(0.1)

    # B's answers stay right while its follower's connection is still frozen.
    for _ in range(3):
        answer = authorize(b, token, "docs.read")
        assert answer["allowed"] is False and answer["reason"] in refused, answer
