"""A small JSON document kept as an object next to the objects it describes.

Why not SQL: cache and artifact metadata is tiny, must travel with the blobs
(copy ``objects/`` and you have everything), and must be updated by several
jobs at once. Updates are read-modify-write under the store's named lock and
land with the store's atomic ``put``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from pheme.errors import StorageError

from ._base import ObjectNotFound, ObjectStore

__all__ = ["JsonIndex"]


class JsonIndex:
    def __init__(self, store: ObjectStore, key: str) -> None:
        self.store = store
        self.key = key

    def read(self) -> dict[str, Any]:
        try:
            with self.store.open(self.key) as f:
                raw = f.read()
        except ObjectNotFound:
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StorageError(f"index {self.key} is corrupt: {exc}") from None
        if not isinstance(data, dict):
            raise StorageError(f"index {self.key} is corrupt: not a JSON object")
        return data

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """``with index.update() as data:`` mutate ``data``; it is saved on success."""
        with self.store.lock(self.key):
            data = self.read()
            yield data
            self.store.put(self.key, json.dumps(data, sort_keys=True, indent=1).encode("utf-8"))
