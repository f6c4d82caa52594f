"""Helpers for bench/run.sh: throwaway databases, setup through the HTTP API, probes, the report.

Standard library only, except `db-create`/`db-drop` (psycopg, from the repo's venv). Every
subcommand is called by run.sh; none is meant to be typed by hand.

Scenario files written by `setup-*` into <out>/scenarios/:
  <name>.env    shell assignments read by run.sh: SCN_PATH, SCN_CONTENT_TYPE, SCN_AUTHORIZATION,
                SCN_BODY_FILE, SCN_BASE (server base URL), SCN_LABEL
  <name>.body   the request body
  <name>.skip   instead of the two above: why the scenario cannot run (printed in the report)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shlex
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

# name -> label, in report order. The password scenario is the lead's hook (see README).
HEIMDALL_SCENARIOS = {
    "hello": "bench/hello (bare Django JSON view, ceiling)",
    "authorize_allowed": "POST /v1/authorize allowed",
    "authorize_denied": "POST /v1/authorize denied",
    "token_client_credentials": "POST /v1/oauth/token client_credentials (JSON)",
    "introspect": "POST /v1/oauth/introspect (Basic, form)",
    "password_signin": "POST /v1/oauth/token password (hook)",
    "token_client_credentials_es256": "POST /v1/oauth/token client_credentials, ES256 key",
}
PEER_SCENARIOS = {
    "oidc_token": "oidc-provider v9 /token client_credentials, RS256 JWT",
}
DOT_SCENARIOS = {
    "dot_token": "DOT /o/token/ client_credentials (form+Basic, hashed secret)",
    "dot_introspect": "DOT /o/introspect/ (Basic, form, hashed secret)",
    "dot_token_plain": "DOT /o/token/ (hash_client_secret=False)",
    "dot_introspect_plain": "DOT /o/introspect/ (hash_client_secret=False)",
}
LABELS = {**HEIMDALL_SCENARIOS, **PEER_SCENARIOS, **DOT_SCENARIOS}

# Targets from the performance issue.
TARGET_AUTHORIZE_VS_HELLO = 0.7
TARGET_AUTHORIZE_P99_MS = 20.0
TARGET_ISSUANCE_PER_S = 750.0  # the first issue's absolute target, still printed
TARGET_ISSUANCE_VS_OIDC = 1.0  # Heimdall RS256 tokens/s / oidc-provider RS256 tokens/s
TARGET_ES256_VS_OIDC = 2.0  # Heimdall ES256 tokens/s / oidc-provider RS256 tokens/s
TARGET_SIGNIN_VS_ARGON2 = 0.85  # password sign-ins/s / bare Argon2id verifications/s
TARGET_RSS_MB = 300.0  # gunicorn master + workers after the standard run
TARGET_SCALE_TOLERANCE = 0.10  # scale figures within +-10% of the 10-App figures


class SetupError(Exception):
    pass


# ---- HTTP ---------------------------------------------------------------------------------------


def call(
    base: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, Any, bytes]:
    """(status, parsed JSON or None, raw body) of one request; never raises on HTTP errors."""
    request = urllib.request.Request(base + path, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, parsed, raw


def post_json(base: str, path: str, payload: Any, token: str | None = None) -> tuple[int, Any, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return call(base, path, body=json.dumps(payload).encode(), headers=headers)


def expect(what: str, status: int, parsed: Any, raw: bytes, wanted: int) -> Any:
    if status != wanted:
        raise SetupError(f"{what}: expected HTTP {wanted}, got {status}: {raw[:500]!r}")
    return parsed


def basic(client_id: str, client_secret: str) -> str:
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def heimdall_token(base: str, client_id: str, client_secret: str) -> str:
    status, parsed, raw = post_json(
        base,
        "/v1/oauth/token",
        {"grantType": "client_credentials", "clientId": client_id, "clientSecret": client_secret},
    )
    return expect(f"token for {client_id}", status, parsed, raw, 200)["access_token"]


# ---- scenario files ----------------------------------------------------------------------------


def write_scenario(
    out: Path,
    name: str,
    *,
    base: str,
    path: str,
    body: bytes,
    content_type: str,
    authorization: str = "",
) -> None:
    scenarios = out / "scenarios"
    scenarios.mkdir(parents=True, exist_ok=True)
    body_file = scenarios / f"{name}.body"
    body_file.write_bytes(body)
    values = {
        "SCN_BASE": base,
        "SCN_PATH": path,
        "SCN_CONTENT_TYPE": content_type,
        "SCN_AUTHORIZATION": authorization,
        "SCN_BODY_FILE": str(body_file),
        "SCN_LABEL": LABELS[name],
    }
    (scenarios / f"{name}.env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
    (scenarios / f"{name}.skip").unlink(missing_ok=True)


def skip_scenario(out: Path, name: str, reason: str) -> None:
    scenarios = out / "scenarios"
    scenarios.mkdir(parents=True, exist_ok=True)
    (scenarios / f"{name}.skip").write_text(reason + "\n")
    print(f"  skip {name}: {reason}")


def probe(base: str, path: str, body: bytes, content_type: str, authorization: str = "") -> tuple[int, Any]:
    headers = {"Authorization": authorization} if authorization else {}
    status, parsed, _ = call(base, path, body=body, content_type=content_type, headers=headers)
    return status, parsed


def checked_scenario(
    out: Path,
    name: str,
    *,
    base: str,
    path: str,
    body: bytes,
    content_type: str,
    authorization: str = "",
    check: Any,
) -> None:
    """Send the scenario's request once, verify the answer is the intended one, then record it."""
    status, parsed = probe(base, path, body, content_type, authorization)
    problem = check(status, parsed)
    if problem:
        raise SetupError(f"probe of {name} ({path}): {problem}; got HTTP {status} {json.dumps(parsed)[:400]}")
    write_scenario(
        out, name, base=base, path=path, body=body, content_type=content_type, authorization=authorization
    )
    print(f"  ok   {name}: HTTP {status}")


# ---- subcommands: plumbing ---------------------------------------------------------------------


def _admin_connection():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER", "postgres"),
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    )


def cmd_db_create(args: argparse.Namespace) -> None:
    """Create a database; each NAME=VALUE becomes ALTER DATABASE ... SET (experiments only)."""
    from psycopg import sql

    with _admin_connection() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.name)))
        for setting in args.settings:
            name, _, value = setting.partition("=")
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(args.name), sql.Identifier(name), sql.Literal(value)
                )
            )


def cmd_db_drop(args: argparse.Namespace) -> None:
    from psycopg import sql

    with _admin_connection() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.name)))


def cmd_free_port(args: argparse.Namespace) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])


def cmd_secret(args: argparse.Namespace) -> None:
    print(secrets.token_urlsafe(48))


def cmd_wait(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(args.url, timeout=2) as response:
                if response.status < 500:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    sys.exit(f"server at {args.url} not ready after {args.timeout}s ({last})")


# ---- subcommands: setup ------------------------------------------------------------------------


def cmd_setup_heimdall(args: argparse.Namespace) -> None:
    base, out = args.base, Path(args.out)
    operator = json.loads(Path(args.operator).read_text())
    op_token = heimdall_token(base, operator["clientId"], operator["clientSecret"])

    status, parsed, raw = post_json(base, "/v1/apps", {"slug": "bench", "displayName": "Bench"}, op_token)
    admin = expect("POST /v1/apps", status, parsed, raw, 201)["adminClient"]
    admin_token = heimdall_token(base, admin["clientId"], admin["clientSecret"])
    (out / "bench-admin.json").write_text(json.dumps(admin))
    for name in ("docs.read", "docs.write"):
        status, parsed, raw = post_json(base, "/v1/permissions", {"name": name}, admin_token)
        expect(f"POST /v1/permissions {name}", status, parsed, raw, 201)
    status, parsed, raw = post_json(
        base, "/v1/roles", {"name": "reader", "permissions": ["docs.read"]}, admin_token
    )
    expect("POST /v1/roles reader", status, parsed, raw, 201)
    status, parsed, raw = post_json(
        base, "/v1/clients", {"name": "bench-reader", "roles": ["reader"]}, admin_token
    )
    reader = expect("POST /v1/clients", status, parsed, raw, 201)
    reader_id, reader_secret = reader["clientId"], reader["clientSecret"]
    reader_token = heimdall_token(base, reader_id, reader_secret)
    print(f"  setup: App 'bench', permissions docs.read/docs.write, role reader, client {reader_id}")

    json_type = "application/json"
    form_type = "application/x-www-form-urlencoded"
    authorize_body = {"token": reader_token, "permission": "docs.read"}

    checked_scenario(
        out,
        "hello",
        base=base,
        path="/bench/hello",
        body=json.dumps(authorize_body).encode(),  # same bytes on the wire as authorize
        content_type=json_type,
        check=lambda s, p: None if s == 200 and p == {"hello": "world"} else "expected the hello body",
    )
    checked_scenario(
        out,
        "authorize_allowed",
        base=base,
        path="/v1/authorize",
        body=json.dumps(authorize_body).encode(),
        content_type=json_type,
        check=lambda s, p: (
            None
            if s == 200 and p.get("allowed") is True and p.get("reason") == "granted"
            else "expected allowed/granted"
        ),
    )
    checked_scenario(
        out,
        "authorize_denied",
        base=base,
        path="/v1/authorize",
        body=json.dumps({"token": reader_token, "permission": "docs.write"}).encode(),
        content_type=json_type,
        check=lambda s, p: (
            None
            if s == 200 and p.get("allowed") is False and p.get("reason") == "permission_not_granted"
            else "expected denied/permission_not_granted"
        ),
    )
    checked_scenario(
        out,
        "token_client_credentials",
        base=base,
        path="/v1/oauth/token",
        body=json.dumps(
            {"grantType": "client_credentials", "clientId": reader_id, "clientSecret": reader_secret}
        ).encode(),
        content_type=json_type,
        check=lambda s, p: None if s == 200 and p.get("access_token") else "expected an access_token",
    )
    checked_scenario(
        out,
        "introspect",
        base=base,
        path="/v1/oauth/introspect",
        body=urllib.parse.urlencode({"token": reader_token}).encode(),
        content_type=form_type,
        authorization=basic(reader_id, reader_secret),
        check=lambda s, p: (
            None
            if s == 200 and p.get("active") is True and "docs.read" in p.get("scope", "").split()
            else "expected active with scope docs.read"
        ),
    )
    password_hook(out, base, admin_token)


def password_hook(out: Path, base: str, admin_token: str) -> None:
    """Scenario 6, password sign-in: runs only once the password grant exists (lead's hook).

    Skipped, with the reason in the report, while /v1/oauth/token answers unsupported_grant_type,
    or when a user cannot be set up through /v1/users. Never invents numbers.
    """
    name = "password_signin"
    email, password = "bench-user@example.com", "bench-" + secrets.token_urlsafe(18)
    sign_in = {"grantType": "password", "username": email, "password": password, "app": "bench"}
    status, parsed, _ = post_json(base, "/v1/oauth/token", {**sign_in, "password": "not-the-password"})
    code = (parsed or {}).get("error") or (parsed or {}).get("code")
    if code == "unsupported_grant_type":
        skip_scenario(out, name, "the password grant is not implemented yet (unsupported_grant_type)")
        return
    status, parsed, raw = post_json(
        base, "/v1/users", {"email": email, "password": password, "roles": ["reader"]}, admin_token
    )
    if status != 201:
        skip_scenario(
            out, name, f"could not create a user through POST /v1/users: HTTP {status} {raw[:200]!r}"
        )
        return
    try:
        checked_scenario(
            out,
            name,
            base=base,
            path="/v1/oauth/token",
            body=json.dumps(sign_in).encode(),
            content_type="application/json",
            check=lambda s, p: None if s == 200 and p.get("access_token") else "expected an access_token",
        )
    except SetupError as exc:
        skip_scenario(out, name, str(exc))


def cmd_setup_dot(args: argparse.Namespace) -> None:
    base, out = args.base, Path(args.out)
    clients = json.loads(Path(args.clients).read_text())
    form_type = "application/x-www-form-urlencoded"
    for variant, suffix in (("hashed", ""), ("plain", "_plain")):
        client = clients[variant]
        authorization = basic(client["clientId"], client["clientSecret"])
        token_body = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
        status, parsed = probe(base, "/o/token/", token_body, form_type, authorization)
        if status != 200 or not (parsed or {}).get("access_token"):
            raise SetupError(f"DOT token probe ({variant}): HTTP {status} {parsed}")
        access_token = parsed["access_token"]
        checked_scenario(
            out,
            f"dot_token{suffix}",
            base=base,
            path="/o/token/",
            body=token_body,
            content_type=form_type,
            authorization=authorization,
            check=lambda s, p: None if s == 200 and p.get("access_token") else "expected an access_token",
        )
        checked_scenario(
            out,
            f"dot_introspect{suffix}",
            base=base,
            path="/o/introspect/",
            body=urllib.parse.urlencode({"token": access_token}).encode(),
            content_type=form_type,
            authorization=authorization,
            check=lambda s, p: None if s == 200 and p.get("active") is True else "expected active",
        )


# ---- subcommands: ES256, peers, memory ---------------------------------------------------------


def _jwt_header(token: Any) -> dict[str, Any] | None:
    """The decoded JOSE header of a compact JWS, or None when `token` is not one."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    head = token.split(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def _jwt_check(alg: str) -> Any:
    def check(status: int, parsed: Any) -> str | None:
        if status != 200 or not isinstance(parsed, dict):
            return "expected HTTP 200 with a JSON body"
        header = _jwt_header(parsed.get("access_token"))
        if header is None:
            return "expected a JWT access_token (three base64url parts)"
        if header.get("alg") != alg:
            return f"expected a JWT signed with {alg}, got alg={header.get('alg')!r}"
        return None

    return check


def cmd_es256_enable(args: argparse.Namespace) -> None:
    """PATCH /v1/app {"settings": {"signingAlgorithm": "ES256"}} as the bench App's admin client.

    Prints `ok` when the build accepts it (run.sh then rotates the keys twice); otherwise writes
    the ES256 scenario's skip file with the answer, and prints `refused`.
    """
    base, out = args.base, Path(args.out)
    admin = json.loads((out / "bench-admin.json").read_text())
    token = heimdall_token(base, admin["clientId"], admin["clientSecret"])
    body = json.dumps({"settings": {"signingAlgorithm": "ES256"}}).encode()
    status, parsed, raw = call(
        base, "/v1/app", body=body, method="PATCH", headers={"Authorization": f"Bearer {token}"}
    )
    if status == 200:
        print("ok")
        return
    detail = (parsed or {}).get("message") or (parsed or {}).get("code") or raw[:160].decode(errors="replace")
    skip_scenario(
        out,
        "token_client_credentials_es256",
        f"not supported by this build (PATCH /v1/app signingAlgorithm=ES256 answered HTTP {status}: {detail})",
    )
    print("refused")


def cmd_setup_es256(args: argparse.Namespace) -> None:
    """After the switch and two rotations: the token scenario again, checked to be ES256."""
    out = Path(args.out)
    source = (out / "scenarios" / "token_client_credentials.body").read_bytes()
    try:
        checked_scenario(
            out,
            "token_client_credentials_es256",
            base=args.base,
            path="/v1/oauth/token",
            body=source,
            content_type="application/json",
            check=_jwt_check("ES256"),
        )
    except SetupError as exc:
        skip_scenario(out, "token_client_credentials_es256", f"ES256 accepted but not in effect: {exc}")
        sys.exit(1)


def cmd_setup_oidc(args: argparse.Namespace) -> None:
    """oidc-provider's token request, checked to return an RS256 JWT before it is measured."""
    body = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": "bench",
            "client_secret": args.secret,
            "scope": "docs.read",
        }
    ).encode()
    checked_scenario(
        Path(args.out),
        "oidc_token",
        base=args.base,
        path="/token",
        body=body,
        content_type="application/x-www-form-urlencoded",
        check=_jwt_check("RS256"),
    )


def _argon2_worker(encoded: str, password: str, deadline: float, start: float, queue: Any) -> None:
    from argon2 import PasswordHasher

    hasher = PasswordHasher()  # verify() takes m, t, p and the variant from the hash itself
    while time.time() < start:
        time.sleep(0.001)
    count = 0
    while time.time() < deadline:
        hasher.verify(encoded, password)
        count += 1
    queue.put(count)


def cmd_argon2_peer(args: argparse.Namespace) -> None:
    """Bare Argon2id verifications/s in N processes, on a hash the server produced if there is one.

    The hash and password are those of the password_signin scenario's user (read from the
    throwaway database); without that scenario, a hash made here with accounts/passwords.py's
    HASHER. Writes <out>/peers/argon2.json with the rate and the CPU accounting of wrk runs.
    """
    import multiprocessing

    out = Path(args.out)
    (out / "peers").mkdir(parents=True, exist_ok=True)
    encoded = password = source = None
    body = out / "scenarios" / "password_signin.body"
    if body.exists():
        sign_in = json.loads(body.read_text())
        password = sign_in["password"]
        import psycopg

        with psycopg.connect(
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=os.environ.get("PGPORT", "5432"),
            user=os.environ.get("PGUSER", "postgres"),
            dbname=args.db,
            connect_timeout=10,
        ) as conn:
            row = conn.execute(
                "SELECT m.password_hash FROM accounts_membership m JOIN accounts_identity i "
                "ON i.id = m.identity_id WHERE i.email = %s AND m.password_hash IS NOT NULL",
                [sign_in["username"]],
            ).fetchone()
        if row:
            encoded, source = row[0], "the server's hash of the sign-in scenario's user"
    if encoded is None:
        sys.path.insert(0, args.repo)
        from accounts.passwords import HASHER

        password = "bench-" + secrets.token_urlsafe(18)
        encoded, source = HASHER.hash(password), "accounts/passwords.py HASHER (no server hash)"
    from argon2 import PasswordHasher

    PasswordHasher().verify(encoded, password)  # the pair must verify, or the rate is meaningless
    params = encoded.split("$")[3] if encoded.count("$") >= 4 else "?"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start = time.time() + 0.5
    deadline = start + args.seconds
    before = _cpu_snapshot(os.getpid())
    procs = [
        ctx.Process(target=_argon2_worker, args=(encoded, password, deadline, start, queue))
        for _ in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    counts = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.time() - start
    after = _cpu_snapshot(os.getpid())
    hz, cores = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    capacity = elapsed * hz * cores
    delta = _cpu_delta(before, after)
    # children's ticks are only counted by their parent once reaped
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (usage.ru_utime + usage.ru_stime) * hz
    result = {
        "verifications": sum(counts),
        "seconds": round(elapsed, 2),
        "per_s": sum(counts) / elapsed,
        "processes": args.processes,
        "params": params,
        "variant": encoded.split("$")[1],
        "source": source,
        "cpu": {
            "peer_pct": round(100 * own / capacity, 1),
            "other_pct": round(max(0.0, 100 * (delta["busy"] - own - delta["postgres"]) / capacity), 1),
        },
    }
    (out / "peers" / "argon2.json").write_text(json.dumps(result))
    print(
        f"  argon2 peer: {result['per_s']:.1f} verifications/s ({args.processes} processes, "
        f"{result['variant']} {params}, {source}; other CPU {result['cpu']['other_pct']}%)"
    )


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found.append(child)
        found.extend(_descendants(child))
    return found


def _memory_kb(pid: int) -> dict[str, int]:
    values = {"rss_kb": 0, "pss_kb": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                values["rss_kb"] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                values["pss_kb"] = int(line.split()[1])
    except OSError:
        pass
    return values


def cmd_rss(args: argparse.Namespace) -> None:
    """RSS (and PSS) of a server's master and every descendant, from /proc; writes a JSON file."""
    processes = []
    for pid in [args.pid, *_descendants(args.pid)]:
        try:
            comm = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()[:80]
        except OSError:
            continue
        processes.append({"pid": pid, "role": "master" if pid == args.pid else "worker", "cmd": comm, **_memory_kb(pid)})
    total = {"rss_kb": sum(p["rss_kb"] for p in processes), "pss_kb": sum(p["pss_kb"] for p in processes)}
    Path(args.file).parent.mkdir(parents=True, exist_ok=True)
    Path(args.file).write_text(json.dumps({"label": args.label, "processes": processes, "total": total}))
    print(
        f"  memory ({args.label}): RSS {total['rss_kb'] / 1024:.1f} MB, PSS {total['pss_kb'] / 1024:.1f} MB over "
        f"{len(processes)} processes (" + ", ".join(f"{p['role']} {p['rss_kb'] / 1024:.0f}" for p in processes) + " MB RSS)"
    )


def cmd_kill_followers(args: argparse.Namespace) -> None:
    """Trigger a full resync in every Heimdall process from outside: terminate the connection its
    state follower LISTENs on. tokens/sync.py then reconnects and begins with a full resync,
    exactly as after a lost connection. Prints how many were terminated."""
    with _admin_connection() as conn:
        rows = conn.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND (query ILIKE 'LISTEN %%' OR query ILIKE '%%FROM core_statechange%%') "
            "AND query NOT ILIKE 'INSERT%%'",
            [args.db],
        ).fetchall()
        for pid, _ in rows:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    print(len(rows))


# ---- subcommands: report -----------------------------------------------------------------------


def _load_results(out: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name in LABELS:
        report = out / "wrk" / f"{name}.json"
        skip = out / "scenarios" / f"{name}.skip"
        if report.exists():
            raw = json.loads(report.read_text())
            seconds = raw["duration_us"] / 1e6
            errors = raw["errors"]
            socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
            results[name] = {
                "label": LABELS[name],
                "requests": raw["requests"],
                "seconds": round(seconds, 2),
                "rps": raw["requests"] / seconds,
                "ok_per_s": (raw["requests"] - errors["status"]) / seconds,
                "p50_ms": raw["latency_us"]["p50"] / 1000,
                "p90_ms": raw["latency_us"]["p90"] / 1000,
                "p99_ms": raw["latency_us"]["p99"] / 1000,
                "max_ms": raw["latency_us"]["max"] / 1000,
                "non_2xx": errors["status"],
                "socket_errors": socket_errors,
                "socket_detail": {k: errors[k] for k in ("connect", "read", "write", "timeout")},
                "cpu": raw.get("cpu", {}),
            }
        elif skip.exists():
            results[name] = {"label": LABELS[name], "skipped": skip.read_text().strip()}
    return results


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _fmt_ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "n/a"


def cmd_report(args: argparse.Namespace) -> None:
    out = Path(args.out)
    meta = json.loads((out / "meta.json").read_text())
    results = _load_results(out)
    lines: list[str] = []
    emit = lines.append

    emit("")
    emit("=" * 104)
    emit("Heimdall benchmark")
    worker_class = meta["worker_class"]
    server_log = out / "logs" / "heimdall-gunicorn.log"
    if server_log.exists():  # what gunicorn really used (--threads turns sync into gthread)
        for line in server_log.read_text().splitlines():
            if "Using worker:" in line:
                worker_class = line.rpartition("Using worker:")[2].strip()
    emit(
        f"machine: {meta['cores']} cores; gunicorn {worker_class} workers={meta['workers']}; "
        f"wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']} "
        f"(warm-up {meta['warmup']}, timeout {meta['timeout']})"
    )
    emit(
        f"NOTE: wrk and the server(s) share the same {meta['cores']} cores, so every figure is "
        "lower than on a dedicated server; ratios are the meaningful part."
    )
    emit("PostgreSQL 127.0.0.1:5432, fresh throwaway database per server; DEBUG off.")
    if meta.get("gunicorn_args") or meta.get("db_settings"):
        emit(
            f"EXPERIMENT (not the production set-up): gunicorn args '{meta.get('gunicorn_args')}', "
            f"database settings '{meta.get('db_settings')}'"
        )
    busy = meta.get("busy_before_pct")
    emit(
        f"other processes' CPU use before the run: {busy}%; load average after: {meta.get('loadavg_after')}"
        + ("  <-- the machine was busy: figures are low and noisy" if busy is not None and busy > 25 else "")
    )
    emit("=" * 104)
    header = f"{'scenario':<62} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>8} {'other CPU':>9}"
    emit(header)
    emit("-" * len(header))
    for name in LABELS:
        row = results.get(name)
        if row is None:
            continue
        if "skipped" in row:
            emit(f"{row['label']:<62} SKIPPED: {row['skipped']}")
            continue
        other = row["cpu"].get("other_pct")
        emit(
            f"{row['label']:<62} {row['rps']:>9.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['non_2xx']:>8} {row['socket_errors']:>8} {'' if other is None else f'{other:.0f}%':>9}"
            + ("  <-- noisy" if other is not None and other > 10 else "")
        )
    emit(
        "other CPU = share of the machine used by neither the server, nor wrk, nor PostgreSQL during "
        "the run (other people's work); above ~10% the row is noisy."
    )
    emit("")

    def rps(name: str) -> float | None:
        row = results.get(name)
        return row["rps"] if row and "rps" in row else None

    def ok_rate(name: str) -> float | None:
        row = results.get(name)
        return row["ok_per_s"] if row and "ok_per_s" in row else None

    verdicts: dict[str, str] = {}

    def skipped_reason(name: str, what: str) -> str | None:
        row = results.get(name)
        if row is None:
            return f"{what} was not run"
        if "skipped" in row:
            return f"{what}: {row['skipped']}"
        return None

    def verdict(key: str, text: str, ok: bool | None, reason: str | None = None) -> None:
        status = f"SKIPPED ({reason})" if ok is None else ("MET" if ok else "MISSED")
        verdicts[key] = status
        emit(f"  {text:<74} {status}")

    allowed = results.get("authorize_allowed", {})
    vs_hello = _ratio(rps("authorize_allowed"), rps("hello"))
    issuance = ok_rate("token_client_credentials")
    oidc = ok_rate("oidc_token")
    emit("Ratios")
    emit(f"  authorize allowed / hello          {_fmt_ratio(vs_hello):>8}")
    emit(f"  authorize denied  / hello          {_fmt_ratio(_ratio(rps('authorize_denied'), rps('hello'))):>8}")
    emit("")
    emit("Targets (performance issue; every ratio is against a peer measured in this run)")
    # 1. issuance vs oidc-provider (RS256 JWT, same worker count)
    reason = skipped_reason("token_client_credentials", "Heimdall issuance") or skipped_reason(
        "oidc_token", "oidc-provider peer"
    )
    ratio = _ratio(issuance, oidc)
    verdict(
        "issuance_vs_oidc_provider",
        f"1. issuance RS256 / oidc-provider RS256 = {_fmt_ratio(ratio)} "
        f"({issuance or 0:.0f} vs {oidc or 0:.0f} tokens/s), target >= {TARGET_ISSUANCE_VS_OIDC}x",
        None if reason or ratio is None else ratio >= TARGET_ISSUANCE_VS_OIDC,
        reason,
    )
    # 2. ES256 issuance vs oidc-provider RS256
    es256 = ok_rate("token_client_credentials_es256")
    reason = skipped_reason("token_client_credentials_es256", "ES256") or skipped_reason(
        "oidc_token", "oidc-provider peer"
    )
    ratio = _ratio(es256, oidc)
    verdict(
        "es256_issuance_vs_oidc_provider",
        f"2. issuance ES256 / oidc-provider RS256 = {_fmt_ratio(ratio)} "
        f"({es256 or 0:.0f} vs {oidc or 0:.0f} tokens/s), target >= {TARGET_ES256_VS_OIDC}x",
        None if reason or ratio is None else ratio >= TARGET_ES256_VS_OIDC,
        reason,
    )
    # 3. password sign-in vs bare Argon2id verifications
    peer_file = out / "peers" / "argon2.json"
    argon2 = json.loads(peer_file.read_text()) if peer_file.exists() else None
    signin = ok_rate("password_signin")
    reason = skipped_reason("password_signin", "password sign-in") or (
        None if argon2 else "the Argon2id peer was not run"
    )
    ratio = _ratio(signin, argon2["per_s"] if argon2 else None)
    verdict(
        "signin_vs_argon2",
        f"3. password sign-ins / bare Argon2id verifies = {_fmt_ratio(ratio)} "
        f"({signin or 0:.1f} vs {argon2['per_s'] if argon2 else 0:.1f}/s), target >= {TARGET_SIGNIN_VS_ARGON2}x",
        None if reason or ratio is None else ratio >= TARGET_SIGNIN_VS_ARGON2,
        reason,
    )
    if argon2:
        emit(
            f"       Argon2id peer: {argon2['processes']} processes, {argon2['variant']} {argon2['params']} "
            f"({argon2['source']}), {argon2['seconds']} s, other CPU {argon2['cpu']['other_pct']}%"
        )
    # 4a. authorize p99 and errors
    if "p99_ms" in allowed:
        errors = allowed["non_2xx"] + allowed["socket_errors"]
        verdict(
            "authorize_p99",
            f"4. authorize allowed p99 = {allowed['p99_ms']:.2f} ms at -c{meta['connections']}, errors {errors}; "
            f"target < {TARGET_AUTHORIZE_P99_MS:.0f} ms, 0 errors",
            allowed["p99_ms"] < TARGET_AUTHORIZE_P99_MS and errors == 0,
        )
    else:
        verdict("authorize_p99", "4. authorize allowed p99 < 20 ms, 0 errors", None, "authorize_allowed was not run")
    # 4b. memory after the standard run
    rss_file = out / "memory" / "heimdall-after-run.json"
    if rss_file.exists():
        memory = json.loads(rss_file.read_text())
        total_mb = memory["total"]["rss_kb"] / 1024
        per = ", ".join(f"{p['role']} {p['rss_kb'] / 1024:.0f}" for p in memory["processes"])
        verdict(
            "rss",
            f"4. RSS gunicorn master + workers = {total_mb:.0f} MB ({per}); target < {TARGET_RSS_MB:.0f} MB",
            total_mb < TARGET_RSS_MB,
        )
        emit(f"       (PSS, shared pages counted once: {memory['total']['pss_kb'] / 1024:.0f} MB)")
    else:
        verdict("rss", "4. RSS gunicorn master + workers < 300 MB", None, "not measured")
    emit("")
    emit("Earlier issue's targets (kept for continuity)")
    verdict(
        "authorize_vs_hello",
        f"   authorize allowed / hello = {_fmt_ratio(vs_hello)}; target >= {TARGET_AUTHORIZE_VS_HELLO}x",
        None if vs_hello is None else vs_hello >= TARGET_AUTHORIZE_VS_HELLO,
        None if vs_hello is not None else "hello or authorize_allowed was not run",
    )
    verdict(
        "issuance_abs",
        f"   issuance = {issuance or 0:.0f} tokens/s; target >= {TARGET_ISSUANCE_PER_S:.0f}",
        None if issuance is None else issuance >= TARGET_ISSUANCE_PER_S,
        None if issuance is not None else "token_client_credentials was not run",
    )

    if any(name in results for name in DOT_SCENARIOS):
        emit("")
        emit(f"Heimdall / django-oauth-toolkit ({meta.get('dot_versions', 'DOT')}), same workers, same wrk")
        comparisons = [
            ("issuance", "token_client_credentials", "dot_token", "DOT default, hashed secret"),
            ("introspection", "introspect", "dot_introspect", "DOT default, hashed secret"),
            ("issuance", "token_client_credentials", "dot_token_plain", "DOT hash_client_secret=False"),
            ("introspection", "introspect", "dot_introspect_plain", "DOT hash_client_secret=False"),
        ]
        for what, ours, theirs, note in comparisons:
            mine, other = ok_rate(ours), ok_rate(theirs)
            if theirs in results and "skipped" in results[theirs]:
                emit(f"  {what:<14} vs {note:<30} skipped: {results[theirs]['skipped']}")
                continue
            emit(
                f"  {what:<14} vs {note:<30} {_fmt_ratio(_ratio(mine, other)):>9}   "
                f"(Heimdall {mine or 0:.1f}/s vs DOT {other or 0:.1f}/s, 2xx answers)"
            )
        hashed = results.get("dot_token", {})
        if hashed.get("socket_detail", {}).get("timeout"):
            emit(
                "  note: DOT's hashed-secret runs hit wrk's timeout: each client authentication runs "
                "Django's password hasher (PBKDF2), so they are CPU-bound on the hash."
            )
    emit("")
    emit(f"raw wrk output, server logs and summary.json: {out}")
    text = "\n".join(lines)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    (out / "summary.json").write_text(
        json.dumps({"meta": meta, "results": results, "targets_met": verdicts}, indent=2)
    )


def _wrk_summary(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return {
        "rps": raw["requests"] / seconds,
        "ok_per_s": (raw["requests"] - errors["status"]) / seconds,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "max_ms": raw["latency_us"]["max"] / 1000,
        "errors": errors["status"] + errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "other_pct": raw.get("cpu", {}).get("other_pct"),
    }


def cmd_scale_report(args: argparse.Namespace) -> None:
    """--scale: the 10-App and the big figures side by side, memory per process, the resync sweep."""
    out = Path(args.out)
    meta = json.loads((out / "meta.json").read_text())
    scale = out / "scale"
    lines: list[str] = []
    emit = lines.append
    verdicts: dict[str, str] = {}
    seeds = {label: json.loads((scale / f"seed-{label}.json").read_text()) for label in ("base", "big")}
    base_n, big_n = seeds["base"]["apps_total"], seeds["big"]["apps_total"]
    emit("")
    emit("=" * 104)
    emit(
        f"Heimdall at scale: {big_n:,} Apps / {seeds['big']['memberships_total']:,} memberships against "
        f"{base_n} Apps / {seeds['base']['memberships_total']:,} memberships (same server, same database)"
    )
    emit(
        f"machine: {meta['cores']} cores; gunicorn {meta['worker_class']} workers={meta['workers']} x "
        f"{meta['server_threads']} threads; wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']}; "
        f"other CPU before: {meta['busy_before_pct']}%; load after: {meta['loadavg_after']}"
    )
    emit(
        f"seeding (COPY, in one transaction, + ANALYZE): {seeds['big']['apps_added']:,} Apps, "
        f"{seeds['big']['memberships_added']:,} memberships, {seeds['big']['identities_added']:,} identities, "
        f"{seeds['big']['signing_keys_added']:,} signing keys in {seeds['big']['seconds']} s"
    )
    emit("=" * 104)
    header = f"{'scenario':<48} {f'{base_n} Apps req/s':>16} {f'{big_n} Apps req/s':>18} {'ratio':>7} {'p99 base':>9} {'p99 big':>8}  target"
    emit(header)
    emit("-" * len(header))
    for name in ("authorize_allowed", "introspect", "token_client_credentials"):
        base = _wrk_summary(scale / "base" / f"{name}.json")
        big = _wrk_summary(scale / "big" / f"{name}.json")
        if not base or not big:
            verdicts[name] = "SKIPPED (not measured)"
            emit(f"{LABELS[name]:<48} SKIPPED (not measured)")
            continue
        ratio = big["ok_per_s"] / base["ok_per_s"] if base["ok_per_s"] else 0.0
        ok = abs(ratio - 1) <= TARGET_SCALE_TOLERANCE and big["errors"] == 0
        verdicts[name] = "MET" if ok else "MISSED"
        noisy = any((r["other_pct"] or 0) > 10 for r in (base, big))
        emit(
            f"{LABELS[name]:<48} {base['ok_per_s']:>16.1f} {big['ok_per_s']:>18.1f} {ratio:>6.2f}x "
            f"{base['p99_ms']:>9.2f} {big['p99_ms']:>8.2f}  1.00x +-10%: {verdicts[name]}"
            + (f"  (errors {big['errors']})" if big["errors"] else "")
            + ("  <-- noisy" if noisy else "")
        )
    emit("")
    emit("Memory (from /proc after each set of runs; RSS counts pages shared with the master in every process)")
    for label in ("base", "big"):
        memory = json.loads((scale / label / "memory.json").read_text())
        per = ", ".join(f"{p['role']} {p['pid']} {p['rss_kb'] / 1024:.0f} MB" for p in memory["processes"])
        emit(
            f"  {label:<5} total RSS {memory['total']['rss_kb'] / 1024:6.0f} MB, PSS {memory['total']['pss_kb'] / 1024:6.0f} MB: {per}"
        )
    big_mem = json.loads((scale / "big" / "memory.json").read_text())
    rss_mb = big_mem["total"]["rss_kb"] / 1024
    verdicts["rss"] = "MET" if rss_mb < TARGET_RSS_MB else "MISSED"
    emit(f"  RSS master + workers at scale {rss_mb:.0f} MB; target < {TARGET_RSS_MB:.0f} MB: {verdicts['rss']}")

    emit("")
    resync = scale / "resync"
    windows = []
    for index in range(10_000):
        summary = _wrk_summary(resync / f"w{index}.json")
        if summary is None:
            break
        summary["index"] = index
        summary["start"] = float((resync / f"w{index}.start").read_text())
        windows.append(summary)
    if windows:
        started = float((scale / "server-started-big").read_text())
        triggered = sorted(resync.glob("triggered-w*"))
        trigger_index = int(triggered[0].name.rpartition("w")[2]) if triggered else None
        killed = triggered[0].read_text().strip() if triggered else "0"
        window_s = meta["resync_window"]
        # tokens/sync.py: each process resyncs FULL_RESYNC_SECONDS (60 s) after its follower
        # started, checked at least every RESYNC_SECONDS (5 s): expect one within [60k, 60k+5] s.
        def natural(w: dict[str, Any]) -> bool:
            a, b = w["start"] - started, w["start"] - started + window_s
            return any(a <= 60 * k + 6 and b >= 60 * k - 1 for k in range(1, 100))

        p99s = sorted(w["p99_ms"] for w in windows)
        median = p99s[len(p99s) // 2]
        emit(
            f"Full resync at {big_n:,} Apps: authorize in {len(windows)} back-to-back {window_s} s wrk windows "
            f"(window start = seconds since the server started)"
        )
        emit(f"  {'window':>6} {'start s':>8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}  note")
        for w in windows:
            notes = []
            if trigger_index == w["index"]:
                notes.append(f"full resync triggered from outside ({killed} follower connections terminated)")
            if natural(w):
                notes.append("scheduled full resync expected (60 s after start)")
            if (w["other_pct"] or 0) > 10:
                notes.append(f"noisy ({w['other_pct']:.0f}% other CPU)")
            emit(
                f"  {w['index']:>6} {w['start'] - started:>8.1f} {w['rps']:>8.0f} {w['p50_ms']:>7.2f} {w['p99_ms']:>7.2f} "
                f"{w['max_ms']:>7.1f} {w['errors']:>6}  {'; '.join(notes)}"
            )
        resync_windows = [w for w in windows if w["index"] == trigger_index or natural(w)]
        worst = max(resync_windows, key=lambda w: w["p99_ms"]) if resync_windows else None
        emit(f"  median window p99 {median:.2f} ms; worst window p99 {max(p99s):.2f} ms")
        if worst:
            emit(
                f"  worst window containing a resync: p99 {worst['p99_ms']:.2f} ms, max {worst['max_ms']:.1f} ms "
                f"(window {worst['index']}); {worst['p99_ms'] / median:.2f}x the median window"
            )
            ok = worst["p99_ms"] < TARGET_AUTHORIZE_P99_MS and all(w["errors"] == 0 for w in windows)
            verdicts["authorize_p99_during_resync"] = "MET" if ok else "MISSED"
            emit(
                f"  authorize p99 < {TARGET_AUTHORIZE_P99_MS:.0f} ms with 0 errors in every resync window: "
                f"{verdicts['authorize_p99_during_resync']}"
            )
        if killed == "0":
            emit("  note: no follower connection was found to terminate; only scheduled resyncs are covered")
    emit("")
    emit(f"raw wrk output, server logs and scale-summary.json: {out}")
    text = "\n".join(lines)
    print(text)
    (out / "scale-summary.txt").write_text(text + "\n")
    (out / "scale-summary.json").write_text(json.dumps({"meta": meta, "seeds": seeds, "targets": verdicts}, indent=2))


# ---- subcommands: profiles ---------------------------------------------------------------------


PROJECT_PACKAGES = (
    "core",
    "tokens",
    "accounts",
    "tenants",
    "rbac",
    "audit",
    "invites",
    "heimdall",
    "benchsite",
)


def _frame_package(frame: str) -> str:
    """'func (pkg/mod.py:12)' -> 'pkg' (py-spy prints paths relative to sys.path entries)."""
    location = frame.rpartition("(")[2]
    return location.split("/")[0].split(".")[0] if "/" in location else location.split(".py")[0]


def cmd_top_frames(args: argparse.Namespace) -> None:
    """Summarise a py-spy raw (collapsed) profile of gunicorn workers, request handling only."""
    own: dict[str, int] = defaultdict(int)
    project: dict[str, int] = defaultdict(int)
    db_wait: dict[str, int] = defaultdict(int)
    by_package: dict[str, int] = defaultdict(int)
    total = 0
    for line in Path(args.file).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or "WSGIHandler.__call__" not in stack:
            continue  # idle workers, the master, the sync follower thread
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        total += count
        leaf = frames[-1]
        own[leaf] += count
        by_package[_frame_package(leaf)] += count
        ours = [f for f in frames if _frame_package(f) in PROJECT_PACKAGES]
        for frame in set(ours):
            project[frame] += count
        if _frame_package(leaf) == "psycopg":
            db_wait[ours[-1] if ours else "(outside project code)"] += count
    if not total:
        print(f"{args.title}: no request samples in {args.file}")
        return

    def show(title: str, table: dict[str, int], n: int) -> None:
        print(f"  {title}")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:n]:
            print(f"    {100 * count / total:5.1f}%  {frame}")

    print(f"{args.title}: {total} samples inside request handling (wall time of busy workers)")
    show("where the time is, by package of the innermost frame", by_package, 10)
    show(f"top {args.n} frames by self time", own, args.n)
    show(f"top {args.n} project frames by inclusive time", project, args.n)
    show("time in psycopg (waiting for PostgreSQL), by innermost project frame", db_wait, 8)


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def _cpu_snapshot(server_pid: int) -> dict[str, Any]:
    """Machine busy ticks, and ticks per process of the server's tree and of PostgreSQL."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    postgres: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith("postgres"):
                postgres[int(entry.name)] = _ticks(int(entry.name))
    server = {pid: _ticks(pid) for pid in (server_pid, *_children(server_pid))}
    return {"busy": sum(fields) - fields[3] - fields[4], "server": server, "postgres": postgres}


def _cpu_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Ticks used between two snapshots, per kind. Per process: one that started meanwhile counts
    whole; one that exited meanwhile (a PostgreSQL backend whose connection reached
    CONN_MAX_AGE, a terminated LISTEN connection) is left out. Subtracting sums instead would
    take its whole lifetime off PostgreSQL's share and add it to "other CPU"."""

    def used(kind: str) -> int:
        return sum(ticks - before[kind].get(pid, 0) for pid, ticks in after[kind].items())

    return {"busy": after["busy"] - before["busy"], "server": used("server"), "postgres": used("postgres")}


def cmd_wrk(args: argparse.Namespace) -> None:
    """Run wrk, and add to its JSON report where the machine's CPU went meanwhile.

    `cpu.other_pct` is CPU used by neither the server, nor wrk, nor PostgreSQL, as a % of the
    machine: other people's work, which makes the figures low and noisy when it is not ~0.
    """
    import resource
    import subprocess

    hz = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    command = args.wrk[1:] if args.wrk[:1] == ["--"] else args.wrk
    before = _cpu_snapshot(args.server_pid)
    started = time.monotonic()
    with open(args.text, "wb") as text:
        code = subprocess.call(command, stdout=text, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    after = _cpu_snapshot(args.server_pid)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        sys.exit(f"wrk exited with {code}; see {args.text}")
    report = Path(os.environ.get("BENCH_REPORT", ""))
    if not report.is_file():
        return  # a warm-up (report to /dev/null)
    wrk_ticks = (usage.ru_utime + usage.ru_stime) * hz
    delta = _cpu_delta(before, after)
    capacity = elapsed * hz * cores
    data = json.loads(report.read_text())
    data["cpu"] = {
        "machine_busy_pct": round(100 * delta["busy"] / capacity, 1),
        "server_pct": round(100 * delta["server"] / capacity, 1),
        "wrk_pct": round(100 * wrk_ticks / capacity, 1),
        "postgres_pct": round(100 * delta["postgres"] / capacity, 1),
        "other_pct": round(
            max(0.0, 100 * (delta["busy"] - delta["server"] - wrk_ticks - delta["postgres"]) / capacity), 1
        ),
    }
    report.write_text(json.dumps(data))


def cmd_other_cpu(args: argparse.Namespace) -> None:
    """Print the rounded `cpu.other_pct` of a wrk report (0 when unknown)."""
    data = json.loads(Path(args.file).read_text())
    print(round(data.get("cpu", {}).get("other_pct", 0)))


def cmd_cpu_busy(args: argparse.Namespace) -> None:
    """Wait (up to --max seconds) for the machine to be mostly idle; print the last busy %."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields)

    deadline = time.monotonic() + args.max
    while True:
        idle0, total0 = sample()
        time.sleep(2)
        idle1, total1 = sample()
        busy = 100 * (1 - (idle1 - idle0) / max(1, total1 - total0))
        if busy <= args.threshold or time.monotonic() >= deadline:
            print(round(busy))
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("db-create")
    p.add_argument("name")
    p.add_argument("settings", nargs="*", metavar="NAME=VALUE")
    p.set_defaults(func=cmd_db_create)
    p = sub.add_parser("db-drop")
    p.add_argument("name")
    p.set_defaults(func=cmd_db_drop)
    sub.add_parser("free-port").set_defaults(func=cmd_free_port)
    sub.add_parser("secret").set_defaults(func=cmd_secret)
    p = sub.add_parser("wait")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(func=cmd_wait)
    p = sub.add_parser("setup-heimdall")
    p.add_argument("--base", required=True)
    p.add_argument("--operator", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_setup_heimdall)
    p = sub.add_parser("setup-dot")
    p.add_argument("--base", required=True)
    p.add_argument("--clients", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_setup_dot)
    p = sub.add_parser("es256-enable")
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_es256_enable)
    p = sub.add_parser("setup-es256")
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_setup_es256)
    p = sub.add_parser("setup-oidc")
    p.add_argument("--base", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_setup_oidc)
    p = sub.add_parser("argon2-peer")
    p.add_argument("--out", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--processes", type=int, required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.set_defaults(func=cmd_argon2_peer)
    p = sub.add_parser("rss")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--file", required=True)
    p.set_defaults(func=cmd_rss)
    p = sub.add_parser("kill-followers")
    p.add_argument("db")
    p.set_defaults(func=cmd_kill_followers)
    p = sub.add_parser("scale-report")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_scale_report)
    p = sub.add_parser("report")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("wrk")
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--text", required=True)
    p.add_argument("wrk", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_wrk)
    p = sub.add_parser("other-cpu")
    p.add_argument("file")
    p.set_defaults(func=cmd_other_cpu)
    p = sub.add_parser("cpu-busy")
    p.add_argument("--max", type=float, default=0)
    p.add_argument("--threshold", type=float, default=25)
    p.set_defaults(func=cmd_cpu_busy)
    p = sub.add_parser("top-frames")
    p.add_argument("file")
    p.add_argument("--title", default="profile")
    p.add_argument("-n", type=int, default=15)
    p.set_defaults(func=cmd_top_frames)
    args = parser.parse_args()
    try:
        args.func(args)
    except SetupError as exc:
        sys.exit(f"setup failed: {exc}")


if __name__ == "__main__":
    main()
