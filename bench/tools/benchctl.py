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
}
DOT_SCENARIOS = {
    "dot_token": "DOT /o/token/ client_credentials (form+Basic, hashed secret)",
    "dot_introspect": "DOT /o/introspect/ (Basic, form, hashed secret)",
    "dot_token_plain": "DOT /o/token/ (hash_client_secret=False)",
    "dot_introspect_plain": "DOT /o/introspect/ (hash_client_secret=False)",
}
LABELS = {**HEIMDALL_SCENARIOS, **DOT_SCENARIOS}

# Targets from the performance issue.
TARGET_AUTHORIZE_VS_HELLO = 0.7
TARGET_AUTHORIZE_P99_MS = 20.0
TARGET_ISSUANCE_PER_S = 750.0


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

    verdicts: dict[str, Any] = {}
    allowed = results.get("authorize_allowed", {})
    vs_hello = _ratio(rps("authorize_allowed"), rps("hello"))
    emit("Ratios and targets")
    emit(
        f"  authorize allowed / hello          {_fmt_ratio(vs_hello):>8}   target >= {TARGET_AUTHORIZE_VS_HELLO}x"
    )
    emit(
        f"  authorize denied  / hello          {_fmt_ratio(_ratio(rps('authorize_denied'), rps('hello'))):>8}"
    )
    if "p99_ms" in allowed:
        errors = allowed["non_2xx"] + allowed["socket_errors"]
        emit(
            f"  authorize allowed p99              {allowed['p99_ms']:>6.2f} ms  target < {TARGET_AUTHORIZE_P99_MS} ms; "
            f"errors {errors} (target 0)"
        )
        verdicts["authorize"] = bool(
            vs_hello is not None
            and vs_hello >= TARGET_AUTHORIZE_VS_HELLO
            and allowed["p99_ms"] < TARGET_AUTHORIZE_P99_MS
            and errors == 0
        )
    issuance = ok_rate("token_client_credentials")
    if issuance is not None:
        emit(f"  issuance (2xx tokens/s)            {issuance:>8.1f}   target >= {TARGET_ISSUANCE_PER_S:.0f}")
        verdicts["issuance"] = issuance >= TARGET_ISSUANCE_PER_S
    for key, verdict in verdicts.items():
        emit(f"  {key:<34} {'MET' if verdict else 'MISSED':>8}")

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


def _cpu_snapshot(server_pid: int) -> dict[str, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    postgres = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith("postgres"):
                postgres += _ticks(int(entry.name))
    server = _ticks(server_pid) + sum(_ticks(child) for child in _children(server_pid))
    return {"busy": sum(fields) - fields[3] - fields[4], "server": server, "postgres": postgres}


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
    delta = {k: after[k] - before[k] for k in before}
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
