"""ArtifactStore behaves like upload/download-artifact v4 where a workflow can see it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pheme.errors import StorageError
from pheme.storage.objectstore.artifacts import ArtifactStore, validate_artifact_name
from pheme.storage.objectstore.local import LocalObjectStore
from pheme.storage.objectstore.memory import MemoryObjectStore


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for rel, data in {
        "dist/app.js": b"console.log('app')",
        "dist/lib/util.js": os.urandom(5000),
        "dist/.cache/x": b"hidden",
        "coverage/lcov.info": b"TN:",
        "report.txt": b"report",
    }.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.mark.parametrize("bad", ['a"b', "a:b", "a<b", "a>b", "a|b", "a*b", "a?b", "a\rb", "a\nb", "a\\b", "a/b", ""])
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(StorageError):
        validate_artifact_name(bad)


def test_upload_then_download_gives_identical_bytes(ws: Path, tmp_path: Path) -> None:
    store = ArtifactStore(LocalObjectStore(tmp_path / "objects"))
    result = store.upload("run-1", "build", "dist", workspace=ws)
    assert result.record is not None and result.record.files == 2  # hidden files left out by default
    out = tmp_path / "out"
    store.download("run-1", "build", out)
    assert (out / "app.js").read_bytes() == (ws / "dist/app.js").read_bytes()
    assert (out / "lib/util.js").read_bytes() == (ws / "dist/lib/util.js").read_bytes()
    assert not (out / ".cache").exists()


def test_multiple_paths_are_stored_relative_to_their_common_ancestor(ws: Path, tmp_path: Path) -> None:
    store = ArtifactStore(MemoryObjectStore())
    store.upload("r", "mixed", "dist/app.js\ncoverage/", workspace=ws)
    store.download("r", "mixed", tmp_path / "o")
    assert sorted(p.relative_to(tmp_path / "o").as_posix() for p in (tmp_path / "o").rglob("*") if p.is_file()) == [
        "coverage/lcov.info",
        "dist/app.js",
    ]
    store.upload("r", "one", "report.txt", workspace=ws)
    store.download("r", "one", tmp_path / "o1")
    assert (tmp_path / "o1" / "report.txt").read_bytes() == b"report"


def test_if_no_files_found(ws: Path) -> None:
    store = ArtifactStore(MemoryObjectStore())
    warned = store.upload("r", "none", "missing/**", workspace=ws)
    assert warned.record is None and "No files were found" in warned.warnings[0]
    assert store.upload("r", "none", "missing", workspace=ws, if_no_files_found="ignore").warnings == []
    with pytest.raises(StorageError, match="No files were found"):
        store.upload("r", "none", "missing", workspace=ws, if_no_files_found="error")
    assert store.list("r") == []


def test_names_are_unique_unless_overwrite(ws: Path, tmp_path: Path) -> None:
    objects = MemoryObjectStore()
    store = ArtifactStore(objects)
    store.upload("r", "a", "report.txt", workspace=ws)
    with pytest.raises(StorageError, match="already exists"):
        store.upload("r", "a", "dist", workspace=ws)
    store.upload("r", "a", "dist/app.js", workspace=ws, overwrite=True)
    store.download("r", "a", tmp_path / "o")
    assert (tmp_path / "o" / "app.js").exists() and not (tmp_path / "o" / "report.txt").exists()
    assert len([k for k in objects.list("artifacts/r/") if k.endswith(".zip")]) == 1


def test_paths_and_symlinks_leaving_the_workspace_are_refused(ws: Path, tmp_path: Path) -> None:
    store = ArtifactStore(MemoryObjectStore())
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    with pytest.raises(StorageError, match="outside the workspace"):
        store.upload("r", "a", "../secret.txt", workspace=ws)
    with pytest.raises(StorageError, match="outside the workspace"):
        store.upload("r", "a", str(secret), workspace=ws)
    os.symlink(secret, ws / "dist" / "innocent.txt")
    with pytest.raises(StorageError, match="symlink outside the workspace"):
        store.upload("r", "a", "dist", workspace=ws)


def test_retention_is_recorded_and_expiry_removes(ws: Path) -> None:
    now = [1000.0]
    store = ArtifactStore(MemoryObjectStore(), clock=lambda: now[0])
    rec = store.upload("r", "short", "report.txt", workspace=ws, retention_days=1).record
    assert rec is not None and rec.retention_days == 1 and rec.expires_at == 1000 + 86400
    store.upload("r", "long", "report.txt", workspace=ws)
    assert store.get("r", "long").retention_days == 90
    with pytest.raises(StorageError, match="retention-days"):
        store.upload("r", "x", "report.txt", workspace=ws, retention_days=91)
    now[0] += 2 * 86400
    assert [r.name for r in store.expire()] == ["short"]
    assert [r.name for r in store.list("r")] == ["long"]
    assert store.runs() == ["r"]


def test_download_of_unknown_name_lists_what_exists(ws: Path, tmp_path: Path) -> None:
    store = ArtifactStore(MemoryObjectStore())
    store.upload("r", "build", "dist", workspace=ws)
    with pytest.raises(StorageError, match=r"Artifact not found for name: nope .*build"):
        store.download("r", "nope", tmp_path)
