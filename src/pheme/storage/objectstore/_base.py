"""The :class:`ObjectStore` port: named blobs, nothing else.

Caches and artifacts are blobs plus a little metadata. Blobs go through this
small interface so the local filesystem (``$PHEME_HOME/objects``) and an
in-memory fake for tests are interchangeable, and a later S3/MinIO backend
only has to implement seven methods.

Keys are ``/``-separated relative names (``cache/ab/cd…``). They are
validated before any I/O so a key can never name a file outside the store:
no absolute paths, no ``.``/``..`` segments, no empty segments, no
backslashes or control characters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from pheme.errors import ConfigError, StorageError

__all__ = ["Data", "ObjectNotFound", "ObjectStore", "default_objects_root", "pheme_home", "validate_key"]

# What put() accepts: bytes, a readable binary stream, or a path to a file.
Data = bytes | bytearray | memoryview | BinaryIO | os.PathLike[str]

_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


class ObjectNotFound(StorageError):
    """``get``/``open``/``size`` of a key that does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key}")
        self.key = key


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object name, else raise StorageError."""
    if not isinstance(key, str) or not key:
        raise StorageError("object key must be a non-empty string")
    if len(key) > 1024:
        raise StorageError("object key is longer than 1024 characters")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise StorageError(f"object key must be relative: {key!r}")
    if _BAD_CHARS.search(key):
        raise StorageError(f"object key contains a backslash or control character: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise StorageError(f"object key has an empty, '.' or '..' segment: {key!r}")
        if segment.startswith(".pheme-"):
            raise StorageError(f"object key segment is reserved: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string (may end with ``/``)."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "x")
    return prefix


@runtime_checkable
class ObjectStore(Protocol):
    """Blobs by key. Writes are atomic: a reader sees the old or the new object, never half."""

    def put(self, key: str, data: Data) -> int:
        """Store ``data`` under ``key`` (replacing any old object); return its size in bytes."""
        ...

    def get(self, key: str) -> BinaryIO:
        """A readable stream of the object; the caller closes it. Raises ObjectNotFound."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """``with store.open(key) as f:`` — like :meth:`get`, closed on exit."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Remove the object; False if it did not exist."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``, in sorted order."""
        ...

    def size(self, key: str) -> int:
        """Size in bytes. Raises ObjectNotFound."""
        ...

    def lock(self, name: str) -> AbstractContextManager[None]:
        """An exclusive lock named ``name`` (held across processes for stores that
        are shared between processes). Used for read-modify-write of indexes."""
        ...


def pheme_home() -> Path:
    """``$PHEME_HOME``, else ``~/.pheme``."""
    raw = os.environ.get("PHEME_HOME")
    if raw:
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        return path
    try:
        return Path.home() / ".pheme"
    except RuntimeError as exc:  # no HOME
        raise ConfigError("cannot find a home directory: set PHEME_HOME") from exc


def default_objects_root() -> Path:
    """Where the local object store keeps its files: ``$PHEME_HOME/objects``."""
    return pheme_home() / "objects"
