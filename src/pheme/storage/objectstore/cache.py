"""Dependency caches with ``actions/cache`` semantics, kept in an ObjectStore.

What a workflow can observe, and what we therefore mirror:

- an entry is identified by ``key`` + *version*; the version is a hash of the
  ``path`` input (and compression), so the same key with different paths is a
  different cache, as on GitHub;
- restore looks for an exact key match, then the newest entry whose key
  starts with the key, then, for each ``restore-keys`` line in order, the
  newest entry whose key starts with it; ``cache-hit`` is true only for an
  exact match of the primary key;
- entries are scoped (GitHub: by branch); restore searches the given scopes
  in order (current ref, then base/default);
- entries are immutable: saving an existing key+version is refused;
- the total size is kept under a limit by evicting the least recently
  *accessed* entries, and entries unused for ``max_age_days`` are dropped.

Archives are gzip tars; each member is ``<pattern index>/<name of the
pattern's search root>/<relative path>``, so restore writes every file under
the search root of the same pattern it was saved from — never elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pheme.errors import StorageError

from ._base import ObjectNotFound, ObjectStore
from ._index import JsonIndex
from .archive import extract_tar, write_tar
from .files import GlobPattern, collect_files, parse_patterns

__all__ = [
    "DEFAULT_CACHE_LIMIT",
    "CacheEntry",
    "CacheRestore",
    "CacheStore",
    "cache_version",
    "validate_cache_key",
]

DEFAULT_CACHE_LIMIT = 10 * 1024**3  # GitHub's per-repository default
_COMPRESSION = "gzip"


def validate_cache_key(key: str, *, what: str = "Key") -> str:
    """actions/cache's rules: at most 512 characters, no commas."""
    if not key:
        raise StorageError(f"{what} Validation Error: the key is empty")
    if len(key) > 512:
        raise StorageError(f"{what} Validation Error: {key[:40]}... cannot be larger than 512 characters.")
    if "," in key:
        raise StorageError(f"{what} Validation Error: {key} cannot contain commas.")
    return key


def cache_version(paths: Iterable[str], *, compression: str = _COMPRESSION) -> str:
    """Hash of the ``path`` lines (as written) and the compression method."""
    lines = [p.strip() for p in paths if p.strip() and not p.strip().startswith("#")]
    return hashlib.sha256("|".join([*lines, compression]).encode("utf-8")).hexdigest()


def _path_lines(paths: str | list[str]) -> list[str]:
    return paths.splitlines() if isinstance(paths, str) else list(paths)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    id: str
    key: str
    version: str
    scope: str
    object_key: str
    size: int
    files: int
    created_at: float
    last_accessed: float


@dataclass(frozen=True, slots=True)
class CacheRestore:
    """A successful restore: the entry used and whether it matched the key exactly."""

    entry: CacheEntry
    exact: bool
    files: int


class CacheStore:
    def __init__(
        self,
        store: ObjectStore,
        *,
        limit_bytes: int | None = None,
        max_age_days: float | None = 7,
        clock: Callable[[], float] = time.time,
        namespace: str = "cache",
    ) -> None:
        self.store = store
        if limit_bytes is None:
            raw = os.environ.get("PHEME_CACHE_LIMIT_MB")
            limit_bytes = int(float(raw) * 1024 * 1024) if raw else DEFAULT_CACHE_LIMIT
        self.limit_bytes = limit_bytes
        self.max_age_days = max_age_days
        self.clock = clock
        self.namespace = namespace
        self.index = JsonIndex(store, f"{namespace}/index.json")

    # --- queries ---------------------------------------------------------

    def entries(self) -> list[CacheEntry]:
        """All entries, newest first."""
        data = self.index.read().get("entries", {})
        items = [CacheEntry(**v) for v in data.values()]
        return sorted(items, key=lambda e: (e.created_at, e.id), reverse=True)

    def total_size(self) -> int:
        return sum(e.size for e in self.entries())

    def lookup(
        self,
        key: str,
        restore_keys: Iterable[str] = (),
        *,
        version: str,
        scopes: Iterable[str] = ("",),
    ) -> CacheEntry | None:
        """The entry restore would use, without touching it."""
        validate_cache_key(key)
        rks = [validate_cache_key(k.strip(), what="Restore key") for k in restore_keys if k.strip()]
        entries = [e for e in self.entries() if e.version == version]  # newest first
        for scope in scopes:
            in_scope = [e for e in entries if e.scope == scope]
            for e in in_scope:
                if e.key == key:
                    return e
            for prefix in (key, *rks):
                for e in in_scope:
                    if e.key.startswith(prefix):
                        return e
        return None

    # --- restore / save -------------------------------------------------

    def restore(
        self,
        key: str,
        restore_keys: Iterable[str],
        paths: str | list[str],
        *,
        base_dir: str | os.PathLike[str],
        scopes: Iterable[str] = ("",),
        lookup_only: bool = False,
    ) -> CacheRestore | None:
        """Find the best entry and extract it under the ``path`` patterns' roots."""
        lines = _path_lines(paths)
        version = cache_version(lines)
        entry = self.lookup(key, restore_keys, version=version, scopes=scopes)
        if entry is None:
            return None
        files = 0
        if not lookup_only:
            patterns = [p for p in parse_patterns(lines, base_dir) if not p.negate]
            try:
                with self.store.open(entry.object_key) as blob:
                    files = len(extract_tar(blob, lambda name: _destination(name, patterns)))
            except ObjectNotFound:
                self._forget(entry.id)
                return None
        now = self.clock()
        with self.index.update() as data:
            if entry.id in data.get("entries", {}):
                data["entries"][entry.id]["last_accessed"] = now
        return CacheRestore(entry, exact=entry.key == key, files=files)

    def save(
        self,
        key: str,
        paths: str | list[str],
        *,
        base_dir: str | os.PathLike[str],
        scope: str = "",
    ) -> CacheEntry | None:
        """Archive the files the patterns select. None if key+version already exists.

        Raises StorageError when no file matches (actions/cache: "Path
        Validation Error: Path(s) specified in the action for caching do(es)
        not exist, hence no cache is being saved.").
        """
        validate_cache_key(key)
        lines = _path_lines(paths)
        version = cache_version(lines)
        entry_id = hashlib.sha256(f"{scope}\0{key}\0{version}".encode()).hexdigest()[:32]
        if entry_id in self.index.read().get("entries", {}):
            return None
        patterns = parse_patterns(lines, base_dir)
        matches = collect_files(patterns, include_hidden=True)
        includes = [p for p in patterns if not p.negate]
        if not matches:
            raise StorageError(
                "Path Validation Error: Path(s) specified in the action for caching do(es) not exist, "
                "hence no cache is being saved."
            )
        members = list(_members(matches, includes))
        object_key = f"{self.namespace}/blobs/{entry_id}-{uuid.uuid4().hex[:8]}.tgz"
        with tempfile.TemporaryFile() as tmp:
            count = write_tar(tmp, members)
            tmp.seek(0)
            size = self.store.put(object_key, tmp)
        now = self.clock()
        entry = CacheEntry(entry_id, key, version, scope, object_key, size, count, now, now)
        with self.index.update() as data:
            table: dict[str, Any] = data.setdefault("entries", {})
            if entry_id in table:  # another job saved it first: entries are immutable
                self.store.delete(object_key)
                return None
            table[entry_id] = asdict(entry)
        self.evict()
        return entry

    # --- housekeeping ----------------------------------------------------

    def delete(self, key: str, *, scope: str | None = None) -> int:
        """Delete every entry with this key (in ``scope`` if given); returns how many."""
        removed: list[dict[str, Any]] = []
        with self.index.update() as data:
            table = data.setdefault("entries", {})
            for eid, e in list(table.items()):
                if e["key"] == key and (scope is None or e["scope"] == scope):
                    removed.append(table.pop(eid))
        for e in removed:
            self.store.delete(e["object_key"])
        return len(removed)

    def evict(self) -> list[CacheEntry]:
        """Drop stale entries, then least recently accessed ones until under the limit."""
        now = self.clock()
        evicted: list[CacheEntry] = []
        with self.index.update() as data:
            table = data.setdefault("entries", {})
            entries = sorted((CacheEntry(**v) for v in table.values()), key=lambda e: (e.last_accessed, e.created_at))
            total = sum(e.size for e in entries)
            for e in entries:
                stale = self.max_age_days is not None and now - e.last_accessed > self.max_age_days * 86400
                if stale or total > self.limit_bytes:
                    table.pop(e.id, None)
                    total -= e.size
                    evicted.append(e)
        for e in evicted:
            self.store.delete(e.object_key)
        return evicted

    def _forget(self, entry_id: str) -> None:
        with self.index.update() as data:
            data.get("entries", {}).pop(entry_id, None)


def _members(matches: list[Any], includes: list[GlobPattern]) -> Iterable[tuple[str, Path]]:
    """Archive names ``<i>/<root name>/<rel>`` for each match, by the first pattern whose root holds it."""
    for match in matches:
        path: Path = match.path
        for i, pat in enumerate(includes):
            root = pat.search_root
            if path == root or root in path.parents:
                rel = path.relative_to(root.parent).as_posix()
                yield f"{i}/{rel}", path
                break


def _destination(name: str, patterns: list[GlobPattern]) -> tuple[Path, str]:
    head, _, rest = name.partition("/")
    if not head.isdigit() or int(head) >= len(patterns) or not rest:
        raise StorageError(f"cache archive member does not belong to a cached path: {name!r}")
    root = patterns[int(head)].search_root
    first = rest.split("/", 1)[0]
    if first != root.name:
        raise StorageError(f"cache archive member does not belong to a cached path: {name!r}")
    return root.parent, rest
