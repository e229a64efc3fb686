"""API tokens: created once, shown once, stored only as a hash.

A token is ``phm_`` + 43 URL-safe characters (256 random bits). Only its
SHA-256 is stored: with that much entropy a plain hash cannot be reversed or
guessed, and a lookup by hash (a unique index) does not leak timing about
other tokens, unlike comparing secrets one by one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from pheme.core.runs import utc_now
from pheme.core.server import Role, TokenRecord
from pheme.errors import UsageError

__all__ = ["TOKEN_PREFIX", "authenticate", "create_token", "hash_token"]

TOKEN_PREFIX = "phm_"
_SHAPE = re.compile(r"^phm_[A-Za-z0-9_-]{43}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(server_store: Any, role: Role, name: str | None = None) -> tuple[TokenRecord, str]:
    """A new token for ``role``; returns its record and the token itself (shown once)."""
    name = (name or f"{role.label}-{secrets.token_hex(3)}").strip()
    if not _NAME.match(name):
        raise UsageError("--name: use letters, digits and _ . @ - (up to 100 characters)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = server_store.add_token(name, role, hash_token(token))
    return record, token


def authenticate(server_store: Any, token: str, *, touch: bool = False) -> TokenRecord | None:
    """The live token record for ``token``, or None (malformed, unknown or revoked)."""
    if not _SHAPE.match(token):
        return None
    record: TokenRecord | None = server_store.token_by_hash(hash_token(token))
    if record is not None and touch:
        server_store.touch_token(record.id, utc_now())
    return record
