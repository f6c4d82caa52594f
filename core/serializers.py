"""Shared serializer plumbing: strict input shapes and the documented error shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers


def rfc3339(moment: datetime | None) -> str | None:
    """A UTC timestamp as the API writes them: RFC 3339 with a `Z`."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields, so a typo is an error instead of a silent no-op."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": ["The body must be a JSON object."]}, code="invalid")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown field."] for name in unknown}, code="unknown_field"
            )
        # DRF turns 123 into "123" for a CharField; an API that validates input refuses it.
        wrong = {
            name: ["Must be a string."]
            for name, field in self.fields.items()
            if isinstance(field, serializers.CharField)
            and name in data
            and data[name] is not None
            and not isinstance(data[name], str)
        }
        if wrong:
            raise serializers.ValidationError(wrong, code="invalid_type")
        return super().to_internal_value(data)


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every error of this API is returned."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable snake_case error code.")
    requestId = serializers.CharField()
    # Documentation only (never validated), so shadowing Serializer.errors is harmless here.
    errors = FieldErrorSerializer(many=True, required=False)  # type: ignore[assignment]


class OAuthErrorSerializer(ProblemSerializer):
    """RFC 6749 error fields beside the problem fields; `code` equals `error`."""

    error = serializers.CharField()
    error_description = serializers.CharField()


def page_of(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """A list envelope `{data: [item], nextCursor}` for the OpenAPI document."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "data": item(many=True),
            "nextCursor": serializers.CharField(allow_null=True),
            "__module__": __name__,
        },
    )
