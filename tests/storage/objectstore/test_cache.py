"""CacheStore behaves like actions/cache where a workflow can see it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pheme.errors import StorageError
from pheme.storage.objectstore.cache import CacheStore, cache_version
from pheme.storage.objectstore.memory import MemoryObjectStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def cache() -> CacheStore:
    return CacheStore(MemoryObjectStore(), clock=Clock())


def make_ws(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_saved_cache_is_restored_exactly_into_a_fresh_workspace(cache: CacheStore, tmp_path: Path) -> None:
    ws1 = make_ws(tmp_path / "ws1", {"node_modules/a/index.js": "A", "node_modules/.bin/x": "X", "keep.txt": "k"})
    entry = cache.save("deps-abc", "node_modules", base_dir=ws1)
    assert entry is not None and entry.files == 2
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    hit = cache.restore("deps-abc", [], "node_modules", base_dir=ws2)
    assert hit is not None and hit.exact
    assert (ws2 / "node_modules/a/index.js").read_text() == "A"
    assert (ws2 / "node_modules/.bin/x").read_text() == "X"
    assert not (ws2 / "keep.txt").exists()


def test_restore_keys_prefix_match_newest_first_and_no_exact_hit(cache: CacheStore, tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", {"out/f": "old"})
    cache.save("npm-linux-111", "out", base_dir=ws)
    (ws / "out/f").write_text("new")
    cache.save("npm-linux-222", "out", base_dir=ws)
    (ws / "out/f").write_text("other")
    cache.save("npm-mac-333", "out", base_dir=ws)
    (ws / "out/f").unlink()
    hit = cache.restore("npm-linux-999", ["npm-windows-", "npm-linux-", "npm-"], "out", base_dir=ws)
    assert hit is not None and not hit.exact
    assert hit.entry.key == "npm-linux-222"
    assert (ws / "out/f").read_text() == "new"
    assert cache.restore("yarn-", ["yarn"], "out", base_dir=ws) is None


def test_primary_key_also_matches_as_prefix(cache: CacheStore, tmp_path: Path) -> None:
    ws = make_ws(tmp_path, {"d/f": "x"})
    cache.save("build-1234", "d", base_dir=ws)
    hit = cache.restore("build-", [], "d", base_dir=ws)
    assert hit is not None and hit.entry.key == "build-1234" and not hit.exact


def test_version_depends_on_paths(cache: CacheStore, tmp_path: Path) -> None:
    ws = make_ws(tmp_path, {"a/f": "1", "b/f": "2"})
    cache.save("k", "a", base_dir=ws)
    assert cache.restore("k", [], "b", base_dir=ws) is None
    assert cache_version(["a"]) != cache_version(["b"])
    assert cache_version(["a", "# comment"]) == cache_version(["a"])


def test_entries_are_immutable(cache: CacheStore, tmp_path: Path) -> None:
    ws = make_ws(tmp_path, {"d/f": "first"})
    assert cache.save("k", "d", base_dir=ws) is not None
    (ws / "d/f").write_text("second")
    assert cache.save("k", "d", base_dir=ws) is None
    cache.restore("k", [], "d", base_dir=ws)
    assert (ws / "d/f").read_text() == "first"


def test_scopes_are_searched_in_order(cache: CacheStore, tmp_path: Path) -> None:
    ws = make_ws(tmp_path, {"d/f": "main"})
    cache.save("k", "d", base_dir=ws, scope="refs/heads/main")
    (ws / "d/f").write_text("feature")
    cache.save("k", "d", base_dir=ws, scope="refs/heads/feature")
    hit = cache.restore("k", [], "d", base_dir=ws, scopes=["refs/heads/other", "refs/heads/main"])
    assert hit is not None and (ws / "d/f").read_text() == "main"
    assert cache.restore("k", [], "d", base_dir=ws, scopes=["refs/heads/other"]) is None


def test_least_recently_used_entries_are_evicted_over_the_limit(tmp_path: Path) -> None:
    store = MemoryObjectStore()
    ws = make_ws(tmp_path, {})
    sizes = {}
    for name in ("a", "b", "c"):
        (ws / name).mkdir()
        (ws / name / "blob").write_bytes(os.urandom(20_000))
    probe = CacheStore(MemoryObjectStore())
    for name in ("a", "b", "c"):
        e = probe.save(name, name, base_dir=ws)
        assert e is not None
        sizes[name] = e.size
    limit = sizes["a"] + sizes["b"] + sizes["c"] - 1
    cache = CacheStore(store, limit_bytes=limit, clock=Clock())
    cache.save("a", "a", base_dir=ws)
    cache.save("b", "b", base_dir=ws)
    assert cache.restore("a", [], "a", base_dir=ws) is not None  # a is now fresher than b
    cache.save("c", "c", base_dir=ws)
    assert sorted(e.key for e in cache.entries()) == ["a", "c"]
    assert cache.total_size() <= limit
    assert len(list(store.list("cache/blobs/"))) == 2


def test_stale_entries_expire(tmp_path: Path) -> None:
    clock = Clock()
    cache = CacheStore(MemoryObjectStore(), clock=clock, max_age_days=7)
    ws = make_ws(tmp_path, {"d/f": "x"})
    cache.save("old", "d", base_dir=ws)
    clock.now += 8 * 86400
    assert [e.key for e in cache.evict()] == ["old"]
    assert cache.entries() == []


def test_key_validation_and_missing_paths(cache: CacheStore, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="commas"):
        cache.save("a,b", "d", base_dir=tmp_path)
    with pytest.raises(StorageError, match="512"):
        cache.save("k" * 513, "d", base_dir=tmp_path)
    with pytest.raises(StorageError, match="do\\(es\\) not exist"):
        cache.save("k", "nothing", base_dir=tmp_path)


def test_paths_outside_the_workspace_and_single_files(cache: CacheStore, tmp_path: Path) -> None:
    home = make_ws(tmp_path / "home", {".npm/_cacache/x": "cached", "single.lock": "L"})
    ws = make_ws(tmp_path / "ws", {})
    paths = f"{home}/.npm\n../home/single.lock"
    assert cache.save("k", paths, base_dir=ws) is not None
    (home / ".npm/_cacache/x").unlink()
    (home / "single.lock").unlink()
    assert cache.restore("k", [], paths, base_dir=ws) is not None
    assert (home / ".npm/_cacache/x").read_text() == "cached"
    assert (home / "single.lock").read_text() == "L"
