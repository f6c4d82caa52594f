"""Hostile input never reaches the database or a 500: NUL characters, deep JSON, odd digits,
impossible timestamps and URIs; the Heimdall-App header without a token; discovery metadata;
an App's deletion takes its users' identities with it."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.accounts.support import OTHER_PASSWORD, PASSWORD, create_user, sign_in
from tests.helpers import problem

NUL = "\x00"


def fields(body: dict) -> list[str]:
    return [error["field"] for error in body.get("errors") or []]


def oauth_problem(response, status: int, code: str) -> dict:
    body = problem(response, status, code)
    assert body["error"] == code, body
    return body


# ---- 1. NUL characters ----------------------------------------------------------------------------


def test_nul_in_password_grant_json_is_invalid_request(api, acme):
    body = {"grantType": "password", "username": f"a{NUL}@b.co", "password": "x", "app": acme.slug}
    oauth_problem(api.post("/v1/oauth/token", body), 400, "invalid_request")


def test_nul_in_client_id_json_is_invalid_request(api, acme):
    body = {"clientId": f"m2m_{NUL}", "clientSecret": "x"}
    oauth_problem(api.post("/v1/oauth/token", body), 400, "invalid_request")


def test_nul_in_a_json_key_is_invalid_request(api, acme):
    body = {f"client{NUL}Id": acme.client_id, "clientSecret": acme.client_secret}
    oauth_problem(api.post("/v1/oauth/token", body), 400, "invalid_request")


@pytest.mark.parametrize("path", ["/v1/oauth/token", "/v1/oauth/introspect", "/v1/oauth/revoke"])
def test_nul_in_an_oauth_form_value_is_invalid_request(api, acme, path):
    form = {"grant_type": "client_credentials", "client_id": f"m2m_{NUL}", "client_secret": "x", "token": "t"}
    oauth_problem(api.post(path, form=form), 400, "invalid_request")


def test_nul_in_http_basic_credentials_is_refused(api, acme):
    from tests.helpers import basic

    response = api.post(
        "/v1/oauth/token",
        form={"grant_type": "client_credentials"},
        headers={"Authorization": basic(f"m2m_{NUL}", "x")},
    )
    oauth_problem(response, 400, "invalid_request")


def test_nul_in_a_path_is_a_validation_error(api, acme):
    body = problem(api.get("/v1/apps/a%00b/jwks.json"), 400, "validation_error")
    assert fields(body) == ["path"]
    body = problem(api.get("/v1/permissions/a%00b", token=acme.token), 400, "validation_error")
    assert fields(body) == ["path"]


def test_nul_in_an_oauth_path_is_oauth_shaped(api):
    oauth_problem(api.post("/v1/oauth/token%00", form={"grant_type": "x"}), 400, "invalid_request")


def test_nul_in_a_query_parameter_names_it(api, acme):
    body = problem(api.get("/v1/audit-events?action=a%00", token=acme.token), 400, "validation_error")
    assert fields(body) == ["action"]
    body = problem(api.get("/v1/users?a%00=1", token=acme.token), 400, "validation_error")
    assert len(fields(body)) == 1


def test_nul_in_a_json_body_names_the_field(api, acme):
    response = api.post("/v1/users", {"email": "x@y.co", "metadata": {"k": NUL}}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert fields(body) == ["metadata.k"]

    response = api.post(
        "/v1/users", {"email": "x@y.co", "metadata": {"k": ["a", f"b{NUL}"]}}, token=acme.token
    )
    assert fields(problem(response, 400, "validation_error")) == ["metadata.k[1]"]

    response = api.post("/v1/users", {"email": f"x{NUL}@y.co"}, token=acme.token)
    assert fields(problem(response, 400, "validation_error")) == ["email"]

    # Nothing was created.
    listed = api.get("/v1/users", token=acme.token).json()["data"]
    assert listed == []


def test_nul_in_authorize_body_is_a_validation_error(api, acme):
    response = api.post("/v1/authorize", {"token": acme.token + NUL, "permission": "docs.read"})
    assert fields(problem(response, 400, "validation_error")) == ["token"]


# ---- 1. deeply nested JSON ----------------------------------------------------------------------------


def test_deep_json_on_authorize_is_400(api):
    response = api.post("/v1/authorize", raw="[" * 50000)
    body = problem(response, 400, "validation_error")
    assert fields(body) == ["body"]


def test_deep_json_on_oauth_token_is_invalid_request(api):
    oauth_problem(api.post("/v1/oauth/token", raw="[" * 50000), 400, "invalid_request")
    nested = json.dumps({"clientId": "m2m_x", "clientSecret": "x", "scope": "x"})
    nested = nested[:-1] + ', "deep": ' + "[" * 500 + "]" * 500 + "}"
    oauth_problem(api.post("/v1/oauth/token", raw=nested), 400, "invalid_request")


def test_deep_json_on_drf_endpoints_is_malformed_json(api, acme):
    problem(api.post("/v1/users", raw="[" * 50000, token=acme.token), 400, "malformed_json")
    deep = '{"email": "x@y.co", "metadata": {"k": ' + "[" * 500 + "]" * 500 + "}}"
    problem(api.post("/v1/users", raw=deep, token=acme.token), 400, "malformed_json")


def test_moderately_nested_json_is_still_accepted(api, acme):
    metadata = {"a": {"b": {"c": [[{"d": "e"}]]}}}
    response = api.post("/v1/users", {"email": "nest@y.co", "metadata": metadata}, token=acme.token)
    assert response.status_code == 201, response.content
    assert response.json()["metadata"] == metadata


# ---- 2. limit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["\u00b2", "\uff11", "\u0663", "1.0", "-1", "0", "201", "0010"])
def test_limit_must_be_ascii_digits_in_range(api, operator, limit):
    response = api.get("/v1/apps?" + urlencode({"limit": limit}), token=operator.token)
    assert fields(problem(response, 400, "validation_error")) == ["limit"]


def test_limit_accepts_plain_digits(api, operator):
    assert api.get("/v1/apps?limit=200", token=operator.token).status_code == 200
    assert api.get("/v1/apps?limit=1", token=operator.token).status_code == 200


# ---- 3. audit timestamps that overflow ------------------------------------------------------------


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_audit_moment_overflow_is_400(api, acme, name, moment):
    response = api.get("/v1/audit-events?" + urlencode({name: moment}), token=acme.token)
    assert fields(problem(response, 400, "validation_error")) == [name]


# ---- 4. App settings and slugs --------------------------------------------------------------------


def test_unparseable_redirect_uri_is_invalid_uri(api, operator, acme):
    settings = {"redirectUris": ["http://[::1"]}
    response = api.post(
        "/v1/apps", {"slug": "uri-app", "displayName": "U", "settings": settings}, token=operator.token
    )
    body = problem(response, 400, "validation_error")
    assert body["errors"][0]["code"] == "invalid_uri"
    response = api.patch("/v1/app", {"settings": settings}, token=acme.token)
    assert problem(response, 400, "validation_error")["errors"][0]["code"] == "invalid_uri"


@pytest.mark.parametrize("settings", [[], 0, "", False])
def test_falsy_non_object_settings_are_refused(api, operator, acme, settings):
    response = api.post(
        "/v1/apps", {"slug": "falsy-app", "displayName": "F", "settings": settings}, token=operator.token
    )
    assert fields(problem(response, 400, "validation_error")) == ["settings"]
    assert api.get("/v1/apps/falsy-app", token=operator.token).status_code == 404
    response = api.patch(f"/v1/apps/{acme.slug}", {"settings": settings}, token=operator.token)
    assert fields(problem(response, 400, "validation_error")) == ["settings"]


def test_slug_with_spaces_is_refused_not_trimmed(api, operator):
    response = api.post("/v1/apps", {"slug": "  trimmed  ", "displayName": "T"}, token=operator.token)
    assert fields(problem(response, 400, "validation_error")) == ["slug"]
    assert api.get("/v1/apps/trimmed", token=operator.token).status_code == 404


# ---- 5. /v1/authorize malformed body ---------------------------------------------------------------


@pytest.mark.parametrize("raw", ["{", "not json", "\xff", ""])
def test_authorize_malformed_body_is_validation_error(api, raw):
    response = api.post("/v1/authorize", raw=raw.encode("latin-1"))
    assert fields(problem(response, 400, "validation_error")) == ["body"]


def test_malformed_json_elsewhere_keeps_its_code(api, acme):
    problem(api.post("/v1/users", raw="{", token=acme.token), 400, "malformed_json")


# ---- 6. Heimdall-App without a bearer token ------------------------------------------------------------


def test_heimdall_app_header_without_token_is_403_on_oauth_token(api, acme):
    response = api.post(
        "/v1/oauth/token",
        {"clientId": acme.client_id, "clientSecret": acme.client_secret},
        headers={"Heimdall-App": acme.slug},
    )
    body = problem(response, 403, "permission_denied")
    assert fields(body) == ["Heimdall-App"]


def test_heimdall_app_header_without_token_is_403_on_authorize(api, acme):
    response = api.post(
        "/v1/authorize", {"token": acme.token, "permission": "docs.read"}, headers={"Heimdall-App": acme.slug}
    )
    assert fields(problem(response, 403, "permission_denied")) == ["Heimdall-App"]


def test_heimdall_app_header_without_token_is_403_on_management_api(api, operator, acme):
    response = api.get("/v1/app", headers={"Heimdall-App": acme.slug})
    assert fields(problem(response, 403, "permission_denied")) == ["Heimdall-App"]
    from tests.helpers import basic

    response = api.get(
        "/v1/apps", headers={"Heimdall-App": acme.slug, "Authorization": basic(operator.client_id, "x")}
    )
    assert fields(problem(response, 403, "permission_denied")) == ["Heimdall-App"]


# ---- 7. discovery metadata --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["openid-configuration", "oauth-authorization-server"])
def test_discovery_lists_only_implemented_features(api, acme, name):
    response = api.get(f"/v1/apps/{acme.slug}/.well-known/{name}")
    assert response.status_code == 200
    metadata = response.json()
    assert set(metadata) == {
        "issuer",
        "authorization_endpoint",
        "response_types_supported",
        "code_challenge_methods_supported",
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "jwks_uri",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    }
    assert metadata["issuer"] == f"http://testserver/v1/apps/{acme.slug}"
    # Codes are redeemed, and passwords signed in, without client authentication; introspection
    # and revocation always authenticate a client.
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]
    assert "none" not in metadata["revocation_endpoint_auth_methods_supported"]


# ---- 8. deleting an App deletes the identities it leaves behind -------------------------------------------


def test_app_deletion_removes_orphaned_identities(api, operator, make_app, acme):
    doomed = make_app("doomed")
    create_user(api, doomed, "left@example.com", password=PASSWORD)
    assert sign_in(api, "left@example.com", PASSWORD, doomed.slug).status_code == 200

    assert api.delete(f"/v1/apps/{doomed.slug}", token=operator.token).status_code == 204

    create_user(api, acme, "left@example.com", password=OTHER_PASSWORD)
    oauth_problem(sign_in(api, "left@example.com", PASSWORD, acme.slug), 400, "invalid_grant")
    assert sign_in(api, "left@example.com", OTHER_PASSWORD, acme.slug).status_code == 200


def test_app_deletion_keeps_identities_other_apps_share(api, operator, make_app, acme):
    doomed = make_app("doomed")
    create_user(api, acme, "shared@example.com", password=PASSWORD)
    create_user(api, doomed, "shared@example.com")

    assert api.delete(f"/v1/apps/{doomed.slug}", token=operator.token).status_code == 204

    assert sign_in(api, "shared@example.com", PASSWORD, acme.slug).status_code == 200


def test_app_deletion_removes_a_self_chosen_password_too(api, operator, make_app, acme):
    """A password the person chose themselves is trusted by every App they belong to; once
    their only App is deleted, a later App adding the same email must not inherit it."""
    doomed = make_app("doomed")
    create_user(api, doomed, "own@example.com", password=PASSWORD)
    tokens = api.post(
        "/v1/oauth/token",
        {"grantType": "password", "username": "own@example.com", "password": PASSWORD, "app": doomed.slug},
    ).json()
    response = api.post(
        "/v1/me/password",
        {"currentPassword": PASSWORD, "newPassword": OTHER_PASSWORD},
        token=tokens["access_token"],
    )
    assert response.status_code == 204, response.content

    assert api.delete(f"/v1/apps/{doomed.slug}", token=operator.token).status_code == 204

    create_user(api, acme, "own@example.com")
    oauth_problem(sign_in(api, "own@example.com", OTHER_PASSWORD, acme.slug), 400, "invalid_grant")
    events = api.get("/v1/audit-events?action=app.deleted", token=operator.token).json()["data"]
    assert events[0]["changes"]["identitiesDeleted"] == 1


@pytest.mark.parametrize(
    "path, raw",
    [
        ("/v1/authorize", '{"token": "\\ud800", "permission": "docs.read"}'),
        ("/v1/oauth/token", '{"clientId": "m2m_x", "clientSecret": "\\ud800"}'),
        (
            "/v1/oauth/token",
            '{"grantType": "password", "username": "a@b.co", "password": "\\udfff", "app": "acme-corp"}',
        ),
    ],
)
def test_lone_surrogates_are_refused_not_500(api, acme, path, raw):
    response = api.post(path, raw=raw)
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")


def test_lone_surrogates_in_metadata_are_refused(api, acme):
    response = api.post(
        "/v1/users", raw='{"email": "s@example.com", "metadata": {"k": "\\ud800"}}', token=acme.token
    )
    body = problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "metadata.k"
    assert api.get("/v1/users", token=acme.token).json()["data"] == []
