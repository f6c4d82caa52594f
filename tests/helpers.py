"""Helpers shared by the tests: a JSON client over the real HTTP stack, and assertions."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from django.test import Client as DjangoClient


class Api:
    """`api.post("/v1/roles", {...}, token=t)` -> response with `.json()` and `.status_code`."""

    def __init__(self) -> None:
        self.client = DjangoClient()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
    ) -> Any:
        extra: dict[str, str] = {}
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        kwargs: dict[str, Any] = {}
        if form is not None:
            from urllib.parse import urlencode

            kwargs = {"data": urlencode(form), "content_type": "application/x-www-form-urlencoded"}
        elif raw is not None:
            kwargs = {"data": raw, "content_type": content_type}
        elif body is not None:
            kwargs = {"data": json.dumps(body), "content_type": content_type}
        return getattr(self.client, method.lower())(path, **kwargs, **extra)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def client_token(self, client_id: str, client_secret: str, scope: str | None = None) -> str:
        body = {"clientId": client_id, "clientSecret": client_secret}
        if scope is not None:
            body["scope"] = scope
        response = self.post("/v1/oauth/token", body)
        assert response.status_code == 200, response.content
        return response.json()["access_token"]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Operator:
    client_id: str
    client_secret: str
    token: str


@dataclass
class AppHandle:
    """An App as a test sees it: slug, id, its admin client and an admin token."""

    slug: str
    id: str
    client_id: str
    client_secret: str
    token: str
    body: dict[str, Any] = field(default_factory=dict)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json response with `status` and `code`; return its body."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["requestId"] == response["X-Request-Id"]
    for name in ("type", "title", "detail"):
        assert body[name], body
    return body
