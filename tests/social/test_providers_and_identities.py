"""Identity providers (CRUD, secret handling, issuer rules, isolation), a member's linked
identities (/v1/me/identities), and the GitHub code path against the local fake."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from core.context import system_scope
from social import oidc
from social.models import IdentityProvider
from tests.accounts.support import PASSWORD, audit_events, claims_of, create_user, signed_in
from tests.helpers import problem
from tests.social.conftest import REDIRECT_URI, Social, app_settings, create_provider
from tests.social.provider import CLIENT_ID, CLIENT_SECRET

# ---- CRUD ---------------------------------------------------------------------------------------------


def test_provider_crud_never_returns_the_secret(api, acme, idp):
    created = create_provider(api, acme, idp.issuer)
    assert created["id"].startswith("idp_")
    assert created["kind"] == "oidc" and created["issuer"] == idp.issuer and created["clientId"] == CLIENT_ID
    assert created["scopes"] == ["openid", "email", "profile"] and created["enabled"] is True
    assert created["createdAt"].endswith("Z") and created["updatedAt"].endswith("Z")
    path = f"/v1/identity-providers/{created['id']}"
    listed = api.get("/v1/identity-providers", token=acme.token).json()
    assert [p["id"] for p in listed["data"]] == [created["id"]] and listed["nextCursor"] is None
    patched = api.patch(path, {"enabled": False, "clientSecret": "a-new-secret-value"}, token=acme.token)
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    for body in (created, listed, patched.json(), api.get(path, token=acme.token).json()):
        assert "clientSecret" not in str(body) and CLIENT_SECRET not in str(body)
    with system_scope(reason="test: inspects rows across Apps"):
        stored = str(list(IdentityProvider.objects.values()))
    assert CLIENT_SECRET not in stored and "a-new-secret-value" not in stored
    log = str(audit_events(api, acme))
    assert CLIENT_SECRET not in log and "a-new-secret-value" not in log
    updated = audit_events(api, acme, action="identity_provider.updated")[0]
    assert updated["changes"]["secretChanged"] is True
    assert api.delete(path, token=acme.token).status_code == 204
    problem(api.get(path, token=acme.token), 404, "not_found")
    assert "identity_provider.deleted" in [e["action"] for e in audit_events(api, acme)]


def test_another_apps_provider_is_not_found(api, acme, globex, idp):
    foreign = create_provider(api, globex, idp.issuer)
    path = f"/v1/identity-providers/{foreign['id']}"
    problem(api.get(path, token=acme.token), 404, "not_found")
    problem(api.patch(path, {"enabled": False}, token=acme.token), 404, "not_found")
    problem(api.delete(path, token=acme.token), 404, "not_found")
    assert api.get("/v1/identity-providers", token=acme.token).json()["data"] == []
    assert api.get(path, token=globex.token).json()["enabled"] is True


def test_reading_and_writing_need_the_app_permissions(api, acme, idp):
    create_user(api, acme, "v@example.com", password=PASSWORD, roles=["viewer"])
    viewer = signed_in(api, "v@example.com", PASSWORD, acme.slug)["access_token"]
    problem(api.get("/v1/identity-providers", token=viewer), 403, "permission_denied")
    body = {"kind": "google", "clientId": "x", "clientSecret": "y"}
    problem(api.post("/v1/identity-providers", body, token=viewer), 403, "permission_denied")


def test_presets(api, acme):
    google = api.post(
        "/v1/identity-providers", {"kind": "google", "clientId": "g", "clientSecret": "s"}, token=acme.token
    ).json()
    assert google["issuer"] == "https://accounts.google.com"
    microsoft = api.post(
        "/v1/identity-providers", {"kind": "microsoft", "clientId": "m", "clientSecret": "s"}, token=acme.token
    ).json()
    assert microsoft["issuer"] == "https://login.microsoftonline.com/common/v2.0"
    github = api.post(
        "/v1/identity-providers", {"kind": "github", "clientId": "h", "clientSecret": "s"}, token=acme.token
    ).json()
    assert "issuer" not in github and github["scopes"] == ["read:user", "user:email"]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "oidc"},  # no issuer
        {"kind": "oidc", "issuer": "ftp://idp.example.com"},
        {"kind": "oidc", "issuer": "http://idp.example.com"},
        {"kind": "oidc", "issuer": "https://idp.example.com", "scopes": ["email"]},
        {"kind": "google", "issuer": "https://evil.example.com"},
        {"kind": "github", "issuer": "https://github.com"},
        {"kind": "saml", "issuer": "https://idp.example.com"},
    ],
)
def test_bad_providers_are_refused(api, acme, body):
    body = {"clientId": "c", "clientSecret": "s", **body}
    problem(api.post("/v1/identity-providers", body, token=acme.token), 400, "validation_error")


@pytest.mark.parametrize(
    "issuer",
    ["https://127.0.0.1", "https://localhost:8443", "https://10.1.2.3", "https://[::1]", "https://169.254.169.254",
     "http://127.0.0.1:9000", "https://idp.internal"],
)
def test_private_network_issuers_are_refused_unless_allowed(api, acme, issuer):
    body = {"kind": "oidc", "issuer": issuer, "clientId": "c", "clientSecret": "s"}
    with override_settings(HEIMDALL={**settings.HEIMDALL, "IDP_ALLOW_PRIVATE_NETWORKS": False}):
        problem(api.post("/v1/identity-providers", body, token=acme.token), 400, "validation_error")


def test_a_disabled_provider_cannot_start_a_sign_in(api, social):
    api.patch(f"/v1/identity-providers/{social.provider_id}", {"enabled": False}, token=social.app.token)
    response = social.authorize()
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]


def test_signup_roles_setting_is_shape_checked(api, acme):
    for bad in (["Not A Role"], "viewer", ["viewer", "viewer"]):
        problem(api.patch("/v1/app", {"settings": {"signupRoles": bad}}, token=acme.token), 400, "validation_error")
    app_settings(api, acme, signupRoles=["viewer"])
    assert api.get("/v1/app", token=acme.token).json()["settings"]["signupRoles"] == ["viewer"]


# ---- /v1/me/identities --------------------------------------------------------------------------------


def test_identities_list_and_the_last_sign_in_method(api, social):
    create_user(api, social.app, "alice@example.com")
    token = social.sign_in()["access_token"]
    identities = api.get("/v1/me/identities", token=token).json()["data"]
    assert len(identities) == 1
    path = f"/v1/me/identities/{identities[0]['id']}"
    problem(api.delete(path, token=token), 409, "last_sign_in_method")

    # a second provider account linked: now either may go
    second = create_provider(api, social.app, social.idp.issuer, clientId=CLIENT_ID)
    social.idp.claims = {"sub": "subject-2", "email": "alice@example.com", "email_verified": True}
    token = social.sign_in(provider=second["id"])["access_token"]
    assert len(api.get("/v1/me/identities", token=token).json()["data"]) == 2
    assert api.delete(path, token=token).status_code == 204
    remaining = api.get("/v1/me/identities", token=token).json()["data"]
    assert [i["provider"] for i in remaining] == [second["id"]]
    problem(api.delete(f"/v1/me/identities/{remaining[0]['id']}", token=token), 409, "last_sign_in_method")
    assert "social.identity_unlinked" in [e["action"] for e in audit_events(api, social.app)]


def test_a_member_with_a_password_may_unlink_the_only_identity(api, social):
    create_user(api, social.app, "alice@example.com", password=PASSWORD)
    token = social.sign_in()["access_token"]
    identity = api.get("/v1/me/identities", token=token).json()["data"][0]
    assert api.delete(f"/v1/me/identities/{identity['id']}", token=token).status_code == 204
    assert api.get("/v1/me/identities", token=token).json()["data"] == []


def test_identities_are_a_users_own(api, social, globex):
    create_user(api, social.app, "alice@example.com")
    token = social.sign_in()["access_token"]
    identity = api.get("/v1/me/identities", token=token).json()["data"][0]
    # a client token has none; another member cannot remove alice's
    problem(api.get("/v1/me/identities", token=social.app.token), 403, "permission_denied")
    create_user(api, social.app, "bob@example.com", password=PASSWORD)
    bob = signed_in(api, "bob@example.com", PASSWORD, social.app.slug)["access_token"]
    problem(api.delete(f"/v1/me/identities/{identity['id']}", token=bob), 404, "not_found")
    assert api.get("/v1/me/identities", token=bob).json()["data"] == []
    problem(api.get("/v1/me/identities"), 401, "invalid_token")


# ---- GitHub (OAuth2 with the user and emails APIs), emulated by the fake ---------------------------


@pytest.fixture
def github(api, acme, idp, monkeypatch) -> Social:
    monkeypatch.setattr(
        oidc,
        "GITHUB_ENDPOINTS",
        {
            "authorization_endpoint": f"{idp.issuer}/login/oauth/authorize",
            "token_endpoint": f"{idp.issuer}/login/oauth/access_token",
            "userinfo_endpoint": f"{idp.issuer}/user",
            "emails_endpoint": f"{idp.issuer}/user/emails",
        },
    )
    app_settings(api, acme, redirectUris=[REDIRECT_URI])
    response = api.post(
        "/v1/identity-providers",
        {"kind": "github", "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
        token=acme.token,
    )
    assert response.status_code == 201, response.content
    return Social(api, acme, idp, response.json()["id"])


def test_github_signs_in_a_member_by_verified_primary_email(api, github):
    user = create_user(api, github.app, "octo@example.com")
    location = github.authorize()["Location"]
    assert "nonce=" not in location and "scope=read%3Auser+user%3Aemail" in location
    tokens = github.sign_in()
    assert claims_of(tokens["access_token"])["sub"] == user["id"]
    assert api.get("/v1/me/identities", token=tokens["access_token"]).json()["data"][0]["email"] == "octo@example.com"


def test_github_unverified_primary_email_is_refused(api, github):
    create_user(api, github.app, "octo@example.com")
    github.idp.github_emails = [{"email": "octo@example.com", "primary": True, "verified": False}]
    assert github.run()["error"] == "access_denied"


def test_github_without_a_primary_email_is_refused_and_audited(api, github):
    create_user(api, github.app, "octo@example.com")
    github.idp.github_emails = [{"email": "octo@example.com", "primary": False, "verified": True}]
    assert github.run()["error"] == "access_denied"
    failed = audit_events(api, github.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "email_missing"


def test_github_links_by_account_id_not_by_login_or_email(api, github):
    user = create_user(api, github.app, "octo@example.com")
    assert claims_of(github.sign_in()["access_token"])["sub"] == user["id"]
    # renamed, and another primary email (even unverified): the account id still finds the member
    github.idp.github_user = {"id": 4242, "login": "renamed", "name": "Renamed"}
    github.idp.github_emails = [{"email": "new@example.com", "primary": True, "verified": False}]
    assert claims_of(github.sign_in()["access_token"])["sub"] == user["id"]
    # a different account claiming the same login is someone else
    github.idp.github_user = {"id": 9999, "login": "octo"}
    assert github.run()["error"] == "access_denied"


def test_github_with_a_malformed_user_answer_is_refused(api, github):
    create_user(api, github.app, "octo@example.com")
    github.idp.github_user = {"id": "4242", "login": "octo"}  # GitHub's ids are numbers
    assert github.run()["error"] == "access_denied"
    failed = audit_events(api, github.app, action="social.login_failed")
    assert failed[0]["changes"]["reason"] == "userinfo_malformed"
