"""The OpenAPI document is exact: what the server refuses, the document forbids; what it answers,
the document lists. Regressions for the findings of the schemathesis run (`tests/fuzz/run.py`).

Every request here goes through the HTTP API; the document is read from /v1/openapi.json.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.accounts.support import PASSWORD, create_user
from tests.helpers import basic, problem

# ---- the document --------------------------------------------------------------------------------


@pytest.fixture
def document(api) -> dict[str, Any]:
    response = api.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method.lower()]


def assert_documented(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The status of a real `response` is one the document lists for the operation."""
    listed = operation(document, method, path)["responses"]
    assert str(response.status_code) in listed, (method, path, response.status_code, sorted(listed))


def request_schema(document: dict[str, Any], method: str, path: str, media: str = "application/json") -> Any:
    schema = operation(document, method, path)["requestBody"]["content"][media]["schema"]
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


# ---- strict booleans and integers --------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, "true", "false", "yes", None, [], {}])
def test_a_boolean_field_takes_only_true_or_false(api, acme, value):
    response = api.post("/v1/clients", {"name": "agent", "actsForUsers": value}, token=acme.token)
    problem(response, 400, "validation_error")
    assert "agent" not in {c["name"] for c in api.get("/v1/clients", token=acme.token).json()["data"]}


def test_a_boolean_field_takes_true(api, acme):
    response = api.post("/v1/clients", {"name": "agent", "actsForUsers": False}, token=acme.token)
    assert response.status_code == 201, response.content
    assert response.json()["actsForUsers"] is False


@pytest.mark.parametrize("value", ["120", "120.0", True, 120.5, "1e3", [120]])
def test_an_integer_field_refuses_strings_booleans_and_fractions(api, acme, value):
    response = api.post("/v1/clients", {"name": "worker", "accessTokenTtlSeconds": value}, token=acme.token)
    problem(response, 400, "validation_error")


def test_an_integral_json_number_is_an_integer(api, acme):
    """JSON Schema counts 120.0 as the integer 120: so does the server."""
    response = api.post("/v1/clients", {"name": "worker", "accessTokenTtlSeconds": 120.0}, token=acme.token)
    assert response.status_code == 201, response.content
    assert response.json()["accessTokenTtlSeconds"] == 120


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/invites", {"role": "viewer", "maxUses": "2"}),
        ("/v1/invites", {"role": "viewer", "expiresInSeconds": True}),
        ("/v1/clients/{client}/secrets", {"gracePeriodSeconds": "60"}),
    ],
)
def test_integers_are_strict_everywhere(api, acme, path, body):
    client_id = acme.client_id
    response = api.post(path.format(client=client_id), body, token=acme.token)
    problem(response, 400, "validation_error")


def test_identity_provider_enabled_is_strict(api, acme):
    body = {"kind": "github", "clientId": "gh", "clientSecret": "s", "enabled": 1}
    problem(api.post("/v1/identity-providers", body, token=acme.token), 400, "validation_error")
    assert api.get("/v1/identity-providers", token=acme.token).json()["data"] == []


@pytest.mark.parametrize("value", ["3600", True, 3600.5])
def test_integer_settings_are_strict(api, acme, value):
    response = api.patch("/v1/app", {"settings": {"m2mTokenTtlSeconds": value}}, token=acme.token)
    problem(response, 400, "validation_error")


def test_integer_settings_take_integral_numbers(api, acme):
    response = api.patch(
        "/v1/app", {"settings": {"m2mTokenTtlSeconds": 1800.0, "auditRetentionDays": 30.0}}, token=acme.token
    )
    assert response.status_code == 200, response.content
    settings = response.json()["settings"]
    assert settings["m2mTokenTtlSeconds"] == 1800 and settings["auditRetentionDays"] == 30
    assert type(settings["m2mTokenTtlSeconds"]) is int


def test_list_items_are_not_coerced_to_strings(api, acme):
    """DRF turned [0] into ["0"] inside lists; the strict serializer refuses it."""
    response = api.post("/v1/clients", {"name": "worker", "roles": [0]}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["roles"]


def test_strings_are_stored_as_sent_not_trimmed(api, acme):
    response = api.post("/v1/roles", {"name": "editor2", "permissions": [" docs.read"]}, token=acme.token)
    problem(response, 400, "validation_error")


# ---- whole-value patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/roles", {"name": "reader\n", "permissions": []}),
        ("/v1/permissions", {"name": "docs.read\n"}),
        ("/v1/roles", {"name": "reader", "permissions": ["docs.*\n"]}),
    ],
)
def test_a_trailing_newline_does_not_match_a_pattern(api, acme, path, body):
    """`^…$` with re.match accepted a trailing newline; values must match whole."""
    problem(api.post(path, body, token=acme.token), 400, "validation_error")


def test_slug_with_a_trailing_newline_is_refused(api, operator):
    response = api.post("/v1/apps", {"slug": "newline-app\n", "displayName": "N"}, token=operator.token)
    problem(response, 400, "validation_error")


def test_authorize_refuses_a_permission_with_a_trailing_newline(api, acme):
    response = api.post("/v1/authorize", {"token": acme.token, "permission": "heimdall:users.read\n"})
    problem(response, 400, "validation_error")


# ---- OAuth endpoints: RFC 6749 form semantics, strict JSON ----------------------------------------


@pytest.fixture
def agent(api, acme) -> dict[str, Any]:
    response = api.post("/v1/clients", {"name": "agent", "actsForUsers": True}, token=acme.token)
    assert response.status_code == 201, response.content
    return response.json()


def test_token_exchange_expires_in_with_a_superscript_digit_is_400_not_500(api, acme, agent):
    """`"²".isdigit()` is True and `int("²")` raises: the form value reached int() (a 500)."""
    response = api.post(
        "/v1/oauth/token",
        form={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": acme.token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "expires_in": "²",
        },
        headers={"Authorization": basic(agent["clientId"], agent["clientSecret"])},
    )
    body = problem(response, 400, "invalid_request")
    assert "expires_in" in body["detail"]


@pytest.mark.parametrize("value", ["300", True, 300.5])
def test_json_expires_in_must_be_an_integer(api, acme, agent, value):
    response = api.post(
        "/v1/oauth/token",
        {
            "grantType": "urn:ietf:params:oauth:grant-type:token-exchange",
            "clientId": agent["clientId"],
            "clientSecret": agent["clientSecret"],
            "subjectToken": acme.token,
            "subjectTokenType": "urn:ietf:params:oauth:token-type:access_token",
            "expiresIn": value,
        },
    )
    body = problem(response, 400, "invalid_request")
    assert body["errors"][0]["field"] == "expiresIn"


@pytest.mark.parametrize("endpoint", ["revoke", "introspect"])
def test_token_type_hint_is_one_of_two(api, acme, endpoint):
    response = api.post(
        f"/v1/oauth/{endpoint}",
        form={"token": acme.token, "token_type_hint": "id_token"},
        headers={"Authorization": basic(acme.client_id, acme.client_secret)},
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "unsupported_token_type"


def test_introspect_accepts_the_documented_hints(api, acme):
    response = api.post(
        "/v1/oauth/introspect",
        form={"token": acme.token, "token_type_hint": "access_token"},
        headers={"Authorization": basic(acme.client_id, acme.client_secret)},
    )
    assert response.status_code == 200 and response.json()["active"] is True


# ---- query parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["/v1/users?limit=", "/v1/users?limit=5%0A", "/v1/audit-events?since=", "/v1/users?email=", "/v1/users?status="],
)
def test_an_empty_or_malformed_typed_query_value_is_refused(api, acme, query):
    problem(api.get(query, token=acme.token), 400, "validation_error")


def test_the_cursor_is_the_last_id_of_the_page(api, acme):
    for n in range(3):
        assert api.post("/v1/permissions", {"name": f"docs.p{n}"}, token=acme.token).status_code == 201
    first = api.get("/v1/permissions?limit=2", token=acme.token).json()
    assert first["nextCursor"] == first["data"][-1]["id"]
    second = api.get(f"/v1/permissions?limit=2&cursor={first['nextCursor']}", token=acme.token).json()
    assert {p["id"] for p in second["data"]}.isdisjoint({p["id"] for p in first["data"]})


def test_the_documented_cursor_pattern_is_the_servers(api, acme, document):
    parameters = operation(document, "get", "/v1/users")["parameters"]
    pattern = next(p for p in parameters if p["name"] == "cursor")["schema"]["pattern"]
    issued = api.get("/v1/clients?limit=1", token=acme.token).json()["data"][0]["clientId"]
    assert re.fullmatch(pattern, issued) and re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "dXNyXzAx")


def test_an_unserved_method_is_405_even_without_a_token(api):
    response = api.request("PUT", "/v1/invites/lookup")
    problem(response, 405, "method_not_allowed")


# ---- identity providers: the provider's kind refuses, not the request's shape -----------------------------


def test_changing_a_github_provider_issuer_is_422(api, acme):
    created = api.post(
        "/v1/identity-providers", {"kind": "github", "clientId": "gh", "clientSecret": "s"}, token=acme.token
    )
    assert created.status_code == 201, created.content
    path = f"/v1/identity-providers/{created.json()['id']}"
    problem(api.patch(path, {"issuer": "https://issuer.example.com"}, token=acme.token), 422, "not_for_kind")
    problem(api.patch(path, {"issuer": "not a url"}, token=acme.token), 400, "validation_error")
    assert api.get(path, token=acme.token).json().get("issuer") is None


def test_an_oidc_provider_needs_openid_on_change_too(api, acme):
    created = api.post(
        "/v1/identity-providers",
        {"kind": "oidc", "issuer": "https://idp.example.com", "clientId": "c", "clientSecret": "s"},
        token=acme.token,
    )
    assert created.status_code == 201, created.content
    path = f"/v1/identity-providers/{created.json()['id']}"
    problem(api.patch(path, {"scopes": ["email"]}, token=acme.token), 422, "not_for_kind")


# ---- every status the server answers is documented --------------------------------------------


def test_unknown_app_metadata_is_a_documented_404(api, document):
    for path in ("/v1/apps/{slug}/jwks.json", "/v1/apps/{slug}/.well-known/openid-configuration"):
        response = api.get(path.replace("{slug}", "no-such-app"))
        problem(response, 404, "not_found")
        assert_documented(document, "get", path, response)


def test_introspection_refusals_are_documented(api, acme, lowpriv, document):
    anonymous = api.post("/v1/oauth/introspect", form={"token": acme.token})
    assert anonymous.status_code == 401
    assert_documented(document, "post", "/v1/oauth/introspect", anonymous)
    unprivileged = api.post("/v1/oauth/introspect", form={"token": acme.token}, token=lowpriv.token)
    assert unprivileged.status_code == 403
    assert_documented(document, "post", "/v1/oauth/introspect", unprivileged)


def test_conflicts_and_rule_refusals_are_documented(api, acme, operator, document):
    create_user(api, acme, "dup@example.com", password=PASSWORD)
    duplicate = api.post("/v1/users", {"email": "dup@example.com"}, token=acme.token)
    problem(duplicate, 409, "user_exists")
    assert_documented(document, "post", "/v1/users", duplicate)
    weak = api.post("/v1/users", {"email": "weak@example.com", "password": "password"}, token=acme.token)
    problem(weak, 422, "weak_password")
    assert_documented(document, "post", "/v1/users", weak)
    taken = api.post("/v1/apps", {"slug": acme.slug, "displayName": "Again"}, token=operator.token)
    problem(taken, 409, "slug_taken")
    assert_documented(document, "post", "/v1/apps", taken)
    reserved = api.post("/v1/permissions", {"name": "heimdall:users.read"}, token=acme.token)
    assert reserved.status_code == 422
    assert_documented(document, "post", "/v1/permissions", reserved)


def test_sign_in_throttling_is_documented(api, acme, document):
    create_user(api, acme, "slow@example.com", password=PASSWORD)
    for _ in range(12):
        response = api.post(
            "/v1/oauth/token",
            form={"grant_type": "password", "username": "slow@example.com", "password": "wrong", "app": acme.slug},
        )
    assert response.status_code == 429, response.content
    assert_documented(document, "post", "/v1/oauth/token", response)


# ---- the document's shapes ---------------------------------------------------------------------


def test_strict_bodies_say_additional_properties_false(document):
    for method, path in [("post", "/v1/users"), ("post", "/v1/clients"), ("patch", "/v1/app"), ("post", "/v1/authorize")]:
        assert request_schema(document, method, path)["additionalProperties"] is False, (method, path)


def test_settings_are_a_closed_object_with_their_constraints(document):
    settings_ref = request_schema(document, "patch", "/v1/app")["properties"]["settings"]["allOf"][0]["$ref"]
    settings = document["components"]["schemas"][settings_ref.rsplit("/", 1)[1]]
    assert settings["additionalProperties"] is False
    assert settings["properties"]["redirectUris"]["uniqueItems"] is True
    assert settings["properties"]["m2mTokenTtlSeconds"] == {"type": "integer", "minimum": 60, "maximum": 86400}


def test_permission_names_and_grants_have_patterns(document):
    role = request_schema(document, "post", "/v1/roles")
    grant = role["properties"]["permissions"]["items"]["pattern"]
    assert re.fullmatch(grant, "docs.*") and re.fullmatch(grant, "heimdall:*") and not re.fullmatch(grant, "docs")


def test_oauth_form_bodies_are_documented_as_rfc_6749_forms(document):
    form = request_schema(document, "post", "/v1/oauth/revoke", "application/x-www-form-urlencoded")
    assert form["properties"]["token_type_hint"]["enum"] == ["access_token", "refresh_token"]
    assert form["additionalProperties"]["type"] == "string"
    token = request_schema(document, "post", "/v1/oauth/token", "application/x-www-form-urlencoded")
    assert "client_credentials" in token["properties"]["grant_type"]["enum"]


def test_paginated_lists_document_limit_and_cursor(document):
    for path in ("/v1/users", "/v1/clients", "/v1/roles", "/v1/apps", "/v1/invites"):
        parameters = {p["name"]: p["schema"] for p in operation(document, "get", path)["parameters"]}
        assert parameters["limit"]["minimum"] == 1 and parameters["limit"]["maximum"] == 200, path
        assert "pattern" in parameters["cursor"], path


def test_no_operation_takes_a_format_override(api, acme, document):
    """The export has a JSON and an NDJSON renderer; DRF's `?format=` override (which took an
    empty value too) is off, so no operation documents it and the server does not read it."""
    assert not [
        (path, method)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and any(p.get("name") == "format" for p in op.get("parameters", []))
    ]
    plain = api.get("/v1/audit-events/export", token=acme.token)
    overridden = api.get("/v1/audit-events/export?format=json", token=acme.token)
    assert (plain.status_code, overridden.status_code) == (200, 200)
    assert plain["Content-Type"] == overridden["Content-Type"] == "application/x-ndjson"
