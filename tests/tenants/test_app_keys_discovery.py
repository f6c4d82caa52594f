"""Per-App public metadata: /v1/apps/{slug}/jwks.json and the discovery document."""

from __future__ import annotations

import pytest

from tests.helpers import problem


def test_jwks_publishes_current_and_next_rsa_keys(api, acme):
    response = api.get(f"/v1/apps/{acme.slug}/jwks.json")

    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 2
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert key["kid"]
        assert {"n", "e"} <= set(key)
        assert "d" not in key and "p" not in key


def test_jwks_is_public_and_cacheable(api, acme):
    response = api.get(f"/v1/apps/{acme.slug}/jwks.json")

    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]


def test_each_app_has_its_own_keys(api, acme, globex):
    acme_kids = {k["kid"] for k in api.get(f"/v1/apps/{acme.slug}/jwks.json").json()["keys"]}
    globex_kids = {k["kid"] for k in api.get(f"/v1/apps/{globex.slug}/jwks.json").json()["keys"]}

    assert acme_kids.isdisjoint(globex_kids)


@pytest.mark.parametrize("slug", ["no-such-app", "x" * 100])
def test_jwks_of_unknown_app_is_not_found_problem(api, slug):
    problem(api.get(f"/v1/apps/{slug}/jwks.json"), 404, "not_found")


def test_discovery_document_names_the_endpoints(api, acme):
    response = api.get(f"/v1/apps/{acme.slug}/.well-known/openid-configuration")

    assert response.status_code == 200
    body = response.json()
    base = "http://testserver/v1"
    assert body["issuer"] == f"{base}/apps/{acme.slug}"
    assert body["token_endpoint"] == f"{base}/oauth/token"
    assert body["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert body["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert body["jwks_uri"] == f"{base}/apps/{acme.slug}/jwks.json"


def test_discovery_jwks_uri_serves_the_jwks(api, acme):
    jwks_uri = api.get(f"/v1/apps/{acme.slug}/.well-known/openid-configuration").json()["jwks_uri"]

    response = api.get(jwks_uri.removeprefix("http://testserver"))

    assert response.status_code == 200
    assert response.json()["keys"]


def test_discovery_issuer_matches_token_issuer(api, acme):
    import jwt

    issuer = api.get(f"/v1/apps/{acme.slug}/.well-known/openid-configuration").json()["issuer"]

    assert jwt.decode(acme.token, options={"verify_signature": False})["iss"] == issuer


def test_discovery_of_unknown_app_is_not_found_problem(api):
    problem(api.get("/v1/apps/no-such-app/.well-known/openid-configuration"), 404, "not_found")
