"""Fuzz the whole API against its own OpenAPI document (schemathesis, every check).

`DATABASE_URL=postgres://… .venv/bin/python tests/fuzz/run.py` (what `.ci/run` does, on the CI
database): migrates, bootstraps an operator client, starts gunicorn on a free loopback port,
creates two Apps through the API ("fuzz", whose admin client is the fuzzer's main identity, and
"fuzz-victim", the one the operator's `/v1/apps/{slug}` operations may change and delete) and a
few objects in "fuzz" (a permission, a role, a user, a client, an invite, an identity provider),
so that routes with ids are reached, then runs schemathesis with `--checks all` and exits with
its status: any finding fails the step.

Authentication: every operation that documents `bearerAuth` gets the App admin token, except the
operator's `/v1/apps` routes, which get the operator token (per-operation header in the generated
config). Sign-in throttling is left on: the 429 answers it gives are in the document.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))  # run as a script: the repository's `tests` package is importable

from tests.servers import server_env  # noqa: E402

# Two groups of operations, one schemathesis process each (see main()).
GROUPS = {
    "accounts": r"^/v1/(apps|users|me|invites|audit-events)(/|$)",
    "access": r"^/v1/(app|clients|roles|permissions|oauth|identity-providers|authorize)(/|$)",
}


def _summary(report_dir: Path) -> tuple[int, int, int]:
    """(test cases generated, unique failures, errors) from a schemathesis JSON report."""
    reports = sorted(report_dir.glob("json-*.json"))
    if not reports:
        return (0, 0, 1)  # no report: the run itself failed
    report = json.loads(reports[-1].read_text())
    return (report["test_cases"]["generated"], report["test_cases"]["unique_failures"], len(report["errors"]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str, port: int) -> dict[str, str]:
    return server_env(database_url, public_url=f"http://127.0.0.1:{port}", allowed_hosts="127.0.0.1", label="fuzz")


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None, acting: str | None = None
) -> Any:
    headers = {"content-type": "application/json"}
    if acting:
        headers["heimdall-app"] = acting
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        sys.exit(f"seeding: {method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}")
    return json.loads(raw) if raw else None


def _token(base: str, client_id: str, client_secret: str) -> str:
    answer = _call(base, "POST", "/v1/oauth/token", {"clientId": client_id, "clientSecret": client_secret})
    return str(answer["access_token"])


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with {server.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not become ready in 60 s")


def seed(base: str, operator: dict[str, str]) -> dict[str, Any]:
    """Two Apps and a few objects; returns the tokens and ids the config needs."""
    op_token = _token(base, operator["clientId"], operator["clientSecret"])
    app = _call(base, "POST", "/v1/apps", {"slug": "fuzz", "displayName": "Fuzz"}, op_token)
    _call(base, "POST", "/v1/apps", {"slug": "fuzz-victim", "displayName": "Fuzz victim"}, op_token)
    admin = _token(base, app["adminClient"]["clientId"], app["adminClient"]["clientSecret"])

    def as_operator(path: str, body: dict[str, Any]) -> Any:
        # The operator acting in "fuzz" (Heimdall-App) grants what the admin client does not hold.
        return _call(base, "POST", path, body, op_token, acting="fuzz")

    as_operator("/v1/permissions", {"name": "docs.read", "description": "Read docs"})
    as_operator("/v1/roles", {"name": "fuzz-reader", "permissions": ["docs.read"]})
    user = as_operator("/v1/users", {"email": "alice@example.com", "password": "a long passphrase here"})
    client = as_operator("/v1/clients", {"name": "seeded", "permissions": ["docs.read"]})
    invite = as_operator("/v1/invites", {"role": "viewer", "maxUses": 5})
    provider = as_operator("/v1/identity-providers", {"kind": "github", "clientId": "gh", "clientSecret": "s"})
    return {
        "operator_token": op_token,
        "admin_token": admin,
        "user_id": user["id"],
        "client_id": client["clientId"],
        "invite_id": invite["id"],
        "invite_token": invite["token"],
        "provider_id": provider["id"],
    }


# What a schema-valid request may be answered besides success: schemathesis's defaults (401, 403,
# 404, 409, 429) plus 410 (an invite used up) and 422, which this API answers only to well-formed
# requests that a business rule refuses (unknown role, weak password, reserved name). 400 is not
# here: a schema-valid request never gets one, except from the OAuth endpoints (below).
ACCEPTED = ("2xx", "3xx", "401", "403", "404", "409", "410", "422", "429")


def seeded_ids(seeded: dict[str, Any]) -> dict[str, Any]:
    """What tests/fuzz/seed_hooks.py puts in the path of cases that should reach an object."""
    return {
        "slug": "fuzz",
        "user_id": seeded["user_id"],
        "client_id": seeded["client_id"],
        "invite_id": seeded["invite_id"],
        "provider_id": seeded["provider_id"],
        # The operator changes an App of its own, which it may suspend.
        "GET /v1/apps/{slug}": {"slug": "fuzz-victim"},
        "PATCH /v1/apps/{slug}": {"slug": "fuzz-victim"},
        "GET /v1/permissions/{name}": {"name": "docs.read"},
        "GET /v1/roles/{name}": {"name": "fuzz-reader"},
        "PATCH /v1/roles/{name}": {"name": "fuzz-reader"},
    }


def config(seeded: dict[str, Any], max_examples: int) -> str:
    """schemathesis.toml: auth, the seeded ids as parameters, and the operator's own routes."""

    def q(value: str) -> str:
        return json.dumps(value)

    operator = f"Bearer {seeded['operator_token']}"
    accepted = ", ".join(f'"{status}"' for status in ACCEPTED)
    oauth_accepted = ", ".join(f'"{status}"' for status in (*ACCEPTED, "400"))
    return f"""
# One worker per process: schemathesis's workers are threads, and two processes use two cores.
workers = 1
hooks = {q(str(Path(__file__).with_name("seed_hooks.py")))}
max-failures = 100
continue-on-failure = true
request-timeout = 30
warnings = false

[generation]
max-examples = {max_examples}
# NUL is refused everywhere (400): the document says so with a pattern on every string, so
# negative cases still send it; positive cases simply never contain one.
allow-x00 = false
# Unknown query parameters are ignored, as the document's description says (OpenAPI cannot
# close a query string); bodies are exact either way (additionalProperties false or documented).
allow-extra-parameters = false

[checks]
enabled = true

[checks.positive_data_acceptance]
expected-statuses = [{accepted}]

[auth.openapi.bearerAuth]
bearer = {q(seeded["admin_token"])}

# The operator's own routes, with the operator's token, on an App of their own.
[[operations]]
include-path-regex = "^/v1/apps(/[^/]+)?$"
headers = {{ Authorization = {q(operator)} }}

# RFC 6749 answers a well-formed request that names an unknown grant, code, client, App or
# state with 400 (invalid_grant, invalid_request, ...): a document cannot know which exist.
# The OAuth endpoints ignore parameters they do not know (RFC 6749 section 3.1), as every
# endpoint does with unknown query parameters (see `allow-extra-parameters` above).
[[operations]]
include-path-regex = "^/v1/oauth/"
checks = {{ positive_data_acceptance = {{ expected-statuses = [{oauth_accepted}] }} }}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=40, help="per operation and phase")
    parser.add_argument("--min-cases", type=int, default=0, help="fail unless at least this many test cases ran")
    parser.add_argument("--keep", action="store_true", help="print the work directory and keep it")
    parser.add_argument("schemathesis_args", nargs="*", help="extra arguments for `schemathesis run`")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at a PostgreSQL database (the CI database)")
    begun = time.monotonic()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(database_url, port)
    work = Path(tempfile.mkdtemp(prefix="heimdall-fuzz-"))
    _manage(env, "migrate", "--noinput", "-v", "0")
    operator = json.loads(_manage(env, "bootstrap", "--create-client", "fuzz-operator", "--json"))
    log = work / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "heimdall.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "2",
                "--timeout",
                "60",
                # Long query strings reach Heimdall, which answers them itself (an HTTP server in
                # front refuses beyond its own limit with 414, as the document's description says).
                "--limit-request-line",
                "0",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(base, server, log)
        seeded = seed(base, operator)
        (work / "schemathesis.toml").write_text(config(seeded, args.max_examples))
        started = time.monotonic()
        # Schemathesis generates on one core (its workers are threads): two runs over disjoint
        # groups of operations use both. Each group keeps its resources' create/read/delete
        # together, so the stateful phase still follows its links.
        runs = []
        for name, group in GROUPS.items():
            output = (work / f"{name}.log").open("wb")
            command = [
                str(BIN / "schemathesis"),
                "--config-file",
                str(work / "schemathesis.toml"),
                "run",
                f"{base}/v1/openapi.json",
                "--url",
                base,
                "--checks",
                "all",
                "--include-path-regex",
                group,
                "--report",
                "junit,json",
                "--report-dir",
                str(work / f"report-{name}"),
                *args.schemathesis_args,
            ]
            environment = {**os.environ, "HEIMDALL_FUZZ_SEEDED": json.dumps(seeded_ids(seeded))}
            process = subprocess.Popen(
                command, cwd=work, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
            runs.append((name, process, output))
        statuses = []
        totals = [0, 0, 0]
        for name, process, output in runs:
            statuses.append(process.wait())
            output.close()
            text = (work / f"{name}.log").read_text(errors="replace")
            print(f"---- schemathesis, operations {GROUPS[name]} ----\n{text}", flush=True)
            for index, found in enumerate(_summary(work / f"report-{name}")):
                totals[index] += found
        status = max(statuses)
        print(
            f"fuzz: {totals[0]} test cases, all checks (--checks all), {totals[1]} unique failures, "
            f"{totals[2]} errors; schemathesis exited {statuses} after {time.monotonic() - started:.0f} s "
            f"({time.monotonic() - begun:.0f} s with migrating, starting and seeding)",
            flush=True,
        )
        if totals[0] < args.min_cases:
            print(f"fuzz: fewer than {args.min_cases} test cases: raise --max-examples", flush=True)
            status = max(status, 1)
        if status != 0 or args.keep:
            print(f"fuzz: work directory (config, server log, reports): {work}", flush=True)
        return status
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
