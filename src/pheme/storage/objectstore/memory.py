"""An in-memory :class:`ObjectStore` for tests: same rules, no disk."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

from ._base import Data, ObjectNotFound, validate_key, validate_prefix

__all__ = ["MemoryObjectStore"]


class MemoryObjectStore:
    """Objects in a dict. Thread-safe; locks are per-name thread locks."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def put(self, key: str, data: Data) -> int:
        validate_key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            blob = bytes(data)
        elif isinstance(data, os.PathLike):
            with open(os.fspath(data), "rb") as f:
                blob = f.read()
        else:
            blob = data.read()
        with self._guard:
            self._objects[key] = blob
        return len(blob)

    def get(self, key: str) -> BinaryIO:
        validate_key(key)
        with self._guard:
            if key not in self._objects:
                raise ObjectNotFound(key)
            return io.BytesIO(self._objects[key])

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.get(key)

    def read_bytes(self, key: str) -> bytes:
        with self.get(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        validate_key(key)
        with self._guard:
            return key in self._objects

    def delete(self, key: str) -> bool:
        validate_key(key)
        with self._guard:
            return self._objects.pop(key, None) is not None

    def list(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        with self._guard:
            keys = sorted(k for k in self._objects if k.startswith(prefix))
        return iter(keys)

    def size(self, key: str) -> int:
        validate_key(key)
        with self._guard:
            if key not in self._objects:
                raise ObjectNotFound(key)
            return len(self._objects[key])

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        validate_key(name)
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            yield
