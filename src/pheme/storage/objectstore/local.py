"""The object store on the local filesystem (``$PHEME_HOME/objects``).

Each object is a plain file at ``root/<key>``. A write goes to a temporary
file in ``root/.pheme-tmp`` (same filesystem), is fsynced and then renamed
over the destination, so readers — other jobs, other ``pheme`` processes —
never see a partial object. Locks are ``flock`` locks on files in
``root/.pheme-locks`` plus a per-process thread lock (``flock`` does not
exclude threads of one process that open the file separately).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from pheme.errors import StorageError

from ._base import Data, ObjectNotFound, validate_key, validate_prefix

__all__ = ["LocalObjectStore"]

_TMP = ".pheme-tmp"
_LOCKS = ".pheme-locks"
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(path: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(path, threading.Lock())


class LocalObjectStore:
    """Objects as files under ``root``. Safe for concurrent threads and processes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _ensure(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {path}: {exc.strerror}") from None

    def put(self, key: str, data: Data) -> int:
        dest = self._path(key)
        tmp_dir = self.root / _TMP
        self._ensure(tmp_dir)
        self._ensure(dest.parent)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    out.write(data)
                elif isinstance(data, os.PathLike):
                    with open(os.fspath(data), "rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)
                else:
                    shutil.copyfileobj(data, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
                size = out.tell()
            os.replace(tmp_name, dest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise StorageError(f"cannot write object {key}: {exc.strerror or exc}") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        return size

    def get(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read object {key}: {exc.strerror}") from None

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.get(key)

    def read_bytes(self, key: str) -> bytes:
        with self.get(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete object {key}: {exc.strerror}") from None
        # Tidy empty parent directories (never the root).
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        # Walk only the directory the prefix names, not the whole store.
        base_parts = prefix.split("/")[:-1]
        start = self.root.joinpath(*base_parts) if base_parts else self.root
        if not start.is_dir():
            return iter(())
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d not in (_TMP, _LOCKS)]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        validate_key(name)
        lock_dir = self.root / _LOCKS
        self._ensure(lock_dir)
        path = lock_dir / name.replace("/", "%")
        with _thread_lock(str(path)), open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
