"""The fixed cast every test uses, all through the HTTP API.

- `operator`: the operator client (bootstrap) and its token.
- `acme` and `globex`: two Apps created by the operator, each with its admin client and token.
  Tests of isolation use `globex` as the outsider for `acme`'s resources.
- `member`: a person in acme holding the `editor` role (every permission acme declares, no
  `heimdall:` management permission), signed in with the password grant.
- `lowpriv`: an acme client made by acme's admin with the smallest management grant that still
  reaches a management route, `heimdall:users.read` alone (it reads users, nothing else).
- `api`: a JSON client over Django's test client (real middleware, real URL routing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command

from tests.accounts.support import PASSWORD, create_user, signed_in
from tests.helpers import Api, AppHandle, Operator
from tests.keypool import fast_signing_keys  # noqa: F401 - autouse: pooled RSA keys
from tokens.state import get_state


@pytest.fixture(autouse=True)
def _fresh_state() -> Any:
    """Each test starts with empty authorization caches (ids never repeat across tests anyway)."""
    get_state().reset()
    yield
    get_state().reset()


@pytest.fixture
def api(db: Any) -> Api:
    return Api()


@pytest.fixture
def operator(api: Api, capsys: Any) -> Operator:
    call_command("bootstrap", create_client="test-operator", json=True)
    creds = json.loads(capsys.readouterr().out)
    return Operator(
        creds["clientId"], creds["clientSecret"], api.client_token(creds["clientId"], creds["clientSecret"])
    )


@pytest.fixture
def make_app(api: Api, operator: Operator) -> Any:
    def make(slug: str, **extra: Any) -> AppHandle:
        response = api.post(
            "/v1/apps", {"slug": slug, "displayName": slug.title(), **extra}, token=operator.token
        )
        assert response.status_code == 201, response.content
        body = response.json()
        admin = body["adminClient"]
        token = api.client_token(admin["clientId"], admin["clientSecret"])
        return AppHandle(slug, body["id"], admin["clientId"], admin["clientSecret"], token, body)

    return make


@pytest.fixture
def acme(make_app: Any) -> AppHandle:
    return make_app("acme-corp")


@pytest.fixture
def globex(make_app: Any) -> AppHandle:
    return make_app("globex")


@dataclass
class Member:
    """A signed-in person: `id` is their usr_ id in the App, `token` an access token."""

    id: str
    email: str
    token: str
    app: AppHandle


@dataclass
class ClientHandle:
    """An App's M2M client and an access token for it."""

    client_id: str
    client_secret: str
    token: str
    permissions: list[str]
    app: AppHandle


@pytest.fixture
def member(api: Api, acme: AppHandle) -> Member:
    user = create_user(api, acme, "member@example.com", password=PASSWORD, roles=["editor"])
    token = signed_in(api, "member@example.com", PASSWORD, acme.slug)["access_token"]
    return Member(user["id"], user["email"], token, acme)


LOWPRIV_PERMISSIONS = ["heimdall:users.read"]


@pytest.fixture
def lowpriv(api: Api, acme: AppHandle) -> ClientHandle:
    response = api.post(
        "/v1/clients", {"name": "lowpriv", "permissions": LOWPRIV_PERMISSIONS}, token=acme.token
    )
    assert response.status_code == 201, response.content
    body = response.json()
    token = api.client_token(body["clientId"], body["clientSecret"])
    return ClientHandle(body["clientId"], body["clientSecret"], token, LOWPRIV_PERMISSIONS, acme)
