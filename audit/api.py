"""Audit log API: read-only, newest first, filtered and cursor-paginated; chain verification and
an NDJSON export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditEvent
from audit.services import audit_chain_seal, audit_chain_verify, audit_events_export
from core.auth import current_principal
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
    seq = serializers.IntegerField(
        allow_null=True, help_text="Position in the App's hash chain from 1; null until sealed (within seconds)."
    )
    hash = serializers.CharField(
        allow_null=True,
        help_text="SHA-256 (hex) of the event's canonical JSON and the previous event's hash; null until sealed.",
    )


class AuditChainVerificationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    checkedEvents = serializers.IntegerField(help_text="Events whose hash and link were checked.")
    firstInvalidEventId = serializers.CharField(
        required=False, help_text="When invalid: the first event that fails (absent if events are missing at the end)."
    )
    reason = serializers.ChoiceField(
        choices=["hash_mismatch", "chain_broken", "head_mismatch", "beyond_head", "head_missing"],
        required=False,
        help_text="When invalid: hash_mismatch (the event was edited), chain_broken (events before it were "
        "removed or rewritten), head_mismatch (events at the end were removed), beyond_head, head_missing.",
    )
    fromSeq = serializers.IntegerField(help_text="Where the walk started (after the last prune checkpoint).")
    lastSeq = serializers.IntegerField(help_text="The last event checked; keep it with lastHash elsewhere.")
    lastHash = serializers.CharField()


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
    body["seq"] = event.seq
    body["hash"] = event.hash
    return body


class NdjsonRenderer(renderers.BaseRenderer):
    """Lets `Accept: application/x-ndjson` through content negotiation for the export, which
    streams its own response."""

    media_type = "application/x-ndjson"
    format = "ndjson"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return b"" if data is None else json.dumps(data).encode() + b"\n"


def _ndjson(events: Iterator[AuditEvent]) -> Iterator[bytes]:
    for event in events:
        yield json.dumps(event_to_json(event), separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


_SEQ_RE = re.compile(r"^[1-9][0-9]{0,17}$")


def _moment(params: Any, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None  # `since=` (empty) is no timestamp: refused below
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


# RFC 3339 with an offset (a `Z` or ±hh:mm), at most 64 characters.
_MOMENT = {"type": "string", "format": "date-time", "maxLength": 64}
_SINCE_UNTIL = [
    OpenApiParameter("since", _MOMENT, description="occurredAt >= since"),
    OpenApiParameter("until", _MOMENT, description="occurredAt < until"),
]


class AuditEventViewSet(viewsets.ViewSet):
    # /v1/audit-events: list only (there is no detail route).
    required_permissions = {
        "list": "heimdall:audit.read",
        "verify": "heimdall:audit.read",
        "export": "heimdall:audit.read",
    }

    @extend_schema(
        operation_id="audit_events_list",
        tags=["audit"],
        summary="The App's audit log, newest first",
        parameters=[
            OpenApiParameter(
                "action", {"type": "string", "maxLength": 64}, description="Exact action, e.g. user.created"
            ),
            OpenApiParameter("actorId", {"type": "string", "maxLength": 128}),
            OpenApiParameter("targetId", {"type": "string", "maxLength": 128}),
            *_SINCE_UNTIL,
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

    @extend_schema(
        operation_id="audit_events_verify",
        tags=["audit"],
        summary="Verify the App's audit hash chain",
        description=(
            "Seals pending events, then walks the App's chain in `seq` order from the last prune "
            "checkpoint (or `fromSeq`, if later): every event's hash is recomputed from its canonical "
            "content and the previous hash, every link and position checked, and the walk must end at "
            "the chain's head. A tampered, removed or inserted event makes `valid` false."
        ),
        parameters=[
            OpenApiParameter(
                "fromSeq",
                {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999},
                description="Start at this seq (its own prevHash is trusted)",
            ),
        ],
        responses=AuditChainVerificationSerializer,
    )
    @action(detail=False, methods=["get"], url_path="verify")
    def verify(self, request: Request) -> Response:
        raw = request.query_params.get("fromSeq")
        if raw is not None and not _SEQ_RE.fullmatch(raw):
            raise validation_error("fromSeq", "out_of_range", "fromSeq must be a positive integer")
        app = current_principal(request).tenant
        result = audit_chain_verify(app_id=app.pk, from_seq=int(raw) if raw else None)
        body: dict[str, Any] = {"valid": result.valid, "checkedEvents": result.checked_events}
        if not result.valid:
            if result.first_invalid_event_id is not None:
                body["firstInvalidEventId"] = result.first_invalid_event_id
            body["reason"] = result.reason
        body.update({"fromSeq": result.from_seq, "lastSeq": result.last_seq, "lastHash": result.last_hash})
        return Response(body)

    @extend_schema(
        operation_id="audit_events_export",
        tags=["audit"],
        summary="Export the App's audit log as NDJSON, oldest first",
        description=(
            "Seals pending events, then streams one event per line (the list's JSON shape, with "
            "`seq` and `hash`) in chain order; events not sealed yet come last. Each line's `hash` "
            "is the next line's previous hash, so the export can be verified offline."
        ),
        parameters=_SINCE_UNTIL,
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                response=AuditEventSerializer, description="One AuditEvent JSON object per line."
            )
        },
    )
    @action(
        detail=False, methods=["get"], url_path="export", renderer_classes=[renderers.JSONRenderer, NdjsonRenderer]
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        since = _moment(request.query_params, "since")
        until = _moment(request.query_params, "until")
        app_id = current_principal(request).tenant.pk
        audit_chain_seal(app_id=app_id)
        response = StreamingHttpResponse(
            _ndjson(audit_events_export(app_id=app_id, since=since, until=until)),
            content_type="application/x-ndjson",
        )
        response["Cache-Control"] = "no-store"
        return response
