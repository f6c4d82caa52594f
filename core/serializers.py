"""Shared serializer plumbing: strict input shapes and the documented error shape."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def rfc3339(moment: datetime | None) -> str | None:
    """A UTC timestamp as the API writes them: RFC 3339 with a `Z`."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean and nothing else. DRF's BooleanField also takes 0, 1, "true", "yes", "on"
    and friends; an API whose document says `boolean` refuses them (400 `invalid`)."""

    default_error_messages = {"invalid": "Must be a JSON boolean: true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if data is True or data is False:
            return data
        self.fail("invalid")


def json_integer(value: Any) -> int | None:
    """`value` as an int when it is a JSON integer, else None. Booleans and strings are not
    integers; a number with a zero fraction (`2.0`) is, as JSON Schema counts it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: DRF's IntegerField also takes "42", "42.0" and true."""

    default_error_messages = {"invalid": "Must be a JSON integer."}

    def to_internal_value(self, data: Any) -> int:
        value = json_integer(data)
        if value is None:
            self.fail("invalid")
        return int(super().to_internal_value(value))


class FullMatch(RegexValidator):
    """A RegexValidator that matches the whole value (Django's searches: `^a$` accepts "a\n").
    The document shows the same pattern, which JSON Schema reads as a whole-string match."""

    def __init__(self, *args: Any, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_length = max_length

    def __call__(self, value: Any) -> None:
        if self.max_length is not None and len(str(value)) > self.max_length:
            return  # the length check reports it: one error per field
        if not re.compile(self.regex).fullmatch(str(value)):
            raise ValidationError(self.message, code=self.code, params={"value": value})


def pattern_field(pattern: str, *, message: str = "Does not match the required pattern.", **kwargs: Any) -> Any:
    """A string field that must match `pattern` entirely (documented as its `pattern`)."""
    validator = FullMatch(pattern, message=message, max_length=kwargs.get("max_length"))
    return serializers.CharField(validators=[validator], trim_whitespace=False, **kwargs)


@extend_schema_field({"type": "string", "format": "email", "maxLength": 254})
class EmailAddressField(serializers.CharField):
    """An email address (validated and normalised by the service: accounts.email_normalize)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)


# Passwords someone chooses: longer ones are refused (400), never truncated (accounts.passwords).
NEW_PASSWORD_MAX_LENGTH = 128


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields, so a typo is an error instead of a silent no-op (the document
    says `additionalProperties: false` for each: core.openapi). Use StrictBooleanField and
    StrictIntegerField in it, never DRF's coercing BooleanField and IntegerField."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for field in fields.values():
            # What is sent is what is stored: trimming would accept " x " for a field whose pattern
            # refuses it, and turn a blank-looking "\x1c" (Python whitespace) into a 400.
            for char_field in (field, getattr(field, "child", None)):
                if isinstance(char_field, serializers.CharField):
                    char_field.trim_whitespace = False
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": ["The body must be a JSON object."]}, code="invalid")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown field."] for name in unknown}, code="unknown_field"
            )
        # DRF turns 123 into "123" for a CharField (in a list too); an API that validates input
        # refuses it.
        wrong: dict[str, list[str]] = {}
        for name, field in self.fields.items():
            value = data.get(name)
            if value is None:
                continue
            if isinstance(field, serializers.CharField) and not isinstance(value, str):
                wrong[name] = ["Must be a string."]
            elif (
                isinstance(field, serializers.ListField)
                and isinstance(field.child, serializers.CharField)
                and isinstance(value, list)
                and not all(isinstance(item, str) for item in value)
            ):
                wrong[name] = ["Must be a list of strings."]
        if wrong:
            raise serializers.ValidationError(wrong, code="invalid_type")
        return super().to_internal_value(data)


class OAuthJsonParamsSerializer(serializers.Serializer):
    """Documentation of an OAuth endpoint's JSON body (tokens.oauth.read_params parses it): a JSON
    null counts as absent, other parameters are ignored but must be strings (RFC 6749 section
    3.1: unrecognised parameters are ignored)."""


class OAuthFormParamsSerializer(serializers.Serializer):
    """Documentation of an OAuth endpoint's form body (RFC 6749 appendix B): every value is a
    string, no parameter may repeat, unrecognised parameters are ignored."""


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
