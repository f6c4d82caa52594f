"""Password hashing (Argon2id, OWASP parameters) and the weak-password rule."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import ApiError

MIN_LENGTH = 10
MAX_LENGTH = 128

# OWASP's minimum for Argon2id: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

# Verified against when the email is unknown, so the answer takes as long as for a real user.
_DUMMY_HASH = HASHER.hash("heimdall-timing-equaliser-not-a-password")


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text().splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_check_length(password: str, *, field: str = "password") -> None:
    if len(password) > MAX_LENGTH:
        raise ApiError(
            400,
            "validation_error",
            f"Passwords are at most {MAX_LENGTH} characters.",
            errors=[{"field": field, "code": "too_long", "message": f"at most {MAX_LENGTH} characters"}],
        )


def password_validate(password: str, *, email: str = "", field: str = "password") -> None:
    """422 `weak_password` for short or common passwords; 400 for over-long ones."""
    password_check_length(password, field=field)
    if len(password) < MIN_LENGTH:
        reason = f"must be at least {MIN_LENGTH} characters"
    elif password.lower() in _common() or (email and password.lower() == email.lower()):
        reason = "is too common or too easy to guess"
    elif len(set(password)) < 4:
        reason = "has too few distinct characters"
    else:
        return
    raise ApiError(
        422,
        "weak_password",
        f"The password {reason}. Choose a longer, less predictable one (a passphrase works well).",
        errors=[{"field": field, "code": "weak_password", "message": reason}],
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
