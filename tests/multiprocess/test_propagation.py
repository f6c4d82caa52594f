"""Cross-process consistency: a change made through one server reaches another within a second.

Two real gunicorn servers share one real, committed PostgreSQL database (a throwaway
`heimdall_mp_<random>` created for the session and dropped afterwards). Everything is driven over
HTTP; the Django ORM is never touched in the test process, so pytest-django's rollback database is
not involved. Each scenario warms server B's in-process caches, changes state through server A,
then polls B's `/v1/authorize` every 50 ms until it reports the new answer, and fails if that
takes longer than 1.0 s after A answered the change (API.md, "Authorization check": "honours
revocations, suspensions and role changes made a moment earlier, on every instance").

Runs only when DATABASE_URL points at PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/heimdall TEST_DATABASE_NAME=test_h3 \
        .venv/bin/pytest tests/multiprocess
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from tests.servers import server_env

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
PYTHON = ROOT / ".venv" / "bin" / "python"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
IS_POSTGRES = urlsplit(DATABASE_URL).scheme in ("postgres", "postgresql", "pgsql", "postgis")

PROPAGATION_LIMIT = 1.0  # seconds, from the change's response to B's new answer
POLL_INTERVAL = 0.05

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not IS_POSTGRES,
        reason="multi-process tests need DATABASE_URL pointing at PostgreSQL (LISTEN/NOTIFY, shared database)",
    ),
]


# ---- HTTP ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any
    raw: bytes


def http(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Reply:
    data = None
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    if form is not None:
        data = urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Reply(status, parsed, raw)


def expect(reply: Reply, status: int) -> Any:
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.raw[:500]!r}"
    return reply.body


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# ---- the cluster: one throwaway database, two servers -------------------------------------------


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Cluster:
    a: Server
    b: Server
    operator_id: str
    operator_secret: str
    operator_token: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin_conninfo() -> str:
    # Connect to the maintenance database of the same server to create/drop ours.
    url = _with_dbname(DATABASE_URL, "postgres")
    return url.replace("postgis://", "postgresql://").replace("pgsql://", "postgresql://")


def _server_env(database_url: str) -> dict[str, str]:
    return server_env(
        database_url, public_url="http://127.0.0.1", allowed_hosts="127.0.0.1,localhost", label="multiprocess-test"
    )


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _start_server(name: str, env: dict[str, str], log_dir: Path) -> Server:
    port = _free_port()
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(GUNICORN),
                "heimdall.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--timeout",
                "30",
                # Two servers (and other people's test runs) would share ~/.gunicorn/gunicorn.ctl.
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def _wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"server {server.name} exited with {server.process.returncode}:\n{server.tail()}")
        try:
            if http(server.base, "GET", "/readyz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server {server.name} not ready in time:\n{server.tail()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def launch_pair(env: dict[str, str], log_dir: Path, servers: list[Server]) -> tuple[dict[str, str], str]:
    """Migrate and bootstrap the database of `env`, start servers A and B on it (appended to
    `servers`, which the caller stops), wait for both; returns (operator creds, operator token)."""
    _manage(env, "migrate", "--noinput", "-v", "0")
    creds = json.loads(_manage(env, "bootstrap", "--create-client", "x", "--json"))
    servers.append(_start_server("A", env, log_dir))
    servers.append(_start_server("B", env, log_dir))
    deadline = time.monotonic() + 30
    for server in servers:
        _wait_ready(server, deadline)
    return creds, client_token(servers[0], creds["clientId"], creds["clientSecret"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
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
        yield Cluster(a, b, creds["clientId"], creds["clientSecret"], token)
    finally:
        for server in servers:
            _stop(server)
        for server in servers:
            print(f"\n--- server {server.name} log (tail) ---\n{server.tail(15)}")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# ---- scenario helpers ------------------------------------------------------------------------


@dataclass
class Tenant:
    slug: str
    admin_id: str
    admin_secret: str
    token: str


def new_app(cluster: Cluster, prefix: str) -> Tenant:
    slug = f"{prefix}-{secrets.token_hex(3)}"
    body = expect(
        http(
            cluster.a.base,
            "POST",
            "/v1/apps",
            {"slug": slug, "displayName": prefix.title()},
            token=cluster.operator_token,
        ),
        201,
    )
    admin = body["adminClient"]
    token = client_token(cluster.a, admin["clientId"], admin["clientSecret"])
    return Tenant(slug, admin["clientId"], admin["clientSecret"], token)


def client_token(server: Server, client_id: str, secret: str) -> str:
    body = expect(
        http(server.base, "POST", "/v1/oauth/token", {"clientId": client_id, "clientSecret": secret}), 200
    )
    return body["access_token"]


def authorize(server: Server, token: str, permission: str) -> dict[str, Any]:
    return expect(http(server.base, "POST", "/v1/authorize", {"token": token, "permission": permission}), 200)


def warm(server: Server, token: str, permission: str, role: str | None) -> None:
    """Load the token, its App and subject into the server's caches; asserts it is allowed."""
    for _ in range(3):
        answer = authorize(server, token, permission)
        assert answer["allowed"] is True, answer
        assert answer["reason"] == "granted", answer
        assert answer["role"] == role, answer


def await_reason(server: Server, token: str, permission: str, reason: str, since: float) -> float:
    """Poll every 50 ms until `server` denies with `reason`; the delay since `since`, in seconds.

    Until then every answer must still be the old one (allowed): anything else is a wrong answer,
    not a slow one.
    """
    while True:
        answer = authorize(server, token, permission)
        elapsed = time.monotonic() - since
        if answer["allowed"] is False and answer["reason"] == reason:
            print(f"\n{server.name} reported {reason} {elapsed * 1000:.0f} ms after the change")
            return elapsed
        assert answer["allowed"] is True, f"unexpected answer while waiting for {reason}: {answer}"
        assert elapsed <= PROPAGATION_LIMIT, (
            f"{server.name} still answers {answer} {elapsed:.3f} s after the change; "
            f"expected reason {reason} within {PROPAGATION_LIMIT} s"
        )
        time.sleep(POLL_INTERVAL)


# ---- tests -----------------------------------------------------------------------------------


def test_revocation_on_a_reaches_b_within_a_second(cluster: Cluster) -> None:
    app = new_app(cluster, "revoke")
    warm(cluster.b, app.token, "heimdall:roles.read", "admin")

    expect(
        http(
            cluster.a.base,
            "POST",
            "/v1/oauth/revoke",
            form={"token": app.token, "token_type_hint": "access_token"},
            headers={"Authorization": basic(app.admin_id, app.admin_secret)},
        ),
        200,
    )
    changed = time.monotonic()

    # The server that made the change knows at once.
    assert authorize(cluster.a, app.token, "heimdall:roles.read")["reason"] == "token_revoked"
    delay = await_reason(cluster.b, app.token, "heimdall:roles.read", "token_revoked", changed)
    assert delay <= PROPAGATION_LIMIT


def test_revocation_on_b_reaches_a_within_a_second(cluster: Cluster) -> None:
    app = new_app(cluster, "revoke-back")
    warm(cluster.a, app.token, "heimdall:roles.read", "admin")

    expect(
        http(
            cluster.b.base,
            "POST",
            "/v1/oauth/revoke",
            form={"token": app.token},
            headers={"Authorization": basic(app.admin_id, app.admin_secret)},
        ),
        200,
    )
    changed = time.monotonic()
    await_reason(cluster.a, app.token, "heimdall:roles.read", "token_revoked", changed)


def test_role_change_on_a_reaches_b_within_a_second(cluster: Cluster) -> None:
    app = new_app(cluster, "roles")
    a = cluster.a.base
    expect(http(a, "POST", "/v1/permissions", {"name": "docs.read"}, token=app.token), 201)
    expect(
        http(a, "POST", "/v1/roles", {"name": "reader", "permissions": ["docs.read"]}, token=app.token), 201
    )
    client = expect(
        http(a, "POST", "/v1/clients", {"name": "reader-bot", "roles": ["reader"]}, token=app.token), 201
    )
    token = client_token(cluster.a, client["clientId"], client["clientSecret"])
    warm(cluster.b, token, "docs.read", "reader")

    role = expect(http(a, "PATCH", "/v1/roles/reader", {"permissions": []}, token=app.token), 200)
    assert role["permissions"] == []
    changed = time.monotonic()

    assert authorize(cluster.a, token, "docs.read")["reason"] == "permission_not_granted"
    await_reason(cluster.b, token, "docs.read", "permission_not_granted", changed)


def test_app_suspension_on_a_reaches_b_within_a_second(cluster: Cluster) -> None:
    app = new_app(cluster, "suspend")
    warm(cluster.b, app.token, "heimdall:clients.read", "admin")

    body = expect(
        http(
            cluster.a.base,
            "PATCH",
            f"/v1/apps/{app.slug}",
            {"status": "suspended"},
            token=cluster.operator_token,
        ),
        200,
    )
    assert body["status"] == "suspended"
    changed = time.monotonic()

    assert authorize(cluster.a, app.token, "heimdall:clients.read")["reason"] == "app_suspended"
    await_reason(cluster.b, app.token, "heimdall:clients.read", "app_suspended", changed)


def test_client_deletion_on_a_reaches_b_within_a_second(cluster: Cluster) -> None:
    app = new_app(cluster, "delete")
    client = expect(
        http(cluster.a.base, "POST", "/v1/clients", {"name": "doomed", "roles": ["admin"]}, token=app.token),
        201,
    )
    token = client_token(cluster.a, client["clientId"], client["clientSecret"])
    warm(cluster.b, token, "heimdall:users.read", "admin")

    expect(http(cluster.a.base, "DELETE", f"/v1/clients/{client['clientId']}", token=app.token), 204)
    changed = time.monotonic()

    assert authorize(cluster.a, token, "heimdall:users.read")["reason"] == "token_revoked"
    await_reason(cluster.b, token, "heimdall:users.read", "token_revoked", changed)
    # The App's other tokens are untouched.
    assert authorize(cluster.b, app.token, "heimdall:users.read")["allowed"] is True


def test_steady_state_b_answers_repeatedly_and_agrees_with_a(cluster: Cluster) -> None:
    app = new_app(cluster, "steady")
    warm(cluster.b, app.token, "heimdall:audit.read", "admin")

    started = time.monotonic()
    calls = 100
    for _ in range(calls):
        answer = authorize(cluster.b, app.token, "heimdall:audit.read")
        assert answer == {
            "allowed": True,
            "role": "admin",
            "subject": app.admin_id,
            "app": app.slug,
            "reason": "granted",
        }
    per_call = (time.monotonic() - started) / calls
    print(f"\nB answered {calls} warm /v1/authorize calls, {per_call * 1000:.1f} ms each over HTTP")

    # A permission nobody declared is denied the same way on both servers.
    for server in (cluster.a, cluster.b):
        denied = authorize(server, app.token, "docs.read")
        assert (denied["allowed"], denied["reason"], denied["role"]) == (
            False,
            "permission_not_granted",
            None,
        )


# ---- users across servers ------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


def _sign_in(server: Server, email: str, password: str, slug: str) -> Reply:
    return http(
        server.base,
        "POST",
        "/v1/oauth/token",
        {"grantType": "password", "username": email, "password": password, "app": slug},
    )


def test_sign_in_throttling_is_shared_by_both_servers(cluster: Cluster) -> None:
    """Ten failures for one email, split over two servers, lock that email on both."""
    app = new_app(cluster, "throttle")
    expect(
        http(
            cluster.a.base,
            "POST",
            "/v1/users",
            {"email": "t@example.com", "password": PASSWORD},
            token=app.token,
        ),
        201,
    )
    for attempt in range(10):
        server = cluster.a if attempt % 2 == 0 else cluster.b
        reply = _sign_in(server, "t@example.com", "wrong password here", app.slug)
        assert reply.status == 400 and reply.body["code"] == "invalid_grant", (attempt, reply.body)
    for server in (cluster.a, cluster.b):
        reply = _sign_in(server, "t@example.com", PASSWORD, app.slug)
        assert reply.status == 429, (server.name, reply.status, reply.body)
        assert reply.body["code"] == "too_many_attempts"


def test_user_suspension_on_a_reaches_b_within_a_second(cluster: Cluster) -> None:
    app = new_app(cluster, "suspend-user")
    user = expect(
        http(
            cluster.a.base,
            "POST",
            "/v1/users",
            {"email": "s@example.com", "password": PASSWORD, "roles": ["viewer"]},
            token=app.token,
        ),
        201,
    )
    expect(http(cluster.a.base, "POST", "/v1/permissions", {"name": "docs.read"}, token=app.token), 201)
    token = expect(_sign_in(cluster.a, "s@example.com", PASSWORD, app.slug), 200)["access_token"]
    warm(cluster.b, token, "docs.read", "viewer")
    expect(http(cluster.a.base, "POST", f"/v1/users/{user['id']}/suspend", token=app.token), 200)
    await_reason(cluster.b, token, "docs.read", "subject_suspended", time.monotonic())


def test_user_role_change_on_b_reaches_a_within_a_second(cluster: Cluster) -> None:
    app = new_app(cluster, "user-roles")
    user = expect(
        http(
            cluster.a.base,
            "POST",
            "/v1/users",
            {"email": "r@example.com", "password": PASSWORD, "roles": ["viewer"]},
            token=app.token,
        ),
        201,
    )
    expect(http(cluster.a.base, "POST", "/v1/permissions", {"name": "docs.read"}, token=app.token), 201)
    token = expect(_sign_in(cluster.a, "r@example.com", PASSWORD, app.slug), 200)["access_token"]
    warm(cluster.a, token, "docs.read", "viewer")
    expect(http(cluster.b.base, "PUT", f"/v1/users/{user['id']}/roles", {"roles": []}, token=app.token), 200)
    await_reason(cluster.a, token, "docs.read", "permission_not_granted", time.monotonic())
