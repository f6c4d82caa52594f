"""The Google and Microsoft presets: the issuer and endpoints each resolves to, and the issuer
rules of their ID tokens, including Microsoft's multi-tenant `{tenantid}` issuer.

There is no internet here, so `oidc.http_json` is replaced by `PresetProvider`, which answers
for the real provider's URLs (its discovery document, JWKS and token endpoint, as published)
and records what Heimdall asked for. Everything else (the authorize redirect, the callback,
the code exchange, the ID-token checks, linking) runs for real over Heimdall's HTTP API.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from core.context import system_scope
from social import oidc
from social.models import SocialLink
from tests.accounts.support import audit_events, claims_of, create_user
from tests.helpers import problem
from tests.social.conftest import REDIRECT_URI, Social, app_settings, landed

GOOGLE_DISCOVERY = {
    "issuer": "https://accounts.google.com",
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": "https://oauth2.googleapis.com/token",
    "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
    "response_types_supported": ["code"],
    "id_token_signing_alg_values_supported": ["RS256"],
}
MS = "https://login.microsoftonline.com"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0b2b3a6f-1111-4222-8333-944455556666"
CONSUMERS = oidc.MICROSOFT_CONSUMERS_TENANT


def microsoft_discovery(segment: str) -> dict[str, Any]:
    """What login.microsoftonline.com publishes for one tenant or multi-tenant endpoint."""
    issuer = f"{MS}/{{tenantid}}/v2.0" if segment in ("common", "organizations") else f"{MS}/{segment}/v2.0"
    if segment == "consumers":
        issuer = f"{MS}/{CONSUMERS}/v2.0"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{MS}/{segment}/oauth2/v2.0/authorize",
        "token_endpoint": f"{MS}/{segment}/oauth2/v2.0/token",
        "jwks_uri": f"{MS}/{segment}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class PresetProvider:
    """Stands in for a real provider's public endpoints at their real URLs."""

    def __init__(self, discovery_url: str, discovery: dict[str, Any], client_id: str, client_secret: str) -> None:
        self.discovery_url = discovery_url
        self.discovery = discovery
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.requested: list[str] = []
        self.grants: dict[str, dict[str, str]] = {}
        self.claims: dict[str, Any] = {}

    def http_json(self, url: str, *, deadline: Any, form: Any = None, headers: Any = None) -> tuple[int, Any]:
        self.requested.append(url)
        if url == self.discovery_url:
            return 200, self.discovery
        if url == self.discovery["jwks_uri"]:
            jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return 200, {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        if url == self.discovery["token_endpoint"] and form is not None:
            grant = self.grants.pop(form["code"], None)
            if (
                grant is None
                or form["client_id"] != self.client_id
                or form["client_secret"] != self.client_secret
                or form["redirect_uri"] != grant["redirect_uri"]
                or _s256(form["code_verifier"]) != grant["code_challenge"]
            ):
                return 400, {"error": "invalid_grant"}
            now = int(time.time())
            claims = {"aud": self.client_id, "iat": now, "exp": now + 300, "nonce": grant["nonce"], **self.claims}
            token = jwt.encode({k: v for k, v in claims.items() if v is not None}, self.key, "RS256", headers={"kid": "k1"})
            return 200, {"access_token": "at", "token_type": "Bearer", "id_token": token}
        return 404, {"error": "not_found"}

    def consent(self, location: str) -> str:
        """The user consents at the authorization endpoint: the callback path it sends back."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        code = f"code-{len(self.grants)}-{time.monotonic_ns()}"
        self.grants[code] = query
        return f"/v1/oauth/callback?code={code}&state={query['state']}"


def _preset(api, acme, monkeypatch, body: dict[str, Any], discovery_url: str, discovery: dict[str, Any]):
    app_settings(api, acme, redirectUris=[REDIRECT_URI])
    created = api.post("/v1/identity-providers", {"clientId": "cid", "clientSecret": "csecret", **body}, token=acme.token)
    assert created.status_code == 201, created.content
    fake = PresetProvider(discovery_url, discovery, "cid", "csecret")
    monkeypatch.setattr(oidc, "http_json", fake.http_json)
    oidc.cache_clear()
    return created.json(), fake, Social(api, acme, None, created.json()["id"])  # type: ignore[arg-type]


def _trip(social: Social, fake: PresetProvider) -> dict[str, str]:
    started = social.authorize()
    assert started.status_code == 302, started.content
    return landed(social.api.get(fake.consent(started["Location"])))


def _failure_reason(api, app) -> str:
    return audit_events(api, app, action="social.login_failed")[0]["changes"]["reason"]


# ---- Google -----------------------------------------------------------------------------------------


@pytest.fixture
def google(api, acme, monkeypatch):
    return _preset(
        api,
        acme,
        monkeypatch,
        {"kind": "google"},
        "https://accounts.google.com/.well-known/openid-configuration",
        GOOGLE_DISCOVERY,
    )


def test_google_resolves_to_googles_issuer_and_endpoints(api, acme, google):
    created, fake, social = google
    assert created["issuer"] == "https://accounts.google.com"
    assert created["scopes"] == ["openid", "email", "profile"]
    user = create_user(api, acme, "g@example.com")
    fake.claims = {"iss": "https://accounts.google.com", "sub": "1090", "email": "g@example.com", "email_verified": True}

    started = social.authorize()
    location = urlsplit(started["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == "cid" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://testserver/v1/oauth/callback"
    assert query["scope"] == "openid email profile" and query["code_challenge_method"] == "S256"
    assert query["nonce"] and query["state"]

    result = landed(api.get(fake.consent(started["Location"])))
    tokens = social.redeem(result["code"])
    assert claims_of(tokens.json()["access_token"])["sub"] == user["id"]
    assert fake.requested == [
        "https://accounts.google.com/.well-known/openid-configuration",
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v3/certs",
    ]


def test_google_id_tokens_may_name_the_issuer_without_scheme(api, acme, google):
    _, fake, social = google
    create_user(api, acme, "g@example.com")
    fake.claims = {"iss": "accounts.google.com", "sub": "1090", "email": "g@example.com", "email_verified": True}
    assert "code" in _trip(social, fake)


@pytest.mark.parametrize("iss", ["https://accounts.google.com.evil.example", "https://evil.example", "google.com"])
def test_google_refuses_another_issuer(api, acme, google, iss):
    _, fake, social = google
    create_user(api, acme, "g@example.com")
    fake.claims = {"iss": iss, "sub": "1090", "email": "g@example.com", "email_verified": True}
    assert _trip(social, fake)["error"] == "access_denied"
    assert _failure_reason(api, acme) == "id_token_issuer"


def test_google_discovery_naming_another_issuer_is_refused(api, acme, google):
    _, fake, social = google
    fake.discovery = {**GOOGLE_DISCOVERY, "issuer": "https://evil.example"}
    response = social.authorize()
    assert "error=temporarily_unavailable" in response["Location"]
    events = audit_events(api, acme, action="social.authorize_refused")
    assert events[0]["changes"]["reason"] == "provider_misconfigured:discovery_issuer_mismatch"


# ---- Microsoft ----------------------------------------------------------------------------------------


def _microsoft(api, acme, monkeypatch, segment: str, issuer: str | None):
    body: dict[str, Any] = {"kind": "microsoft"}
    if issuer is not None:
        body["issuer"] = issuer
    return _preset(
        api, acme, monkeypatch, body, f"{MS}/{segment}/v2.0/.well-known/openid-configuration", microsoft_discovery(segment)
    )


def _ms_claims(tenant: str, *, iss: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"iss": iss or f"{MS}/{tenant}/v2.0", "tid": tenant, "sub": "AAAA-pairwise-sub", **extra}


def test_microsoft_defaults_to_the_common_endpoint_and_signs_in_any_tenant(api, acme, monkeypatch):
    created, fake, social = _microsoft(api, acme, monkeypatch, "common", None)
    assert created["issuer"] == f"{MS}/common/v2.0"
    user = create_user(api, acme, "m@contoso.com")
    fake.claims = _ms_claims(TENANT, email="m@contoso.com", xms_edov=True)

    started = social.authorize()
    assert started["Location"].startswith(f"{MS}/common/oauth2/v2.0/authorize?")
    result = landed(api.get(fake.consent(started["Location"])))
    tokens = social.redeem(result["code"]).json()
    assert claims_of(tokens["access_token"])["sub"] == user["id"]
    assert fake.requested == [
        f"{MS}/common/v2.0/.well-known/openid-configuration",
        f"{MS}/common/oauth2/v2.0/token",
        f"{MS}/common/discovery/v2.0/keys",
    ]
    # the link is keyed by tenant and subject, as Microsoft advises
    with system_scope(reason="the test inspects or edits rows directly"):
        assert list(SocialLink.objects.values_list("subject", flat=True)) == [f"{TENANT}:AAAA-pairwise-sub"]
    # the same subject from another tenant is another account
    fake.claims = _ms_claims(OTHER_TENANT, email="x@fabrikam.com", xms_edov=True)
    assert _trip(social, fake)["error"] == "access_denied"
    assert _failure_reason(api, acme) == "not_a_member"


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (_ms_claims(TENANT, iss=f"{MS}/{OTHER_TENANT}/v2.0"), "iss of another tenant than tid"),
        (_ms_claims(TENANT, iss=f"{MS}/{{tenantid}}/v2.0"), "the template itself"),
        (_ms_claims(TENANT, iss=f"{MS}/common/v2.0"), "the endpoint, not a tenant"),
        ({**_ms_claims(TENANT), "tid": None}, "no tid"),
        (_ms_claims("not-a-guid", iss=f"{MS}/not-a-guid/v2.0"), "tid not a GUID"),
        (_ms_claims(TENANT, iss=f"https://sts.windows.net/{TENANT}/"), "a v1 issuer"),
    ],
)
def test_microsoft_multi_tenant_tokens_must_name_their_own_tenant_exactly(api, acme, monkeypatch, claims, why):
    _, fake, social = _microsoft(api, acme, monkeypatch, "common", None)
    create_user(api, acme, "m@contoso.com")
    fake.claims = {**claims, "email": "m@contoso.com", "xms_edov": True}
    assert _trip(social, fake)["error"] == "access_denied", why
    assert _failure_reason(api, acme) == "id_token_issuer"


def test_microsoft_single_tenant_admits_only_that_tenant(api, acme, monkeypatch):
    created, fake, social = _microsoft(api, acme, monkeypatch, TENANT, f"{MS}/{TENANT.upper()}/v2.0")
    assert created["issuer"] == f"{MS}/{TENANT}/v2.0"  # stored lower-case, as Microsoft writes it
    create_user(api, acme, "m@contoso.com")
    fake.claims = _ms_claims(OTHER_TENANT, email="m@contoso.com", xms_edov=True)
    assert _trip(social, fake)["error"] == "access_denied"
    assert _failure_reason(api, acme) == "id_token_issuer"
    fake.claims = _ms_claims(TENANT, email="m@contoso.com", xms_edov=True)
    assert "code" in _trip(social, fake)


def test_microsoft_organizations_refuses_personal_accounts_and_consumers_admits_only_them(api, acme, monkeypatch):
    _, fake, social = _microsoft(api, acme, monkeypatch, "organizations", f"{MS}/organizations/v2.0")
    create_user(api, acme, "m@contoso.com")
    fake.claims = _ms_claims(CONSUMERS, email="m@contoso.com", email_verified=True)
    assert _trip(social, fake)["error"] == "access_denied"
    assert _failure_reason(api, acme) == "id_token_issuer"

    api.delete(f"/v1/identity-providers/{social.provider_id}", token=acme.token)
    _, fake, social = _microsoft(api, acme, monkeypatch, "consumers", f"{MS}/consumers/v2.0")
    fake.claims = _ms_claims(TENANT, email="m@contoso.com", email_verified=True)
    assert _trip(social, fake)["error"] == "access_denied"
    fake.claims = _ms_claims(CONSUMERS, email="m@contoso.com", email_verified=True)
    assert "code" in _trip(social, fake)


def test_microsoft_discovery_must_publish_the_expected_issuer(api, acme, monkeypatch):
    _, fake, social = _microsoft(api, acme, monkeypatch, "common", None)
    fake.discovery = {**fake.discovery, "issuer": f"{MS}/{OTHER_TENANT}/v2.0"}
    assert "error=temporarily_unavailable" in social.authorize()["Location"]
    events = audit_events(api, acme, action="social.authorize_refused")
    assert events[0]["changes"]["reason"] == "provider_misconfigured:discovery_issuer_mismatch"


def test_microsoft_email_without_verification_never_links_noauth(api, acme, monkeypatch):
    """An attacker's own tenant can give its user any email: without `email_verified: true` or
    `xms_edov: true` (the tenant owns the domain), the email links to nobody."""
    _, fake, social = _microsoft(api, acme, monkeypatch, "common", None)
    create_user(api, acme, "victim@contoso.com")
    for extra in ({}, {"xms_edov": False}, {"xms_edov": "true"}, {"email_verified": "True"}):
        fake.claims = _ms_claims(OTHER_TENANT, email="victim@contoso.com", **extra)
        assert _trip(social, fake)["error"] == "access_denied"
    reasons = {e["changes"]["reason"] for e in audit_events(api, acme, action="social.login_failed")}
    assert reasons == {"email_unverified"}
    with system_scope(reason="the test inspects or edits rows directly"):
        assert not SocialLink.objects.exists()


@pytest.mark.parametrize(
    "issuer",
    [
        f"{MS}/contoso.onmicrosoft.com/v2.0",  # a domain: its discovery names the tenant id instead
        f"{MS}/common",
        f"{MS}/{{tenantid}}/v2.0",
        f"https://login.microsoftonline.us/{TENANT}/v2.0",
        f"{MS}/{TENANT}/v2.0/.well-known/openid-configuration",
        f"https://sts.windows.net/{TENANT}/",
    ],
)
def test_microsoft_issuer_must_be_a_tenant_id_or_a_multi_tenant_endpoint(api, acme, issuer):
    body = {"kind": "microsoft", "issuer": issuer, "clientId": "c", "clientSecret": "s"}
    error = problem(api.post("/v1/identity-providers", body, token=acme.token), 400, "validation_error")
    assert error["errors"][0]["field"] == "issuer" and "GUID" in error["errors"][0]["message"]
