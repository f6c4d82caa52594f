"""The `redirectUris` App setting: absolute https URIs, or http on a loopback host (127.0.0.1,
[::1], localhost); no fragment, no userinfo, bounded length and count, no duplicates. Anything
else is 400 `validation_error` naming the offending entry (`settings.redirectUris[i]`)."""

from __future__ import annotations

import pytest

from tests.helpers import problem

GOOD = [
    "https://app.example.com/callback",
    "https://app.example.com:8443/auth/callback?tenant=acme",
    "https://xn--bcher-kva.example/cb",
    "https://203.0.113.7/cb",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:8080/callback",
    "http://[::1]:3000/cb",
    "https://[2001:db8::1]/cb",
    "http://localhost:5173/auth",
]

BAD = {
    "javascript": "javascript:alert(document.cookie)",
    "javascript-slashes": "javascript://example.com/%0aalert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "vbscript": "vbscript:msgbox(1)",
    "file": "file:///etc/passwd",
    "custom-scheme": "com.example.app:/callback",
    "ftp": "ftp://example.com/cb",
    "relative": "/callback",
    "scheme-relative": "//example.com/cb",
    "no-host": "https:///cb",
    "http-remote": "http://app.example.com/callback",
    "http-loopback-lookalike": "http://localhost.evil.com/cb",
    "http-other-loopback": "http://127.0.0.2/cb",
    "http-localhost-upper": "http://LOCALHOST/cb",
    "fragment": "https://app.example.com/cb#frag",
    "empty-fragment": "https://app.example.com/cb#",
    "userinfo": "https://user:pass@app.example.com/cb",
    "userinfo-trick": "https://app.example.com@evil.com/cb",
    "backslash": "https://evil.com\\@app.example.com/cb",
    "space": "https://app.example.com/c b",
    "newline": "https://app.example.com/cb\nX",
    "tab-in-scheme": "ht\ttps://app.example.com/cb",
    "nul": "https://app.example.com/cb\x00",
    "non-ascii-host": "https://bücher.example/cb",
    "bad-port": "https://app.example.com:99999/cb",
    "non-numeric-port": "https://app.example.com:http/cb",
    "unterminated-ipv6": "http://[::1",
    "bad-ipv6": "https://[:::::]/cb",
    "bracketed-ipv4": "https://[203.0.113.7]/cb",
    "too-long": "https://app.example.com/" + "a" * 2000,
    "empty": "",
}


def _create(api, operator, settings, slug="uri-app"):
    return api.post(
        "/v1/apps", {"slug": slug, "displayName": "U", "settings": settings}, token=operator.token
    )


def test_valid_redirect_uris_are_accepted_and_kept(api, operator, acme):
    response = _create(api, operator, {"redirectUris": GOOD})
    assert response.status_code == 201, response.content
    assert response.json()["settings"]["redirectUris"] == GOOD
    response = api.patch("/v1/app", {"settings": {"redirectUris": GOOD}}, token=acme.token)
    assert response.status_code == 200, response.content
    assert response.json()["settings"]["redirectUris"] == GOOD


@pytest.mark.parametrize("uri", list(BAD.values()), ids=list(BAD))
def test_bad_redirect_uri_is_400_naming_the_entry(api, operator, acme, uri):
    settings = {"redirectUris": ["https://app.example.com/ok", uri]}
    for response in (
        _create(api, operator, settings),
        api.patch("/v1/app", {"settings": settings}, token=acme.token),
    ):
        body = problem(response, 400, "validation_error")
        assert [e["field"] for e in body["errors"]] == ["settings.redirectUris[1]"], body
    assert api.get("/v1/apps/uri-app", token=operator.token).status_code == 404
    assert api.get("/v1/app", token=acme.token).json()["settings"]["redirectUris"] == []


@pytest.mark.parametrize("value", [None, "https://app.example.com/cb", {"a": 1}, [1], [None]])
def test_redirect_uris_must_be_a_list_of_strings(api, operator, acme, value):
    response = api.patch("/v1/app", {"settings": {"redirectUris": value}}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert body["errors"][0]["field"].startswith("settings.redirectUris")


def test_duplicate_redirect_uris_are_refused(api, operator, acme):
    uris = ["https://a.example.com/cb", "https://b.example.com/cb", "https://a.example.com/cb"]
    for response in (
        _create(api, operator, {"redirectUris": uris}),
        api.patch("/v1/app", {"settings": {"redirectUris": uris}}, token=acme.token),
    ):
        body = problem(response, 400, "validation_error")
        assert [e["field"] for e in body["errors"]] == ["settings.redirectUris[2]"]
        assert body["errors"][0]["code"] == "duplicate"


def test_too_many_redirect_uris_are_refused(api, operator, acme):
    uris = [f"https://app.example.com/cb{i}" for i in range(51)]
    response = api.patch("/v1/app", {"settings": {"redirectUris": uris}}, token=acme.token)
    body = problem(response, 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["settings.redirectUris"]
    ok = api.patch("/v1/app", {"settings": {"redirectUris": uris[:50]}}, token=acme.token)
    assert ok.status_code == 200, ok.content
