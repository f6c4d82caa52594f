"""Password hashing (Argon2id, OWASP parameters) and the weak-password rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import FieldDoesNotExist, ValidationError

from core.errors import ApiError

MAX_LENGTH = 128

# OWASP's minimum for Argon2id: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

# Verified against when the email is unknown, so the answer takes as long as for a real user.
_DUMMY_HASH = HASHER.hash("heimdall-timing-equaliser-not-a-password")


def password_check_length(password: str, *, field: str = "password") -> None:
    if len(password) > MAX_LENGTH:
        raise ApiError(
            400,
            "validation_error",
            f"Passwords are at most {MAX_LENGTH} characters.",
            errors=[{"field": field, "code": "too_long", "message": f"at most {MAX_LENGTH} characters"}],
        )


class _NoFields:
    """Stands in for a model's `_meta`: UserAttributeSimilarityValidator names the attribute it
    matched via `_meta.get_field(name).verbose_name`, and falls back to the name on this error."""

    @staticmethod
    def get_field(name: str) -> Any:
        raise FieldDoesNotExist(name)


@dataclass(frozen=True)
class _PasswordOwner:
    """What UserAttributeSimilarityValidator compares the password against: the email only."""

    email: str
    _meta: ClassVar[_NoFields] = _NoFields()


# Our wording for Django's validator codes: it never quotes the password back.
_REASONS = {
    "password_too_short": "must be at least {min_length} characters",
    "password_too_common": "is too common or too easy to guess",
    "password_too_similar": "is too similar to the email",
    "password_entirely_numeric": "is entirely numeric",
}


def password_validate(password: str, *, email: str = "", field: str = "password") -> None:
    """400 for over-long passwords (never truncated); 422 `weak_password` when Django's password
    validators (settings.AUTH_PASSWORD_VALIDATORS: common, similar to the email, all-numeric,
    shorter than 10) or our distinct-characters rule refuse it."""
    password_check_length(password, field=field)
    reasons: list[str] = []
    owner: Any = _PasswordOwner(email=email)  # the validators only read attributes: no User model
    try:
        validate_password(password, user=owner)
    except ValidationError as exc:
        for error in exc.error_list:
            template = _REASONS.get(error.code or "")
            reasons.append(template.format(**(error.params or {})) if template else str(error.messages[0]))
    if len(set(password)) < 4:
        reasons.append("has too few distinct characters")
    if not reasons:
        return
    raise ApiError(
        422,
        "weak_password",
        f"The password {'; '.join(reasons)}. Choose a longer, less predictable one (a passphrase works well).",
        errors=[{"field": field, "code": "weak_password", "message": reason} for reason in reasons],
    )


def password_hash(password: str) -> str:
    return HASHER.hash(password)


def password_verify(stored_hash: str | None, password: str) -> bool:
    """Constant-work verification; an identity with no password never matches."""
    if len(password) > MAX_LENGTH:
        return False  # refused unhashed for everyone alike: reveals nothing about the account
    try:
        return HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)
