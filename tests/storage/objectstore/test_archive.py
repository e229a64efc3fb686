"""Archives from jobs are hostile until proven otherwise."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from pheme.errors import StorageError
from pheme.storage.objectstore.archive import extract_tar, extract_zip, write_tar, write_zip


def _zip(entries: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/evil", "a\\..\\evil", "C:/evil"])
def test_zip_traversal_is_refused(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(StorageError):
        extract_zip(_zip({name: b"x"}), dest)
    assert not (tmp_path / "evil").exists()


def test_zip_round_trip_keeps_bytes_and_exec_bit(tmp_path: Path) -> None:
    src = tmp_path / "run.sh"
    src.write_bytes(b"#!/bin/sh\necho hi\n" * 100)
    src.chmod(0o755)
    buf = io.BytesIO()
    assert write_zip(buf, [("bin/run.sh", src)]) == 1
    buf.seek(0)
    [out] = extract_zip(buf, tmp_path / "out")
    assert out.read_bytes() == src.read_bytes()
    assert os.access(out, os.X_OK)


def test_corrupt_zip_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="corrupt"):
        extract_zip(io.BytesIO(b"not a zip"), tmp_path)


def _tar(add: list[tarfile.TarInfo], data: bytes = b"x") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info in add:
            if info.isfile():
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    buf.seek(0)
    return buf


def test_tar_refuses_escaping_links_and_devices(tmp_path: Path) -> None:
    root = tmp_path / "root"

    def dest(name: str) -> tuple[Path, str]:
        return root, name

    link = tarfile.TarInfo("link")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../etc/passwd"
    with pytest.raises(StorageError, match="symlink"):
        extract_tar(_tar([link]), dest)
    dev = tarfile.TarInfo("dev")
    dev.type = tarfile.CHRTYPE
    with pytest.raises(StorageError, match="not a file"):
        extract_tar(_tar([dev]), dest)
    up = tarfile.TarInfo("../up")
    with pytest.raises(StorageError, match="leaves"):
        extract_tar(_tar([up]), dest)


def test_tar_refuses_writing_through_a_planted_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    link = tarfile.TarInfo("d")
    link.type = tarfile.SYMTYPE
    link.linkname = "."  # harmless itself
    root.mkdir()
    os.symlink(outside, root / "planted")
    through = tarfile.TarInfo("planted/file")
    with pytest.raises(StorageError, match="symlink"):
        extract_tar(_tar([link, through]), lambda n: (root, n))
    assert not (outside / "file").exists()


def test_tar_keeps_relative_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "cli.js").write_text("console.log(1)")
    (src / ".bin").mkdir()
    os.symlink("../pkg/cli.js", src / ".bin" / "cli")
    buf = io.BytesIO()
    write_tar(buf, [("pkg/cli.js", src / "pkg" / "cli.js"), (".bin/cli", src / ".bin" / "cli")])
    buf.seek(0)
    out = tmp_path / "out"
    extract_tar(buf, lambda n: (out, n))
    assert os.readlink(out / ".bin" / "cli") == "../pkg/cli.js"
    assert (out / ".bin" / "cli").read_text() == "console.log(1)"
