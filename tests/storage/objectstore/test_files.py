"""path: inputs select files the way @actions/glob does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pheme.errors import StorageError
from pheme.storage.objectstore.files import collect_files, least_common_ancestor, parse_patterns


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    for rel in [
        "dist/app.js",
        "dist/app.js.map",
        "dist/sub/deep.js",
        "src/main.ts",
        "README.md",
        ".env",
        "dist/.hidden/secret.txt",
        "node_modules/a/index.js",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    return tmp_path


def rels(ws: Path, text: str, **kw: object) -> list[str]:
    return [m.path.relative_to(ws).as_posix() for m in collect_files(parse_patterns(text, ws), **kw)]  # type: ignore[arg-type]


def test_directory_pattern_includes_its_subtree(ws: Path) -> None:
    assert rels(ws, "dist") == ["dist/.hidden/secret.txt", "dist/app.js", "dist/app.js.map", "dist/sub/deep.js"]


def test_single_star_stays_in_one_segment_double_star_crosses(ws: Path) -> None:
    assert rels(ws, "dist/*.js") == ["dist/app.js"]
    assert rels(ws, "dist/**/*.js") == ["dist/app.js", "dist/sub/deep.js"]
    assert rels(ws, "**/index.js") == ["node_modules/a/index.js"]
    assert rels(ws, "dist/app.js?map") == ["dist/app.js.map"]


def test_excludes_comments_and_hidden_files(ws: Path) -> None:
    text = """
    # build output
    dist
    !dist/**/*.map
    !dist/sub
    """
    assert rels(ws, text) == ["dist/.hidden/secret.txt", "dist/app.js"]
    assert rels(ws, text, include_hidden=False) == ["dist/app.js"]


def test_missing_paths_match_nothing(ws: Path) -> None:
    assert rels(ws, "nothing/here\nnope*") == []


def test_confinement_refuses_escapes(ws: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "leak.txt").write_text("secret")
    os.symlink(outside / "leak.txt", ws / "dist" / "link.txt")
    with pytest.raises(StorageError, match="symlink outside the workspace"):
        collect_files(parse_patterns("dist", ws), confine_to=ws)
    # Unconfined (caches may hold ~/.npm) the link is followed.
    assert "dist/link.txt" in rels(ws, "dist")


def test_least_common_ancestor(ws: Path) -> None:
    roots = [p.search_root for p in parse_patterns("dist/sub/*.js\ndist/app.js", ws)]
    assert least_common_ancestor(roots) == ws / "dist"
