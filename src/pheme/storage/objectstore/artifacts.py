"""Run artifacts with ``actions/upload-artifact`` v4 semantics, kept in an ObjectStore.

Each artifact is one zip object under ``artifacts/<run>/``; the run's
``index.json`` records name, size, file count, digest, creation time and
retention. Names follow upload-artifact's rules; names are unique within a
run unless ``overwrite`` is set (v4 made artifacts immutable otherwise).

Files are selected with the same glob rules as the action and stored
relative to the least common ancestor of the patterns' search roots (a
single file is stored by its bare name). Anything that resolves outside the
workspace — a ``../`` path, an absolute path elsewhere, a symlink pointing
out — is refused, so an artifact can never carry files the job did not own.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pheme.errors import StorageError

from ._base import ObjectStore
from ._index import JsonIndex
from .archive import extract_zip, write_zip
from .files import collect_files, least_common_ancestor, parse_patterns

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "ArtifactRecord",
    "ArtifactStore",
    "UploadResult",
    "validate_artifact_name",
]

DEFAULT_RETENTION_DAYS = 90
_INVALID = {
    '"': 'Double quote "',
    ":": "Colon :",
    "<": "Less than <",
    ">": "Greater than >",
    "|": "Vertical bar |",
    "*": "Asterisk *",
    "?": "Question mark ?",
    "\r": "Carriage return \\r",
    "\n": "Line feed \\n",
    "\\": "Backslash \\",
    "/": "Forward slash /",
}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

IfNoFiles = Literal["warn", "error", "ignore"]


def validate_artifact_name(name: str) -> str:
    """upload-artifact v4's name check, as one line."""
    if not name:
        raise StorageError("Provided artifact name input during validation is empty")
    for ch, label in _INVALID.items():
        if ch in name:
            raise StorageError(
                f"The artifact name is not valid: {name!r}. Contains the following character: {label}. "
                'Invalid characters include: Double quote ", Colon :, Less than <, Greater than >, '
                "Vertical bar |, Asterisk *, Question mark ?, Carriage return \\r, Line feed \\n, "
                "Backslash \\, Forward slash /"
            )
    return name


def _validate_run(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise StorageError(f"invalid run id for artifacts: {run_id!r}")
    return run_id


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    run_id: str
    name: str
    id: str
    object_key: str
    size: int  # bytes of the zip
    files: int
    digest: str  # sha256 of the zip
    created_at: float
    retention_days: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class UploadResult:
    """``record`` is None when nothing was uploaded (no files, with warn/ignore)."""

    record: ArtifactRecord | None
    warnings: list[str] = field(default_factory=list)
    root: Path | None = None


class ArtifactStore:
    def __init__(self, store: ObjectStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def _index(self, run_id: str) -> JsonIndex:
        return JsonIndex(self.store, f"artifacts/{_validate_run(run_id)}/index.json")

    def upload(
        self,
        run_id: str,
        name: str,
        paths: str | list[str],
        *,
        workspace: str | os.PathLike[str],
        if_no_files_found: IfNoFiles = "warn",
        retention_days: int | None = None,
        overwrite: bool = False,
        include_hidden: bool = False,
        compression_level: int = 6,
    ) -> UploadResult:
        validate_artifact_name(name)
        if if_no_files_found not in ("warn", "error", "ignore"):
            raise StorageError(
                f"Unrecognized if-no-files-found input. Provided: {if_no_files_found}. "
                "Available options: warn, error, ignore"
            )
        days = DEFAULT_RETENTION_DAYS if not retention_days else int(retention_days)
        if not 1 <= days <= DEFAULT_RETENTION_DAYS:
            raise StorageError(f"retention-days must be between 1 and {DEFAULT_RETENTION_DAYS}, got {days}")
        if not 0 <= compression_level <= 9:
            raise StorageError(f"compression-level must be between 0 and 9, got {compression_level}")
        ws = Path(workspace).resolve()
        patterns = parse_patterns(paths, ws)
        includes = [p for p in patterns if not p.negate]
        if not includes:
            raise StorageError("path input is empty: nothing to upload")
        for pat in includes:
            root = pat.search_root
            if root != ws and ws not in root.parents:
                raise StorageError(f"refusing path outside the workspace: {pat.source}")
        matches = collect_files(patterns, include_hidden=include_hidden, confine_to=ws)
        if not matches:
            message = f"No files were found with the provided path: {_one_line(paths)}. No artifacts will be uploaded."
            if if_no_files_found == "error":
                raise StorageError(message)
            return UploadResult(None, [message] if if_no_files_found == "warn" else [])
        roots = [p.search_root for p in includes]
        root = least_common_ancestor(roots)
        if root.is_file() or (len(matches) == 1 and matches[0].path == root):
            root = root.parent
        members = [(m.path.relative_to(root).as_posix(), m.path) for m in matches]

        index = self._index(run_id)
        existing = index.read().get("artifacts", {})
        if name in existing and not overwrite:
            raise StorageError(
                f"an artifact with the name {name!r} already exists in run {run_id} "
                "(set overwrite: true to replace it)"
            )
        object_key = f"artifacts/{run_id}/{uuid.uuid4().hex}.zip"
        digest = hashlib.sha256()
        with tempfile.TemporaryFile() as tmp:
            count = write_zip(tmp, members, level=compression_level)
            tmp.seek(0)
            for chunk in iter(lambda: tmp.read(1024 * 1024), b""):
                digest.update(chunk)
            tmp.seek(0)
            size = self.store.put(object_key, tmp)
        now = self.clock()
        record = ArtifactRecord(
            run_id=run_id,
            name=name,
            id=object_key.rsplit("/", 1)[-1].removesuffix(".zip"),
            object_key=object_key,
            size=size,
            files=count,
            digest=digest.hexdigest(),
            created_at=now,
            retention_days=days,
            expires_at=now + days * 86400,
        )
        old: dict[str, Any] | None = None
        with index.update() as data:
            table = data.setdefault("artifacts", {})
            if name in table and not overwrite:
                self.store.delete(object_key)
                raise StorageError(f"an artifact with the name {name!r} already exists in run {run_id}")
            old = table.get(name)
            table[name] = asdict(record)
        if old is not None:
            self.store.delete(old["object_key"])
        return UploadResult(record, [], root)

    def list(self, run_id: str) -> builtins.list[ArtifactRecord]:
        """The run's artifacts, oldest first (the order they were uploaded)."""
        table = self._index(run_id).read().get("artifacts", {})
        return sorted((ArtifactRecord(**v) for v in table.values()), key=lambda r: (r.created_at, r.name))

    def get(self, run_id: str, name: str) -> ArtifactRecord:
        table = self._index(run_id).read().get("artifacts", {})
        if name not in table:
            available = ", ".join(sorted(table)) or "none"
            raise StorageError(f"Artifact not found for name: {name} (run {run_id} has: {available})")
        return ArtifactRecord(**table[name])

    def download(self, run_id: str, name: str, dest: str | os.PathLike[str]) -> builtins.list[Path]:
        """Extract the artifact into ``dest``; returns the files written."""
        record = self.get(run_id, name)
        with self.store.open(record.object_key) as blob:
            return extract_zip(blob, Path(dest))

    def delete(self, run_id: str, name: str) -> bool:
        with self._index(run_id).update() as data:
            entry = data.setdefault("artifacts", {}).pop(name, None)
        if entry is None:
            return False
        self.store.delete(entry["object_key"])
        return True

    def runs(self) -> builtins.list[str]:
        """Run ids that have artifacts."""
        return sorted({k.split("/")[1] for k in self.store.list("artifacts/") if k.endswith("/index.json")})

    def expire(self) -> builtins.list[ArtifactRecord]:
        """Delete artifacts past their retention; returns what was removed."""
        now = self.clock()
        removed: builtins.list[ArtifactRecord] = []
        for run_id in self.runs():
            with self._index(run_id).update() as data:
                table = data.setdefault("artifacts", {})
                for key, value in list(table.items()):
                    if value["expires_at"] <= now:
                        removed.append(ArtifactRecord(**table.pop(key)))
        for record in removed:
            self.store.delete(record.object_key)
        return removed


def _one_line(paths: str | list[str]) -> str:
    lines = paths.splitlines() if isinstance(paths, str) else paths
    return ", ".join(line.strip() for line in lines if line.strip())
