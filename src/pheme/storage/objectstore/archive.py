"""Tar and zip archives of workspace files, and their *safe* extraction.

An archive comes from a job, and a job runs arbitrary code, so extraction
treats every member name as hostile: absolute names, ``..`` segments,
backslashes, drive letters, device files and links that point outside the
destination are refused with :class:`StorageError` before anything is
written for that member.

Tar (gzip) is used for caches — it keeps modes and the relative symlinks
that ``node_modules/.bin`` is made of. Zip is used for artifacts, as
``actions/upload-artifact`` v4 does (downloads are zips on GitHub too).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pheme.errors import StorageError

__all__ = [
    "extract_tar",
    "extract_zip",
    "safe_member_path",
    "write_tar",
    "write_zip",
]


def _check_name(name: str) -> PurePosixPath:
    if not name or "\\" in name or "\x00" in name:
        raise StorageError(f"unsafe archive member name: {name!r}")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise StorageError(f"archive member has an absolute path: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise StorageError(f"archive member leaves the destination: {name!r}")
    return PurePosixPath(*parts)


def safe_member_path(dest: Path, name: str) -> Path:
    """``dest/name`` after checking that ``name`` cannot escape ``dest``."""
    rel = _check_name(name)
    target = dest.joinpath(*rel.parts)
    dest_real = Path(os.path.realpath(dest))
    # A symlinked directory inside dest (planted by an earlier member) must not lead out.
    real_parent = Path(os.path.realpath(target.parent))
    if real_parent != dest_real and dest_real not in real_parent.parents:
        raise StorageError(f"archive member leaves the destination through a symlink: {name!r}")
    return target


def write_zip(out: BinaryIO, members: Iterable[tuple[str, Path]], *, level: int = 6) -> int:
    """Write ``(archive name, file)`` pairs as a zip; returns the member count."""
    count = 0
    compression = zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", compression=compression, compresslevel=level or None) as zf:
        for name, path in members:
            _check_name(name)
            info = zipfile.ZipInfo.from_file(path, name)
            info.compress_type = compression
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            count += 1
    return count


def extract_zip(src: BinaryIO, dest: Path) -> list[Path]:
    """Extract a zip into ``dest`` (created if needed), refusing unsafe members."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        zf = zipfile.ZipFile(src)
    except zipfile.BadZipFile as exc:
        raise StorageError(f"corrupt zip archive: {exc}") from None
    with zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise StorageError(f"archive member is a symlink: {info.filename!r}")
            target = safe_member_path(dest, info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                target.unlink()
            with zf.open(info) as member, open(target, "wb") as out:
                shutil.copyfileobj(member, out, 1024 * 1024)
            if mode & 0o777:
                os.chmod(target, mode & 0o777)
            written.append(target)
    return written


def write_tar(out: BinaryIO, members: Iterable[tuple[str, Path]]) -> int:
    """Write ``(archive name, path)`` pairs as a gzip tar. Symlinks are kept as links."""
    count = 0
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, path in members:
            _check_name(name)
            tf.add(str(path), arcname=name, recursive=False)
            count += 1
    return count


def extract_tar(src: BinaryIO, dest_for: Callable[[str], tuple[Path, str]]) -> list[Path]:
    """Extract a gzip tar. ``dest_for(member name)`` gives ``(root, name in root)``.

    Regular files, directories and symlinks whose target stays inside the
    member's root are allowed; anything else is refused.
    """
    written: list[Path] = []
    try:
        with tarfile.open(fileobj=src, mode="r:*") as tf:
            for member in tf:
                _extract_member(tf, member, dest_for, written)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise StorageError(f"corrupt tar archive: {exc}") from None
    return written


def _extract_member(
    tf: tarfile.TarFile,
    member: tarfile.TarInfo,
    dest_for: Callable[[str], tuple[Path, str]],
    written: list[Path],
) -> None:
    root, rel_name = dest_for(member.name)
    root.mkdir(parents=True, exist_ok=True)
    target = safe_member_path(root, rel_name)
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()
    if member.issym():
        link = member.linkname
        if link.startswith("/"):
            raise StorageError(f"archive symlink points to an absolute path: {member.name!r}")
        resolved = os.path.normpath(os.path.join(os.path.dirname(rel_name), link))
        if resolved == ".." or resolved.startswith("../"):
            raise StorageError(f"archive symlink leaves the destination: {member.name!r}")
        os.symlink(link, target)
    elif member.isfile():
        extracted = tf.extractfile(member)
        if extracted is None:
            raise StorageError(f"cannot read archive member {member.name!r}")
        with extracted, open(target, "wb") as out:
            shutil.copyfileobj(extracted, out, 1024 * 1024)
        os.chmod(target, member.mode & 0o777)
        if member.mtime:
            os.utime(target, (member.mtime, member.mtime))
    else:
        raise StorageError(f"archive member is not a file, directory or symlink: {member.name!r}")
    written.append(target)
