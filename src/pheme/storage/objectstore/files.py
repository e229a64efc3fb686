"""Which files a ``path:`` input names, as ``@actions/glob`` reads it.

``actions/cache`` and ``actions/upload-artifact`` take a multi-line ``path``:
one pattern per line, ``#`` comments, ``!`` excludes, ``~`` for home,
relative patterns from the workspace. ``*`` / ``?`` / ``[...]`` match within
one path segment, ``**`` any number of segments. A pattern that names a
directory includes everything below it, and an exclude pattern removes a
matching directory's whole subtree.

The *search root* of a pattern is its longest wildcard-free prefix;
upload-artifact stores files relative to the least common ancestor of the
search roots, and the cache archives each root separately.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pheme.errors import StorageError

__all__ = ["FileMatch", "GlobPattern", "collect_files", "least_common_ancestor", "parse_patterns"]

_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class GlobPattern:
    source: str  # as written (without the !)
    negate: bool
    absolute: str  # normalised absolute pattern, posix
    search_root: Path

    def matches(self, path: str) -> bool:
        return _compile(self.absolute).fullmatch(path) is not None


@dataclass(frozen=True, slots=True)
class FileMatch:
    path: Path  # absolute path as found (may be a symlink)
    root: Path  # search root of the include pattern that found it


def _expand(pattern: str, base: Path) -> str:
    if pattern == "~" or pattern.startswith("~/"):
        pattern = str(Path.home()) + pattern[1:]
    path = pattern if pattern.startswith("/") else f"{base.as_posix().rstrip('/')}/{pattern}"
    # Normalise . and .. textually (before any wildcard).
    parts: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def parse_patterns(text: str | list[str], base: str | os.PathLike[str]) -> list[GlobPattern]:
    """Parse a multi-line ``path`` input (or a list of lines) relative to ``base``."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    base_path = Path(base).resolve()
    patterns: list[GlobPattern] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = False
        while line.startswith("!"):
            negate = not negate
            line = line[1:].strip()
        if not line:
            continue
        absolute = _expand(line, base_path)
        root_parts: list[str] = []
        for seg in absolute.split("/")[1:]:
            if _MAGIC.search(seg):
                break
            root_parts.append(seg)
        patterns.append(GlobPattern(line, negate, absolute, Path("/", *root_parts)))
    return patterns


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    segments = pattern.split("/")
    for i, seg in enumerate(segments):
        if i:
            out.append("/")
        if seg == "**":
            # Any number of segments (including none): swallow the slash around it.
            if i:
                out.pop()
            out.append("(?:/.*)?" if i else ".*")
            continue
        j = 0
        while j < len(seg):
            ch = seg[j]
            if ch == "*":
                out.append("[^/]*")
            elif ch == "?":
                out.append("[^/]")
            elif ch == "[":
                end = seg.find("]", j + 1)
                if end == -1:
                    out.append(re.escape(ch))
                else:
                    body = seg[j + 1 : end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out.append(f"[{body}]")
                    j = end
            else:
                out.append(re.escape(ch))
            j += 1
    return re.compile("".join(out))


def _excluded(path: str, excludes: list[GlobPattern]) -> bool:
    # An exclude matching the path or any of its ancestors removes it.
    probe = path
    while True:
        if any(p.matches(probe) for p in excludes):
            return True
        parent = probe.rsplit("/", 1)[0]
        if not parent or parent == probe:
            return False
        probe = parent


def _hidden(path: Path, root: Path) -> bool:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    return any(part.startswith(".") for part in rel.parts)


def collect_files(
    patterns: list[GlobPattern],
    *,
    include_hidden: bool = True,
    confine_to: str | os.PathLike[str] | None = None,
) -> list[FileMatch]:
    """Every regular file the patterns select, sorted, without duplicates.

    ``confine_to``: refuse (StorageError) any match — or symlink target —
    outside that directory, which is how artifacts stay inside the workspace.
    """
    includes = [p for p in patterns if not p.negate]
    excludes = [p for p in patterns if p.negate]
    confine = Path(confine_to).resolve() if confine_to is not None else None
    found: dict[str, FileMatch] = {}

    def check_confined(path: Path) -> None:
        if confine is None:
            return
        real = Path(os.path.realpath(path))
        if real != confine and confine not in real.parents:
            kind = "symlink" if path.is_symlink() else "path"
            raise StorageError(f"refusing {kind} outside the workspace: {path}")

    def add(path: Path, root: Path) -> None:
        text = path.as_posix()
        if text in found or _excluded(text, excludes):
            return
        if not include_hidden and _hidden(path, root):
            return
        check_confined(path)
        found[text] = FileMatch(path, root)

    for pat in includes:
        root = pat.search_root
        if not root.exists():
            if root.is_symlink():
                check_confined(root)
            continue
        if not root.is_dir():
            if pat.matches(root.as_posix()):
                add(root, root.parent)
            continue
        # Depth-first walk; a directory the pattern matches brings its whole subtree.
        stack: list[tuple[Path, bool]] = [(root, False)]
        visited: set[str] = set()
        while stack:
            directory, inherited = stack.pop()
            real = os.path.realpath(directory)
            if real in visited:  # symlink cycle
                continue
            visited.add(real)
            whole = inherited or pat.matches(directory.as_posix())
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in reversed(entries):
                path = Path(entry.path)
                try:
                    is_dir = entry.is_dir(follow_symlinks=True)
                    is_file = entry.is_file(follow_symlinks=True)
                except OSError:
                    continue
                if is_dir:
                    stack.append((path, whole))
                elif is_file and (whole or pat.matches(path.as_posix())):
                    add(path, root)
    return [found[k] for k in sorted(found)]


def least_common_ancestor(paths: list[Path]) -> Path:
    """The deepest directory containing all ``paths`` (upload-artifact's root)."""
    if not paths:
        raise ValueError("no paths")
    return Path(os.path.commonpath([p.as_posix() for p in paths]))
