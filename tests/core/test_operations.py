"""Probes and documentation: /healthz, /readyz, /v1/openapi.json, /docs."""

from __future__ import annotations

import re
from unittest import mock
from urllib.parse import urljoin, urlsplit

import pytest
from django.db.utils import OperationalError

from tests.helpers import problem


def test_healthz_is_ok(api):
    response = api.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_is_ok_with_a_working_database(api):
    response = api.get("/readyz")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")


def test_readyz_is_503_database_unavailable_when_the_database_fails(api):
    with mock.patch("django.db.connection.cursor", side_effect=OperationalError("connection refused")):
        response = api.get("/readyz")

    body = problem(response, 503, "database_unavailable")
    assert "connection refused" not in response.content.decode()
    assert body["detail"]


def test_healthz_stays_ok_when_the_database_fails(api):
    with mock.patch("django.db.connection.cursor", side_effect=OperationalError("down")):
        response = api.get("/healthz")

    assert response.status_code == 200


def test_openapi_document_is_openapi_3_1_json(api):
    response = api.get("/v1/openapi.json")

    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    assert response.json()["openapi"].startswith("3.1")


def test_openapi_document_lists_the_foundation_paths(api):
    paths = api.get("/v1/openapi.json").json()["paths"]

    for path in (
        "/v1/apps",
        "/v1/apps/{slug}",
        "/v1/app",
        "/v1/oauth/token",
        "/v1/authorize",
        "/v1/audit-events",
    ):
        assert path in paths, path


def test_openapi_document_needs_no_token(api):
    assert api.get("/v1/openapi.json").status_code == 200


DOC_PAGES = ["/docs"]


@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_is_html(api, path):
    response = api.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "<html" in response.content.decode().lower()


@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_reference_no_external_url(api, path):
    html = api.get(path).content.decode()

    external = [url for url in re.findall(r"https?://[^\s\"'<>)]+", html) if "testserver" not in url]
    assert external == []
    assert not re.search(r"""(?:src|href)\s*=\s*["']//""", html)


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""<(?:script|link)[^>]*?(?:src|href)\s*=\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_assets_are_served_offline(api, path):
    html = api.get(path).content.decode()
    assets = _asset_urls(html)
    assert any(asset.endswith(".js") for asset in assets), "the docs page loads no script"

    for asset in assets:
        url = urlsplit(urljoin(f"http://testserver{path}", asset))
        assert url.netloc == "testserver", asset
        response = api.get(url.path)
        assert response.status_code == 200, (asset, response.status_code)
