"""Both ObjectStore implementations keep the same promises."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from pheme.errors import StorageError
from pheme.storage.objectstore import ObjectNotFound, ObjectStore
from pheme.storage.objectstore.local import LocalObjectStore
from pheme.storage.objectstore.memory import MemoryObjectStore


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    return MemoryObjectStore()


def test_put_get_round_trip_from_bytes_stream_and_path(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"from a file")
    assert store.put("a/bytes", b"hello") == 5
    assert store.put("a/stream", io.BytesIO(b"streamed")) == 8
    assert store.put("b/file", source) == 11
    with store.open("a/bytes") as f:
        assert f.read() == b"hello"
    stream = store.get("a/stream")
    assert stream.read() == b"streamed"
    stream.close()
    with store.open("b/file") as f:
        assert f.read() == b"from a file"
    assert store.size("b/file") == 11
    assert isinstance(store, ObjectStore)


def test_put_replaces_and_list_is_sorted_by_prefix(store: ObjectStore) -> None:
    store.put("runs/2/x", b"1")
    store.put("runs/1/y", b"2")
    store.put("runs/1/x", b"3")
    store.put("other", b"4")
    store.put("runs/1/x", b"replaced")
    assert list(store.list("runs/")) == ["runs/1/x", "runs/1/y", "runs/2/x"]
    assert list(store.list("runs/1")) == ["runs/1/x", "runs/1/y"]
    assert list(store.list()) == ["other", "runs/1/x", "runs/1/y", "runs/2/x"]
    with store.open("runs/1/x") as f:
        assert f.read() == b"replaced"


def test_missing_objects(store: ObjectStore) -> None:
    assert not store.exists("nope")
    assert store.delete("nope") is False
    with pytest.raises(ObjectNotFound, match="nope"):
        store.get("nope")
    with pytest.raises(ObjectNotFound):
        store.size("nope")
    store.put("yes", b"")
    assert store.exists("yes") and store.delete("yes") and not store.exists("yes")


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a\\b", "C:/x", "a\nb", ".pheme-tmp/x"]
)
def test_unsafe_keys_are_refused_before_any_io(store: ObjectStore, key: str) -> None:
    with pytest.raises(StorageError):
        store.put(key, b"x")
    with pytest.raises(StorageError):
        store.exists(key)


def test_local_store_writes_only_inside_its_root_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put("deep/er/key", b"data")
    assert (tmp_path / "objects" / "deep" / "er" / "key").read_bytes() == b"data"
    assert list((tmp_path / "objects" / ".pheme-tmp").iterdir()) == []
    assert list(store.list()) == ["deep/er/key"]
    store.delete("deep/er/key")
    assert not (tmp_path / "objects" / "deep").exists()


def test_failed_stream_write_leaves_old_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put("k", b"old")

    class Broken(io.RawIOBase):
        calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            self.calls += 1
            if self.calls > 1:
                raise OSError("disk on fire")
            b[:3] = b"new"
            return 3

    with pytest.raises(StorageError):
        store.put("k", io.BufferedReader(Broken()))
    assert store.get("k").read() == b"old"
    assert list((tmp_path / ".pheme-tmp").iterdir()) == []


def test_lock_serialises_read_modify_write(store: ObjectStore) -> None:
    store.put("counter", b"0")

    def bump() -> None:
        for _ in range(25):
            with store.lock("counter"):
                with store.open("counter") as f:
                    value = int(f.read())
                store.put("counter", str(value + 1).encode())

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.open("counter") as f:
        assert int(f.read()) == 100
