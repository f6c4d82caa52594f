"""In-process profile of Heimdall's hot paths with pyinstrument: no network, no load generator.

Calls the real WSGI application (the same object gunicorn serves, with every middleware and the
request_started/finished signals that manage database connections) a few thousand times per
path, single-threaded, against a real PostgreSQL database. Each path is timed first without the
profiler (mean wall time per call), then profiled; a summary (self time by function and package,
project frames by inclusive time), pyinstrument's call tree and an HTML report per path are
written to --out.

`bench/run.sh --profile` runs it with a fresh throwaway database. By hand:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty db> SECRET_KEY=<32+ chars> \\
    PYTHONPATH=.:bench:<site-packages holding pyinstrument> \\
    .venv/bin/python bench/tools/profile_inprocess.py --out /tmp/profile -n 3000
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsgi_call import boot  # bench/tools, the script's own folder

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("PUBLIC_URL", "http://127.0.0.1:8000")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("-n", type=int, default=3000, help="calls per path (issuance: n/3)")
    args = parser.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("pyinstrument is not importable: add bench/.venv-tools' site-packages to PYTHONPATH")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    call, api, token_for, op = boot("profile", multithread=False)
    admin = api("/v1/apps", {"slug": "bench", "displayName": "Bench"}, op)["adminClient"]
    admin_token = token_for(admin["clientId"], admin["clientSecret"])
    api("/v1/permissions", {"name": "docs.read"}, admin_token)
    api("/v1/permissions", {"name": "docs.write"}, admin_token)
    api("/v1/roles", {"name": "reader", "permissions": ["docs.read"]}, admin_token)
    reader = api("/v1/clients", {"name": "bench-reader", "roles": ["reader"]}, admin_token)
    reader_token = token_for(reader["clientId"], reader["clientSecret"])
    basic = "Basic " + base64.b64encode(f"{reader['clientId']}:{reader['clientSecret']}".encode()).decode()

    authorize_body = json.dumps({"token": reader_token, "permission": "docs.read"}).encode()
    token_body = json.dumps(
        {
            "grantType": "client_credentials",
            "clientId": reader["clientId"],
            "clientSecret": reader["clientSecret"],
        }
    ).encode()
    introspect_body = urllib.parse.urlencode({"token": reader_token}).encode()
    paths: dict[str, tuple[Callable[[], tuple[int, Any]], int]] = {
        "hello": (lambda: call("/bench/hello", authorize_body), args.n),
        "authorize_allowed": (lambda: call("/v1/authorize", authorize_body), args.n),
        "token_client_credentials": (lambda: call("/v1/oauth/token", token_body), max(1, args.n // 3)),
        "introspect": (
            lambda: call(
                "/v1/oauth/introspect",
                introspect_body,
                "application/x-www-form-urlencoded",
                {"Authorization": basic},
            ),
            args.n,
        ),
    }
    summary = []
    for name, (request, count) in paths.items():
        for _ in range(50):  # warm caches and the connection
            status, body = request()
            if status != 200:
                sys.exit(f"{name}: HTTP {status} {body}")
        started = time.perf_counter()
        for _ in range(count):
            request()
        per_call_ms = (time.perf_counter() - started) / count * 1000
        profiler = Profiler(interval=0.0001)
        profiler.start()
        for _ in range(count):
            request()
        profiler.stop()
        tree = profiler.output_text(show_all=False)
        (out / f"{name}.tree.txt").write_text(tree)
        (out / f"{name}.html").write_text(profiler.output_html())
        line = f"{name:<26} {per_call_ms:7.3f} ms/call single-threaded ({count} calls, no profiler)"
        summary.append(line)
        print(line)
        report = _summarise(profiler.last_session.root_frame(), n=12)
        (out / f"{name}.top.txt").write_text(report)
        print(report)
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    print(f"pyinstrument reports (summary, tree, HTML per path): {out}")


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


def _summarise(root: Any, n: int) -> str:
    """Self time by function, by package, and project frames by inclusive time (% of the run)."""
    own: dict[str, float] = {}
    by_package: dict[str, float] = {}
    project: dict[str, float] = {}

    def key(frame: Any) -> str:
        return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"

    def package(frame: Any) -> str:
        path = frame.file_path_short or "?"
        return path.split("/")[0].removesuffix(".py") if "/" in path else path.removesuffix(".py")

    def walk(frame: Any, parent: Any, ancestors: tuple[str, ...]) -> None:
        if frame.is_synthetic:  # a "[self]" leaf: time spent in `parent` itself
            if parent is not None:
                own[key(parent)] = own.get(key(parent), 0.0) + frame.time
                by_package[package(parent)] = by_package.get(package(parent), 0.0) + frame.time
                for ancestor in set(ancestors):
                    project[ancestor] = project.get(ancestor, 0.0) + frame.time
            return
        here = ancestors + ((key(frame),) if package(frame) in PROJECT_PACKAGES else ())
        for child in frame.children:
            walk(child, frame, here)

    walk(root, None, ())
    total = sum(own.values()) or 1.0
    lines = []

    def show(title: str, table: dict[str, float]) -> None:
        lines.append(f"  {title}")
        for name, seconds in sorted(table.items(), key=lambda kv: -kv[1])[:n]:
            lines.append(f"    {100 * seconds / total:5.1f}%  {name}")

    show("where the time is, by package of the innermost frame", by_package)
    show("top frames by self time", own)
    show("project frames by inclusive time", project)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
