"""Helpers for the users / sign-in tests: create users, sign in, refresh, ask /v1/authorize,
introspect and revoke, read the audit log. Everything goes through the HTTP API.

Argon2id costs ~30 ms per hash or verify, so tests create users without a password unless they
sign in, and sign in only as often as the behaviour under test needs.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import jwt

from tests.helpers import Api, AppHandle, basic

# Strong enough for the weak-password rule (>= 10 chars, not common, varied characters).
PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "tr0ub4dor & three more words"

TOKEN_PATH = "/v1/oauth/token"


def create_user(api: Api, app: AppHandle, email: str, **fields: Any) -> dict[str, Any]:
    """POST /v1/users as the App's admin; 201 expected. Returns the user."""
    response = api.post("/v1/users", {"email": email, **fields}, token=app.token)
    assert response.status_code == 201, response.content
    return response.json()


def get_user(api: Api, app: AppHandle, user_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/users/{user_id}", token=app.token)
    assert response.status_code == 200, response.content
    return response.json()


def list_users(api: Api, app: AppHandle, query: str = "") -> list[dict[str, Any]]:
    response = api.get(f"/v1/users?limit=200&{query}", token=app.token)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def _post_oauth(api: Api, path: str, params: dict[str, str], *, form: bool, **extra: Any) -> Any:
    if form:
        return api.client.post(
            path, urlencode(params), content_type="application/x-www-form-urlencoded", **extra
        )
    return api.client.post(path, json.dumps(params), content_type="application/json", **extra)


def sign_in(
    api: Api, email: str, password: str, app_slug: str, *, form: bool = False, ip: str | None = None
) -> Any:
    """The password grant (JSON by default, RFC 6749 form with form=True); returns the response."""
    extra = {"REMOTE_ADDR": ip} if ip else {}
    if form:
        params = {"grant_type": "password", "username": email, "password": password, "app": app_slug}
    else:
        params = {"grantType": "password", "username": email, "password": password, "app": app_slug}
    return _post_oauth(api, TOKEN_PATH, params, form=form, **extra)


def signed_in(api: Api, email: str, password: str, app_slug: str) -> dict[str, Any]:
    """A successful password grant's token response."""
    response = sign_in(api, email, password, app_slug)
    assert response.status_code == 200, response.content
    return response.json()


def refresh(api: Api, refresh_token: str, *, form: bool = False) -> Any:
    if form:
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    else:
        params = {"grantType": "refresh_token", "refreshToken": refresh_token}
    return _post_oauth(api, TOKEN_PATH, params, form=form)


def introspect(api: Api, app: AppHandle, token: str) -> dict[str, Any]:
    """RFC 7662 as the App's admin client (HTTP Basic)."""
    response = api.post(
        "/v1/oauth/introspect",
        form={"token": token},
        headers={"Authorization": basic(app.client_id, app.client_secret)},
    )
    assert response.status_code == 200, response.content
    return response.json()


def revoke(api: Api, app: AppHandle, token: str) -> None:
    """RFC 7009 as the App's admin client (HTTP Basic); always 200."""
    response = api.post(
        "/v1/oauth/revoke",
        form={"token": token},
        headers={"Authorization": basic(app.client_id, app.client_secret)},
    )
    assert response.status_code == 200, response.content


def declare(api: Api, app: AppHandle, *names: str) -> None:
    for name in names:
        response = api.post("/v1/permissions", {"name": name}, token=app.token)
        assert response.status_code == 201, response.content


def authorize(api: Api, token: str, permission: str) -> dict[str, Any]:
    response = api.post("/v1/authorize", {"token": token, "permission": permission})
    assert response.status_code == 200, response.content
    return response.json()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def audit_events(api: Api, app: AppHandle, **filters: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/audit-events?{urlencode({'limit': '200', **filters})}", token=app.token)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def actions_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["action"] for event in events]


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name != "requestId"}


def error_fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors") or []}
