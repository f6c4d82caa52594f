"""Audit log API: read-only, newest first, filtered and cursor-paginated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditEvent
from core.errors import validation_error
from core.pagination import paginate
from core.serializers import page_of, rfc3339

# A `list` action's response is the page envelope itself, not an array of pages.
_envelope = extend_schema_serializer(many=False)


class AuditEventSerializer(serializers.Serializer):
    id = serializers.CharField()
    occurredAt = serializers.DateTimeField()
    action = serializers.CharField(help_text="e.g. user.created, token.issued")
    actor = serializers.DictField(help_text="{type: user|client|operator|anonymous|system, id}")
    target = serializers.DictField(allow_null=True, help_text="{type, id}")
    # Documentation only (never validated), so shadowing Field.context is harmless here.
    context = serializers.DictField(help_text="{ip, userAgent, requestId}")  # type: ignore[assignment]
    changes = serializers.DictField(required=False, allow_null=True)


def event_to_json(event: AuditEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event.id,
        "occurredAt": rfc3339(event.occurred_at),
        "action": event.action,
        "actor": {"type": event.actor_type, "id": event.actor_id},
        "target": {"type": event.target_type, "id": event.target_id} if event.target_type else None,
        "context": {"ip": event.ip, "userAgent": event.user_agent, "requestId": event.request_id},
    }
    if event.changes is not None:
        body["changes"] = event.changes
    return body


def _moment(params: Any, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        parsed = parse_datetime(raw) if len(raw) <= 64 else None
        # In UTC, as the database compares it; 9999-12-31T23:59:59-23:59 is past year 9999.
        moment = parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo is not None else None
    except (ValueError, OverflowError):  # well-formed but impossible: month 13, out of range
        moment = None
    if moment is None:
        raise validation_error(name, "invalid_datetime", f"{name} must be an RFC 3339 timestamp with offset")
    return moment


def _short(params: Any, name: str, limit: int = 128) -> str | None:
    raw = params.get(name)
    if raw is not None and len(raw) > limit:
        raise validation_error(name, "too_long", f"{name} is at most {limit} characters")
    return raw or None


class AuditEventViewSet(viewsets.ViewSet):
    # /v1/audit-events: list only (there is no detail route).
    required_permissions = {"list": "heimdall:audit.read"}

    @extend_schema(
        operation_id="audit_events_list",
        tags=["audit"],
        summary="The App's audit log, newest first",
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, description="Exact action, e.g. user.created"),
            OpenApiParameter("actorId", OpenApiTypes.STR),
            OpenApiParameter("targetId", OpenApiTypes.STR),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="occurredAt >= since"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="occurredAt < until"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-200, default 50"),
            OpenApiParameter("cursor", OpenApiTypes.STR),
        ],
        responses=_envelope(page_of(AuditEventSerializer, "AuditEventPage")),
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        events = AuditEvent.objects.all()
        if action := _short(params, "action", 64):
            events = events.filter(action=action)
        if actor_id := _short(params, "actorId"):
            events = events.filter(actor_id=actor_id)
        if target_id := _short(params, "targetId"):
            events = events.filter(target_id=target_id)
        if since := _moment(params, "since"):
            events = events.filter(occurred_at__gte=since)
        if until := _moment(params, "until"):
            events = events.filter(occurred_at__lt=until)
        return Response(paginate(events, params, event_to_json))
