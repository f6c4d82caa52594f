"""The hot endpoints' body checks (core.parsers.scan's flat-object path): the same answers as the
general walk, for NUL characters and lone surrogates in keys and values."""

from __future__ import annotations

import json

import pytest


def _post_raw(api, path: str, raw: str):
    return api.post(path, raw=raw.encode("utf-8", "surrogatepass"), content_type="application/json")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"token": "t\\u0000", "permission": "docs.read"}', "token"),
        ('{"token": "t", "permission": "docs.read\\ud800"}', "permission"),
        ('{"token": "t", "perm\\u0000ission": "docs.read"}', "perm\\u0000ission"),
        ('{"token": "t\\u0000", "\\ud800": "x"}', "\\ud800"),  # keys are checked before values
    ],
)
def test_authorize_names_the_unstorable_field(api, raw, field):
    response = _post_raw(api, "/v1/authorize", raw)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]


def test_non_ascii_text_is_not_refused(api, acme):
    response = api.post("/v1/authorize", {"token": "tøken-ünïcode", "permission": "docs.read"})
    assert response.status_code == 200
    assert response.json()["reason"] == "token_invalid"


def test_a_nested_body_still_takes_the_general_walk(api, acme):
    response = api.post("/v1/users", {"email": "x@y.co", "metadata": {"k": "\x00"}}, token=acme.token)
    assert response.status_code == 400
    assert json.loads(response.content)["errors"][0]["field"] == "metadata.k"
