"""`POST /v1/authorize`: may this token do X? Answered from memory, with no database query."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import ApiError
from core.serializers import ProblemSerializer, StrictSerializer, pattern_field
from core.views import LeanView, json_response, parse_json_object
from rbac.permissions import NAMESPACE, PERMISSION_PART, PERMISSION_RE
from tokens.state import TOKEN_INVALID, get_state

REASONS = [
    "token_invalid",
    "token_expired",
    "token_revoked",
    "app_mismatch",
    "app_suspended",
    "subject_suspended",
    "permission_not_granted",
]


class AuthorizeRequestSerializer(StrictSerializer):
    # Documentation: AuthorizeView.handle checks the body itself (the same rules).
    token = serializers.CharField(help_text="An access token issued by Heimdall.")
    permission = pattern_field(
        rf"^(heimdall:)?{PERMISSION_PART}\.{PERMISSION_PART}$",
        help_text="`resource.action`, or a `heimdall:` permission.",
    )
    app = serializers.CharField(
        required=False,
        allow_null=True,
        min_length=3,
        max_length=63,
        help_text="Expected App slug; another App's token gives app_mismatch.",
    )


class AuthorizeResponseSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    role = serializers.CharField(
        allow_null=True, help_text="A role of the subject that grants the permission."
    )
    subject = serializers.CharField(allow_null=True)
    app = serializers.CharField(allow_null=True, help_text="The token's App slug.")
    actor = serializers.CharField(required=False, help_text="The acting client of a delegated token.")
    reason = serializers.ChoiceField(choices=["granted", *REASONS])


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        400,
        "validation_error",
        f"{field}: {message}",
        errors=[{"field": field, "code": "invalid", "message": message}],
    )


def _valid_permission(value: str) -> bool:
    bare = value[len(NAMESPACE) :] if value.startswith(NAMESPACE) else value
    return bool(PERMISSION_RE.fullmatch(bare))


class AuthorizeView(LeanView):
    @extend_schema(
        operation_id="authorize",
        tags=["authorize"],
        summary="May this token do X?",
        description=(
            "Verifies the token (signature, expiry, App status, revocation) and resolves its "
            "subject's roles against the App's current definitions. Needs no credentials of its "
            "own. Answers 200 for any well-formed request; `reason` says why when denied. "
            "Revocations, suspensions and role changes apply within a second on every instance."
        ),
        request=AuthorizeRequestSerializer,
        responses={
            200: AuthorizeResponseSerializer,
            400: OpenApiResponse(ProblemSerializer, description="`validation_error`: a malformed body"),
            403: OpenApiResponse(
                ProblemSerializer,
                description="`permission_denied`: the Heimdall-App header without an operator's bearer token",
            ),
            413: OpenApiResponse(ProblemSerializer, description="`payload_too_large`: more than 64 KiB"),
        },
        examples=[
            OpenApiExample(
                "allowed",
                value={
                    "allowed": True,
                    "role": "editor",
                    "subject": "usr_01j…",
                    "app": "acme-corp",
                    "reason": "granted",
                },
                response_only=True,
            )
        ],
        auth=[],
        extensions={"x-lean": True},
    )
    def post(self, request: Request) -> Response:  # documentation only; see handle()
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            body = parse_json_object(request)
        except ApiError as exc:
            if exc.code != "malformed_json":
                raise
            # API.md: a malformed body here is a validation_error, like any other bad input.
            raise ApiError(
                400,
                "validation_error",
                exc.detail,
                errors=[{"field": "body", "code": "malformed_json", "message": "not a JSON object"}],
            ) from exc
        token, permission, app = body.get("token"), body.get("permission"), body.get("app")
        if not isinstance(token, str) or not token:
            raise _invalid("token", "a non-empty string is required")
        if not isinstance(permission, str) or not _valid_permission(permission):
            raise _invalid("permission", "must be resource.action (lowercase a-z0-9_-)")
        if app is not None and (not isinstance(app, str) or not 3 <= len(app) <= 63):
            raise _invalid("app", "must be an App slug")
        unknown = set(body) - {"token", "permission", "app"}
        if unknown:
            raise _invalid(sorted(unknown)[0], "unknown field")
        return json_response(authorize(token, permission, app))


def authorize(token: str, permission: str, app_slug: str | None) -> dict[str, Any]:
    check = get_state().check(token, app_slug=app_slug)
    allowed, role, reason = check.decide(permission)
    claims = check.claims if check.reason != TOKEN_INVALID else None
    answer: dict[str, Any] = {
        "allowed": allowed,
        "role": role if allowed else None,
        "subject": claims.get("sub") if claims else None,
        "app": check.app.slug if check.app else None,
        "reason": "granted" if allowed else reason,
    }
    act = claims.get("act") if claims else None
    if isinstance(act, dict) and isinstance(act.get("sub"), str):
        answer["actor"] = act["sub"]
    return answer
