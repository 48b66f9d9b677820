"""Password hashes with Argon2id (argon2-cffi), never hand-rolled."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import BadInputError

MIN_LENGTH = 10
_HASHER = PasswordHasher()  # the library's defaults (RFC 9106 low-memory profile)
# Verified when the user is unknown, so a wrong name takes as long as a wrong password (no name probing by time).
_DUMMY = _HASHER.hash("not a password of anyone")


def check_strength(password: str) -> None:
    """Refuse a password too short to keep (a clear message, nothing stored)."""
    if len(password) < MIN_LENGTH:
        raise BadInputError(f"The password is too short ({len(password)} characters).",
                            f"Use at least {MIN_LENGTH} characters; a phrase of several words is easiest.")


def hash_password(password: str) -> str:
    """The Argon2id hash to store."""
    check_strength(password)
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored hash (an empty hash matches nothing, in the same time)."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash was made with older parameters (re-hashed at the next sign-in)."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return False
