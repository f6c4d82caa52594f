"""Liveness and readiness probes."""

from __future__ import annotations

from django.db import connection
from django.db.utils import Error as DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from core.errors import problem_response
from core.views import json_response


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive (no dependencies checked)."""
    return json_response({"status": "ok"})


@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """The database answers; 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return problem_response(
            503,
            "database_unavailable",
            "The database is not reachable; retry shortly.",
            headers={"Retry-After": "5"},
        )
    return json_response({"status": "ready"})
