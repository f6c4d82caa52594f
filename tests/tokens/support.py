"""Small helpers for the RBAC and token tests: declare permissions, make clients, ask /v1/authorize,
and take tokens apart (or forge them) without trusting the server."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt

from core.context import system_scope
from rbac.models import Role
from tests.helpers import Api, AppHandle


def declare(api: Api, app: AppHandle, *names: str) -> None:
    """Declare each permission in `app` (201 expected)."""
    for name in names:
        response = api.post("/v1/permissions", {"name": name}, token=app.token)
        assert response.status_code == 201, response.content


def new_role(api: Api, app: AppHandle, name: str, permissions: list[str]) -> dict[str, Any]:
    response = api.post("/v1/roles", {"name": name, "permissions": permissions}, token=app.token)
    assert response.status_code == 201, response.content
    return response.json()


def new_client(api: Api, app: AppHandle, **body: Any) -> dict[str, Any]:
    """Create an M2M client in `app`; returns the 201 body (with its one-time clientSecret)."""
    body.setdefault("name", "svc")
    response = api.post("/v1/clients", body, token=app.token)
    assert response.status_code == 201, response.content
    return response.json()


def token_for(api: Api, client: dict[str, Any], scope: str | None = None) -> str:
    return api.client_token(client["clientId"], client["clientSecret"], scope=scope)


def token_response(api: Api, client_id: str, secret: str) -> Any:
    return api.post("/v1/oauth/token", {"clientId": client_id, "clientSecret": secret})


def authorize(api: Api, token: Any, permission: str, app: str | None = None) -> dict[str, Any]:
    """POST /v1/authorize and return the (200) answer."""
    body: dict[str, Any] = {"token": token, "permission": permission}
    if app is not None:
        body["app"] = app
    response = api.post("/v1/authorize", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["reason"] == "granted" if answer["allowed"] else answer["reason"] != "granted"
    return answer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def jwks(api: Api, slug: str) -> dict[str, Any]:
    response = api.get(f"/v1/apps/{slug}/jwks.json")
    assert response.status_code == 200, response.content
    return response.json()


def audit_events(api: Api, app: AppHandle, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response = api.get(f"/v1/audit-events?limit=200&{query}", token=app.token)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def clock_at(epoch: float) -> Any:
    """Make the authorization state (tokens.state) believe it is `epoch`; everything else keeps
    real time. Use as a context manager."""
    import time
    from types import SimpleNamespace
    from unittest import mock

    return mock.patch("tokens.state.time", SimpleNamespace(time=lambda: epoch, monotonic=time.monotonic))


def role_changed_behind_its_back(app: AppHandle, role: str, permissions: list[str]) -> None:
    """Change a role in the database as another process would, with no notification reaching
    this one (its caches learn of it only from a follower's read or a resync)."""
    with system_scope(reason="test: a change this process is not told about"):
        assert Role.objects.filter(app_id=app.id, name=role).update(permissions=permissions) == 1
