"""How long a refused password sign-in takes, by cause: wrong password, unknown email, non-member.

The three must be indistinguishable by timing (no user enumeration). This drives the real WSGI
stack in-process on a throwaway SQLite database, interleaving the three cases so machine noise
hits them alike, and prints median and p90 per case.

    .venv/bin/python bench/tools/signin_timing.py [rounds]
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DB = Path(tempfile.mkdtemp()) / "timing.sqlite3"
os.environ.update(
    DJANGO_SETTINGS_MODULE="heimdall.settings",
    DATABASE_URL=f"sqlite:///{DB}",
    SECRET_KEY="signin-timing-benchmark-secret-key-0123456789",
    HEIMDALL_KEY_ENCRYPTION_KEY="signin-timing-benchmark-kek",
    ALLOWED_HOSTS="testserver",
    # Throttling would turn the later rounds into 429s; this measures the password check.
    HEIMDALL_LOGIN_MAX_FAILURES_PER_IDENTITY="1000000",
    HEIMDALL_LOGIN_MAX_FAILURES_PER_IP="1000000",
)

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402

from core.context import Actor, tenant_scope  # noqa: E402

PASSWORD = "correct horse battery staple"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    call_command("migrate", verbosity=0)
    from accounts.services import user_create
    from heimdall.provisioning import app_create, operator_bootstrap

    operator_bootstrap()
    acme, _, _ = app_create(actor=Actor.system(), slug="acme", display_name="Acme")
    other, _, _ = app_create(actor=Actor.system(), slug="other", display_name="Other")
    with tenant_scope(acme):
        user_create(app=acme, actor=Actor.system(), email="member@example.com", password=PASSWORD)
    with tenant_scope(other):
        user_create(app=other, actor=Actor.system(), email="outsider@example.com", password=PASSWORD)

    handler = WSGIHandler()
    cases = {
        "wrong password": {"username": "member@example.com", "password": "not the password!"},
        "unknown email": {"username": "nobody@example.com", "password": "not the password!"},
        "non-member": {"username": "outsider@example.com", "password": PASSWORD},
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    bodies: dict[str, set[str]] = {name: set() for name in cases}
    for _ in range(rounds):
        for name, creds in cases.items():
            body = json.dumps({"grantType": "password", "app": "acme", **creds}).encode()
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/v1/oauth/token",
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
                "SERVER_NAME": "testserver",
                "SERVER_PORT": "80",
                "HTTP_HOST": "testserver",
                "wsgi.url_scheme": "http",
                "REMOTE_ADDR": "127.0.0.1",
            }
            status: list[str] = []
            started = time.perf_counter()
            answer = b"".join(handler(environ, lambda s, h, status=status: status.append(s)))
            timings[name].append((time.perf_counter() - started) * 1000)
            parsed = json.loads(answer)
            parsed.pop("requestId", None)
            bodies[name].add(f"{status[0]} {json.dumps(parsed, sort_keys=True)}")

    print(f"refused password sign-ins, {rounds} rounds each (ms)")
    print(f"{'case':<16}{'median':>9}{'p90':>9}")
    for name, values in timings.items():
        values.sort()
        print(f"{name:<16}{statistics.median(values):>9.2f}{values[int(len(values) * 0.9) - 1]:>9.2f}")
    distinct = {answer for answers in bodies.values() for answer in answers}
    print(f"distinct responses across the three cases (requestId aside): {len(distinct)}")


if __name__ == "__main__":
    main()
