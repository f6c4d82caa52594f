"""Calling Heimdall's WSGI application in process, as gunicorn would, for the in-process tools
(profile_inprocess.py, hotpath_cost.py): no socket, no server, the whole middleware stack."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from typing import Any

Call = Callable[..., tuple[int, Any]]


def wsgi_caller(app: Any, *, multithread: bool) -> Call:
    """`call(path, body, content_type=..., headers=...)` → (status, decoded JSON or None)."""

    def call(
        path: str, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        status: list[str] = []
        result = app(environ, lambda s, h, exc_info=None: status.append(s))
        try:
            raw = b"".join(result)
        finally:
            result.close()  # fires request_finished, as gunicorn does
        return int(status[0].split()[0]), json.loads(raw) if raw else None

    return call


def setup_helpers(call: Call) -> tuple[Callable[..., Any], Callable[[str, str], str]]:
    """`api(path, payload, token=None, expected=201)` (exits on any other status) and
    `token_for(client_id, secret)`: what the in-process tools set up their App with."""

    def api(path: str, payload: Any, token: str | None = None, expected: int = 201) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        status, body = call(path, json.dumps(payload).encode(), headers=headers)
        if status != expected:
            sys.exit(f"setup {path}: HTTP {status} {body}")
        return body

    def token_for(client_id: str, secret: str) -> str:
        body = {"grantType": "client_credentials", "clientId": client_id, "clientSecret": secret}
        return str(api("/v1/oauth/token", body, expected=200)["access_token"])

    return api, token_for


def boot(client_name: str, *, multithread: bool) -> tuple[Call, Callable[..., Any], Callable[[str, str], str], str]:
    """Set Django up on the (empty) database of DATABASE_URL: migrate, bootstrap an operator
    client, and return (call, api, token_for, operator token)."""
    import django  # only once the caller's environment names the settings and database

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0, interactive=False)
    stdout = io.StringIO()
    call_command("bootstrap", create_client=client_name, json=True, stdout=stdout)
    operator = json.loads(stdout.getvalue())
    call = wsgi_caller(get_wsgi_application(), multithread=multithread)
    api, token_for = setup_helpers(call)
    return call, api, token_for, token_for(operator["clientId"], operator["clientSecret"])
