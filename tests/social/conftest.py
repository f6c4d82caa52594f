"""Fixtures of the social sign-in tests: the fake provider, an App wired to it, and the flow."""

from __future__ import annotations

import base64
import hashlib
import http.client
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from social import oidc
from tests.helpers import Api, AppHandle
from tests.social.provider import CLIENT_ID, CLIENT_SECRET, FakeProvider

REDIRECT_URI = "https://client.example.com/callback"
VERIFIER = "v" * 20 + "-client-verifier-of-enough-length-1234567890"


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="session")
def _provider_server() -> Any:
    server = FakeProvider()
    yield server
    server.close()


@pytest.fixture
def idp(_provider_server: FakeProvider) -> FakeProvider:
    _provider_server.reset()
    oidc.cache_clear()
    yield _provider_server
    _provider_server.reset()
    oidc.cache_clear()


def create_provider(api: Api, app: AppHandle, issuer: str, **extra: Any) -> dict[str, Any]:
    body = {"kind": "oidc", "issuer": issuer, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, **extra}
    response = api.post("/v1/identity-providers", body, token=app.token)
    assert response.status_code == 201, response.content
    return response.json()


def app_settings(api: Api, app: AppHandle, **settings: Any) -> None:
    response = api.patch("/v1/app", {"settings": settings}, token=app.token)
    assert response.status_code == 200, response.content


@dataclass
class Social:
    """An App wired to the fake provider, and the flow driven over HTTP."""

    api: Api
    app: AppHandle
    idp: FakeProvider
    provider_id: str

    def authorize(self, **overrides: Any) -> Any:
        params = {
            "app": self.app.slug,
            "provider": self.provider_id,
            "redirect_uri": REDIRECT_URI,
            "state": "client-state-xyz",
            "code_challenge": challenge_of(VERIFIER),
            "code_challenge_method": "S256",
            **overrides,
        }
        params = {k: v for k, v in params.items() if v is not None}
        return self.api.get("/v1/oauth/authorize?" + urlencode(params))

    def through_provider(self, response: Any) -> str:
        """Follow Heimdall's 302 into the provider; returns the provider's Location back."""
        assert response.status_code == 302, response.content
        location = response["Location"]
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}" == self.idp.issuer, location
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        connection.request("GET", f"{parts.path}?{parts.query}")
        answer = connection.getresponse()
        assert answer.status == 302
        back = answer.getheader("Location")
        connection.close()
        assert back is not None and back.startswith("http://testserver/v1/oauth/callback?"), back
        return back

    def callback(self, back: str) -> Any:
        return self.api.get(back.removeprefix("http://testserver"))

    def run(self, **overrides: Any) -> dict[str, str]:
        """The whole browser trip; returns the query Heimdall sent to the client's redirect URI."""
        final = self.callback(self.through_provider(self.authorize(**overrides)))
        return landed(final)

    def redeem(self, code: str, verifier: str | None = VERIFIER, redirect_uri: str = REDIRECT_URI) -> Any:
        body = {"grantType": "authorization_code", "code": code, "redirectUri": redirect_uri}
        if verifier is not None:
            body["codeVerifier"] = verifier
        return self.api.post("/v1/oauth/token", body)

    def sign_in(self, **overrides: Any) -> dict[str, Any]:
        result = self.run(**overrides)
        assert "code" in result, result
        response = self.redeem(result["code"])
        assert response.status_code == 200, response.content
        return response.json()


def landed(response: Any) -> dict[str, str]:
    """The query of a 302 to the client's redirect URI."""
    assert response.status_code == 302, (response.status_code, response.content)
    location = response["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def social(api: Api, acme: AppHandle, idp: FakeProvider) -> Social:
    app_settings(api, acme, redirectUris=[REDIRECT_URI])
    provider = create_provider(api, acme, idp.issuer)
    return Social(api, acme, idp, provider["id"])
