"""A lean base for hot endpoints (`/v1/authorize`, `/v1/oauth/token`).

They are `APIView`s only so drf-spectacular documents them from their `post` method and
`extend_schema`; at run time `dispatch` skips DRF's request wrapping, negotiation and rendering
and calls `handle` directly, which parses the body itself and returns a plain HttpResponse.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApiError, error_response, problem_response, validation_error
from core.parsers import NUL_MESSAGE, TooDeep, scan

MAX_BODY_BYTES = 64 * 1024


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    # Bytes, so HttpResponse need not look up the charset to encode a str.
    response = HttpResponse(json.dumps(body).encode(), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def parse_json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object. 413 beyond MAX_BODY_BYTES; 400 malformed_json when it is not
    JSON or nests too deeply; 400 validation_error when it is not an object or any string in it
    (key or value) contains NUL."""
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", "The request body is too large.")
    try:
        data = json.loads(raw or b"null")
        where = scan(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # TooDeep is a ValueError
        detail = "The request body is not valid JSON. Send a JSON object."
        if isinstance(exc, (TooDeep, RecursionError)):
            detail = "The request body nests JSON too deeply. Send a flat JSON object."
        raise ApiError(400, "malformed_json", detail) from exc
    if where is not None:
        raise validation_error(where, "nul_character", NUL_MESSAGE)
    if not isinstance(data, dict):
        raise ApiError(
            400,
            "validation_error",
            "The request body must be a JSON object.",
            errors=[{"field": "body", "code": "invalid", "message": "must be a JSON object"}],
        )
    return data


class LeanView(APIView):
    """Documented like a DRF view, served like a plain Django one."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    lean_methods = ("POST",)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in self.lean_methods:
            response = problem_response(405, "method_not_allowed", f"{request.method} is not allowed here.")
            response["Allow"] = ", ".join(self.lean_methods)
            return response
        try:
            return self.handle(request, *args, **kwargs)
        except ApiError as exc:
            return error_response(exc)

    def handle(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise NotImplementedError


class OpenApiDocumentView(SpectacularJSONAPIView):
    """`GET /v1/openapi.json`, built once per process and under a lock.

    drf-spectacular loads its extensions lazily, and not thread-safely: two first requests at once
    in one gthread worker made one of them a 500 (the fuzz step met it). The document does not
    change while the process runs, so it is generated once and then served from memory."""

    def _get_schema_response(self, request: Any) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        with _DOCUMENT_LOCK:
            document = _DOCUMENTS.get(version) if version is None else None
            if document is None:
                generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
                document = generator.get_schema(request=request, public=self.serve_public)
                if version is None:  # only the default one: a query string must not grow the cache
                    _DOCUMENTS[version] = document
        return Response(
            data=document,
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )


_DOCUMENT_LOCK = threading.Lock()
_DOCUMENTS: dict[str | None, Any] = {}
