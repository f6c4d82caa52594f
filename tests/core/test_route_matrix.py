"""Every route under /v1, from the URL resolver: its permission guard and its tenant isolation.

The cases are generated, so a route is covered the day it is added:

- 403 matrix: for each (route, method) declaring a `heimdall:` permission P, an acme client
  holding every management permission of a (non-operator) App except P is refused with 403
  `permission_denied` naming P, while acme's admin (holding P) gets past the guard; the `member`
  (no management permission at all) is refused too.
- cross-App 404 matrix: for each (route, method) addressing a resource by a path parameter,
  globex's admin naming acme's real resource gets 404 `not_found`, and acme's resource is untouched.
  The sample resource of each `collection/{kwarg}` lives in SAMPLES; a route with no sample fails.
- A route that declares no `heimdall:` permission must be in PUBLIC_OR_SELF with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from core.auth import declared_permission
from rbac.permissions import NAMESPACE, management_permissions
from tests.accounts.support import PASSWORD, create_user
from tests.helpers import Api, problem

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Routes that declare no `heimdall:` permission, and why. Neither matrix applies to them.
PUBLIC_OR_SELF: dict[str, str] = {
    "/v1/authorize": "public: the calling App authenticates in the body; answers allow/deny, never 403",
    "/v1/oauth/token": "public: OAuth token endpoint, the client authenticates with its credentials",
    "/v1/oauth/introspect": "public: RFC 7662, the client authenticates with its credentials",
    "/v1/oauth/revoke": "public: RFC 7009, the client authenticates with its credentials",
    "/v1/apps/{slug}/jwks.json": "public: an App's signing keys, by design readable by anyone",
    "/v1/apps/{slug}/.well-known/openid-configuration": "public: OIDC discovery document",
    "/v1/apps/{slug}/.well-known/oauth-authorization-server": "public: RFC 8414 metadata",
    "/v1/openapi.json": "public: the API description",
    "/v1/me": "self: any valid token reads its own subject; no resource is named in the path",
    "/v1/me/password": "self: a user's own token changes its own password",
    "/v1/invites/lookup": "public: the invite token in the query is the credential",
    "/v1/invites/accept": "public (or the invitee's own bearer token): the invite token is the credential",
    "/v1/oauth/authorize": "public: the browser starts social sign-in; redirect URIs are an exact allow-list",
    "/v1/oauth/callback": "public: the provider returns the browser here with Heimdall's own state",
    "/v1/me/identities": "self: a user's own token lists its own linked providers",
    "/v1/me/identities/{identity_id}": "self: a user's own token unlinks its own identity (not another App's)",
}

# Routes with a path parameter that the cross-App 404 matrix skips, and why (the 403 matrix
# still applies).
NOT_CROSS_APP: dict[str, str] = {
    "/v1/apps/{slug}": "operator-only: the operator addresses every App by slug; an App admin gets "
    "403 (heimdall:apps.*), covered by the 403 matrix",
}

# Who plays the outsider when it is not globex's admin (the route refuses anyone else first).
OUTSIDER_IS_OPERATOR_ACTING_IN_GLOBEX: dict[str, str] = {}

# Bodies valid enough to reach the resource lookup (validation answers 400 before it).
BODIES: dict[str, dict[str, Any]] = {
    "PUT /v1/users/{user_id}/roles": {"roles": []},
    "POST /v1/users/{user_id}/password": {"password": "an admin-chosen passphrase"},
}

_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _routes(patterns: list[Any], prefix: str = "/") -> Iterator[tuple[str, Any]]:
    """(route like /v1/users/{user_id}, callback) for every pattern, through includes."""
    for entry in patterns:
        piece = str(entry.pattern).lstrip("^").rstrip("$")
        piece = _PARAM.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", piece)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + piece)
        else:
            assert isinstance(entry, URLPattern)
            yield prefix + piece, entry.callback


V1_ROUTES: dict[str, Any] = {r: cb for r, cb in _routes(get_resolver().url_patterns) if r.startswith("/v1/")}


def _served(callback: Any) -> list[str]:
    """The methods a route serves (HEAD and OPTIONS aside)."""
    actions = getattr(callback, "actions", None)
    if actions is not None:
        return [m for m in METHODS if m.lower() in actions]
    view_class = getattr(callback, "view_class", None)
    lean = getattr(view_class, "lean_methods", None)
    if lean is not None:
        return [m for m in METHODS if m in lean]
    return [m for m in METHODS if view_class is not None and hasattr(view_class, m.lower())]


def _cases() -> list[tuple[str, str, str | None]]:
    cases = []
    for route, callback in V1_ROUTES.items():
        for method in _served(callback):
            permission = None
            if route not in PUBLIC_OR_SELF:
                try:
                    _served_too, permission = declared_permission(callback, method)
                except (LookupError, AttributeError):
                    pass  # undeclared: reported by the first test below
            cases.append((route, method, permission))
    return cases


CASES = _cases()
GUARDED = [(r, m, p) for r, m, p in CASES if p is not None and p.startswith(NAMESPACE)]
ADDRESSED = [
    (r, m) for r, m, _p in GUARDED if "{" in r and r not in NOT_CROSS_APP and r not in PUBLIC_OR_SELF
]
ALL_MANAGEMENT = sorted(management_permissions(operator=False))


def _id(case: tuple[Any, ...]) -> str:
    return f"{case[1]} {case[0]}"


def _path(route: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), f"no-such-{m.group(1)}"), route)


def _call(api: Api, method: str, path: str, token: str, body: Any = None, **kw: Any) -> Any:
    if method in ("POST", "PUT", "PATCH"):
        return api.request(method, path, body if body is not None else {}, token=token, **kw)
    return api.request(method, path, token=token, **kw)


# ---- the tables themselves ----------------------------------------------------------------------


def test_every_v1_route_declares_a_management_permission_or_is_exempted():
    undeclared = []
    for route, callback in V1_ROUTES.items():
        if route in PUBLIC_OR_SELF:
            continue
        for method in _served(callback):
            try:
                served, permission = declared_permission(callback, method)
            except (LookupError, AttributeError) as exc:
                undeclared.append(f"{method} {route}: {exc}")
                continue
            if not served or permission is None or not permission.startswith(NAMESPACE):
                undeclared.append(f"{method} {route}: {permission!r}")
    assert not undeclared, (
        "declare a heimdall: permission for these, or exempt the route in PUBLIC_OR_SELF with a reason: "
        f"{undeclared}"
    )


def test_exemptions_name_real_routes_and_exempt_nothing_guarded():
    stale = [r for r in [*PUBLIC_OR_SELF, *NOT_CROSS_APP] if r not in V1_ROUTES]
    assert not stale, f"exempted routes that no longer exist: {stale}"
    for route in PUBLIC_OR_SELF:
        callback = V1_ROUTES[route]
        for method in _served(callback):
            try:
                _served_too, permission = declared_permission(callback, method)
            except (LookupError, AttributeError, TypeError):
                continue  # no declaration at all: a public LeanView or the schema view
            assert permission is None or not permission.startswith(NAMESPACE), (
                f"{method} {route} declares {permission}: remove it from PUBLIC_OR_SELF"
            )


def test_the_matrices_are_not_empty():
    assert len(GUARDED) >= 30
    assert len(ADDRESSED) >= 15


# ---- 403: every declared permission is actually required --------------------------------------


@pytest.fixture
def client_without(api, acme):
    def make(permission: str) -> str:
        held = [p for p in ALL_MANAGEMENT if p != permission]
        response = api.post("/v1/clients", {"name": "all-but-one", "permissions": held}, token=acme.token)
        assert response.status_code == 201, response.content
        body = response.json()
        return api.client_token(body["clientId"], body["clientSecret"])

    return make


@pytest.mark.parametrize(("route", "method", "permission"), GUARDED, ids=[_id(c) for c in GUARDED])
def test_lacking_only_the_declared_permission_is_403(
    api, acme, member, client_without, route, method, permission
):
    path = _path(route, {"slug": acme.slug})

    body = problem(_call(api, method, path, client_without(permission)), 403, "permission_denied")
    assert permission in body["detail"]
    problem(_call(api, method, path, member.token), 403, "permission_denied")
    if permission in ALL_MANAGEMENT:  # the positive control: holding it gets past the guard
        assert _call(api, method, path, acme.token).status_code != 403


# ---- lowpriv: heimdall:users.read opens exactly the routes declaring it -------------------------


@pytest.mark.parametrize(("route", "method", "permission"), GUARDED, ids=[_id(c) for c in GUARDED])
def test_lowpriv_passes_the_guard_only_where_its_permission_is_declared(
    api, lowpriv, route, method, permission
):
    response = _call(api, method, _path(route, {"slug": lowpriv.app.slug}), lowpriv.token)

    if permission in lowpriv.permissions:
        assert response.status_code != 403, response.content
    else:
        assert permission in problem(response, 403, "permission_denied")["detail"]


# ---- cross-App 404: another App's resources do not exist ---------------------------------------


@pytest.fixture
def acme_samples(api, acme) -> dict[str, str]:
    """One real acme resource per `collection/{kwarg}`; names globex does not have."""
    user = create_user(api, acme, "sample@example.com", password=PASSWORD)
    assert api.post("/v1/permissions", {"name": "acmeonly.read"}, token=acme.token).status_code == 201
    role = api.post("/v1/roles", {"name": "acme-only", "permissions": ["acmeonly.read"]}, token=acme.token)
    assert role.status_code == 201, role.content
    client = api.post("/v1/clients", {"name": "acme-sample"}, token=acme.token)
    assert client.status_code == 201, client.content
    invite = api.post("/v1/invites", {"role": "viewer"}, token=acme.token)
    assert invite.status_code == 201, invite.content
    provider = api.post(
        "/v1/identity-providers", {"kind": "google", "clientId": "g", "clientSecret": "s"}, token=acme.token
    )
    assert provider.status_code == 201, provider.content
    return {
        "identity-providers/{provider_id}": provider.json()["id"],
        "invites/{invite_id}": invite.json()["id"],
        "users/{user_id}": user["id"],
        "permissions/{name}": "acmeonly.read",
        "roles/{name}": "acme-only",
        "clients/{client_id}": client.json()["clientId"],
    }


def _sample_values(route: str, samples: dict[str, str]) -> dict[str, str]:
    values = {}
    for collection, kwarg in re.findall(r"([^/]+)/\{(\w+)\}", route):
        key = f"{collection}/{{{kwarg}}}"
        if key not in samples:
            pytest.fail(f"{route}: add a sample acme resource for {key!r} to acme_samples")
        values[kwarg] = samples[key]
    return values


@pytest.mark.parametrize(("route", "method"), ADDRESSED, ids=[_id(c) for c in ADDRESSED])
def test_another_apps_resource_is_not_found(api, operator, acme, globex, acme_samples, route, method):
    path = _path(route, _sample_values(route, acme_samples))
    case = f"{method} {route}"
    kw: dict[str, Any] = {}
    token = globex.token
    if case in OUTSIDER_IS_OPERATOR_ACTING_IN_GLOBEX:
        token, kw = operator.token, {"headers": {"Heimdall-App": globex.slug}}

    problem(_call(api, method, path, token, BODIES.get(case), **kw), 404, "not_found")
    # acme's resource is still there, as it was
    resource = "/".join(path.split("/")[:4])
    assert api.get(resource, token=acme.token).status_code == 200
