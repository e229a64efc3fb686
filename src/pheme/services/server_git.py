"""The server's copy of each repository: a bare mirror it fetches into, reads
workflow files from, and checks commits out of.

Why a mirror even for a local SOURCE: the server must read the workflow files
*of the pushed commit* (not of whatever is checked out), keep working while
the source is being pushed to, and treat local paths and git URLs alike.
``git fetch`` into ``<server dir>/mirrors/<repo id>.git`` happens only when a
commit is not there yet, so a burst of webhooks for known commits costs no
git process at all: workflow files are cached per (repository, commit).

Checkouts are ``git worktree add --detach`` from the mirror (a ``.git`` is
there, as after actions/checkout), removed after the run.

Pull requests run on a merge commit, as on GitHub (``refs/pull/N/merge``): the
head merged into the base, made without a worktree (``git merge-tree
--write-tree`` then ``git commit-tree``, git >= 2.38) with a fixed author, date
and message, so the same head and base always give the same sha. A conflict
gives no commit (GitHub makes no merge ref then, and runs nothing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pheme.errors import ConfigError

__all__ = ["MERGE_AUTHOR", "WORKFLOWS_DIR", "MergeResult", "Mirror", "Mirrors"]

WORKFLOWS_DIR = ".github/workflows"
NULL_SHA = "0" * 40
_CACHE_SIZE = 256
_K = TypeVar("_K")
_V = TypeVar("_V")
MERGE_AUTHOR = ("Pheme", "pheme@noreply.invalid")  # author and committer of the merge commits it makes
_KEEP_REFS = "refs/pheme/merges"  # one per merge commit made: a re-run months later still finds its commit


@dataclass(frozen=True, slots=True)
class MergeResult:
    """A pull request's merge commit, or why there is none (``sha`` None).

    ``reason`` is short and stable (``merge conflict``, ``no common history``),
    fit for an API answer; ``conflicts`` lists the conflicting paths."""

    sha: str | None
    head: str
    base: str
    reason: str = ""
    conflicts: tuple[str, ...] = ()


def _git(
    args: list[str], *, git_dir: Path | None = None, input_: bytes | None = None, check: bool = True,
    env_extra: Mapping[str, str] | None = None,
) -> bytes:  # fmt: skip
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", **(env_extra or {})}
    env.pop("GIT_DIR", None)
    base = ["git", "-c", "core.hooksPath=/dev/null", "-c", "protocol.file.allow=always"]
    if git_dir is not None:
        base += ["--git-dir", str(git_dir)]
    try:
        proc = subprocess.run([*base, *args], capture_output=True, input=input_, env=env, check=False)
    except FileNotFoundError:
        raise ConfigError("git is not installed (the 'git' command was not found)") from None
    if check and proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"git {args[0]}: {lines[-1] if lines else f'exit code {proc.returncode}'}")
    return proc.stdout


class Mirror:
    """One repository's bare mirror. Thread-safe (one lock per mirror)."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source
        self._lock = threading.RLock()  # git commands that read or change the mirror
        self._cache_lock = threading.Lock()  # the caches below: held for microseconds
        self._workflows: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._changed: OrderedDict[tuple[str | None, str, bool], tuple[str, ...]] = OrderedDict()
        self._merges: OrderedDict[tuple[int, str, str], MergeResult] = OrderedDict()

    def _ensure_init(self) -> None:
        if not (self.path / "HEAD").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _git(["init", "--quiet", "--bare", str(self.path)])

    def fetch(self) -> None:
        with self._lock:
            self._ensure_init()
            _git(
                ["fetch", "--quiet", "--force", "--prune", "--no-tags", self.source,
                 "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", "+refs/pull/*/head:refs/pull/*/head"],
                git_dir=self.path,
            )  # fmt: skip

    def _exists(self, sha: str) -> bool:
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True, check=False
        )
        return proc.returncode == 0

    def ensure(self, sha: str | None = None) -> None:
        """Fetch if the mirror is empty or lacks ``sha``."""
        with self._lock:
            if sha is None or not (self.path / "HEAD").exists() or not self._exists(sha):
                self.fetch()
            if sha is not None and not self._exists(sha):
                raise ConfigError(f"commit {sha[:12]} is not in {self.source}")

    def resolve(self, ref: str) -> str:
        """A commit sha for a branch, tag, full ref or sha (fetching first)."""
        self.ensure()
        candidates = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}", ref]
        for candidate in candidates:
            out = _git(["rev-parse", "--verify", "-q", f"{candidate}^{{commit}}"], git_dir=self.path, check=False)
            if out.strip():
                return out.decode().strip()
        raise ConfigError(f"unknown ref {ref!r} in {self.source}")

    def workflow_files(self, sha: str) -> dict[str, str]:
        """``{".github/workflows/x.yml": text}`` of commit ``sha`` (cached).

        A cache hit takes only the short cache lock, never the mirror's git
        lock: a checkout (``git worktree add``, tens of ms) for a running job
        must not hold up every webhook for an already known commit."""
        cached = self._cached(self._workflows, sha)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cached(self._workflows, sha)
            if cached is not None:
                return cached
            self.ensure(sha)
            listing = _git(["ls-tree", "-z", f"{sha}:{WORKFLOWS_DIR}"], git_dir=self.path, check=False)
            files: dict[str, str] = {}
            wanted: list[tuple[str, str]] = []
            for entry in listing.split(b"\0"):
                if not entry:
                    continue
                meta, _, name = entry.partition(b"\t")
                kind_obj = meta.split()
                name_s = name.decode("utf-8", "replace")
                if len(kind_obj) == 3 and kind_obj[1] == b"blob" and name_s.endswith((".yml", ".yaml")):
                    wanted.append((f"{WORKFLOWS_DIR}/{name_s}", kind_obj[2].decode()))
            if wanted:
                out = _git(["cat-file", "--batch"], git_dir=self.path, input_="".join(f"{o}\n" for _, o in wanted).encode())
                pos = 0
                for path, _obj in wanted:
                    header_end = out.index(b"\n", pos)
                    size = int(out[pos:header_end].split()[2])
                    body = out[header_end + 1 : header_end + 1 + size]
                    pos = header_end + 1 + size + 1
                    files[path] = body.decode("utf-8", "replace")
            self._remember(self._workflows, sha, files)
            return files

    def _cached(self, cache: OrderedDict[_K, _V], key: _K) -> _V | None:
        with self._cache_lock:
            value = cache.get(key)
            if value is not None:
                cache.move_to_end(key)
            return value

    def _remember(self, cache: OrderedDict[_K, _V], key: _K, value: _V) -> None:
        with self._cache_lock:
            cache[key] = value
            if len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)

    def changed_files(self, before: str | None, after: str, *, since_fork: bool = False) -> tuple[str, ...]:
        """Files changed by ``before..after`` (every file when there is no ``before``).

        ``since_fork``: ``before...after``, the changes of ``after`` since it left
        ``before`` (a pull request's files: base...head), not those made on the base since."""
        key = (before, after, since_fork)
        cached = self._cached(self._changed, key)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cached(self._changed, key)
            if cached is not None:
                return cached
            self.ensure(after)
            if before is None or before == NULL_SHA or not self._exists(before):
                out = _git(["ls-tree", "-r", "-z", "--name-only", after], git_dir=self.path)
            else:
                span = [f"{before}...{after}"] if since_fork else [before, after]
                out = _git(["diff", "--no-renames", "-z", "--name-only", *span], git_dir=self.path)
            result = tuple(p for p in out.decode("utf-8", "replace").split("\0") if p)
            self._remember(self._changed, key, result)
            return result

    def ensure_pull_head(self, sha: str, number: int) -> None:
        """Have a pull request's head commit, fetching if needed.

        A fork's commit is on none of the source's branches: GitHub serves it as
        ``refs/pull/N/head`` (fetched by name), and lets a reachable sha be
        fetched directly (the last resort)."""
        with self._lock:
            if (self.path / "HEAD").exists() and self._exists(sha):
                return
            self.fetch()
            for refspec in (f"+refs/pull/{number}/head:refs/pull/{number}/head", sha):
                if self._exists(sha):
                    return
                _git(["fetch", "--quiet", "--no-tags", self.source, refspec], git_dir=self.path, check=False)
            if not self._exists(sha):
                raise ConfigError(f"commit {sha[:12]} (head of pull request #{number}) is not in {self.source}")

    def branch_tip(self, branch: str) -> str | None:
        """The latest commit of ``branch`` in the source (fetched now), or None if it has no such branch."""
        with self._lock:
            self.fetch()
            out = _git(["rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}"], git_dir=self.path, check=False)
            return out.decode().strip() or None

    def merge_commit(self, number: int, head: str, base: str) -> MergeResult:
        """Pull request ``number``'s merge commit (``head`` merged into ``base``), as ``refs/pull/N/merge``.

        Deterministic: the parents are ``base`` then ``head``, the message
        ``Merge <head> into <base>`` (GitHub's), the author and committer
        :data:`MERGE_AUTHOR` and the date the later of the two parents' commit
        dates. Cached: a repeated webhook costs no git process."""
        key = (number, head, base)
        cached = self._cached(self._merges, key)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cached(self._merges, key)
            if cached is not None:
                return cached
            self.ensure_pull_head(head, number)
            self.ensure(base)
            result = self._merge(number, head, base)
            self._remember(self._merges, key, result)
            return result

    def _merge(self, number: int, head: str, base: str) -> MergeResult:
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "--git-dir", str(self.path),
             "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", base, head],
            capture_output=True, env={**os.environ, "LC_ALL": "C"}, check=False,
        )  # fmt: skip
        if proc.returncode not in (0, 1):
            error = proc.stderr.decode("utf-8", "replace").strip()
            if "unrelated histories" in error:
                return MergeResult(None, head, base, "no common history")
            last = error.splitlines()[-1] if error else f"exit code {proc.returncode}"
            raise ConfigError(f"git merge-tree: {last} (merging pull requests needs git 2.38 or newer)")
        fields = proc.stdout.decode("utf-8", "replace").split("\0")
        if proc.returncode == 1:
            conflicts = tuple(dict.fromkeys(f for f in fields[1:] if f))
            return MergeResult(None, head, base, "merge conflict", conflicts)
        tree = fields[0].strip()
        dates = _git(["log", "--no-walk", "--format=%ct", base, head], git_dir=self.path).split()
        when = f"@{max(int(d) for d in dates)} +0000"
        name, email = MERGE_AUTHOR
        identity = {
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": when,
        }  # fmt: skip
        message = f"Merge {head} into {base}"
        made = _git(["commit-tree", "--no-gpg-sign", tree, "-p", base, "-p", head, "-m", message],
                    git_dir=self.path, env_extra=identity)  # fmt: skip
        sha = made.decode().strip()
        refs = f"update refs/pull/{number}/merge {sha}\nupdate {_KEEP_REFS}/{sha} {sha}\n"
        _git(["update-ref", "--stdin"], git_dir=self.path, input_=refs.encode())
        return MergeResult(sha, head, base)

    def commit_info(self, sha: str) -> dict[str, str]:
        out = _git(["log", "-1", "--format=%H%x1f%s%x1f%an%x1f%ae%x1f%cI", sha], git_dir=self.path, check=False)
        parts = out.decode("utf-8", "replace").strip().split("\x1f")
        if len(parts) != 5:
            return {"id": sha}
        return {"id": parts[0], "message": parts[1], "author": parts[2], "email": parts[3], "timestamp": parts[4]}

    @contextlib.contextmanager
    def checkout(self, sha: str, parent: Path, name: str) -> Iterator[Path]:
        """A detached worktree of ``sha`` under ``parent``, removed afterwards."""
        self.ensure(sha)
        parent.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="ws-", dir=parent))
        workspace = base / name
        with self._lock:
            try:
                _git(["worktree", "add", "--quiet", "--detach", str(workspace), sha], git_dir=self.path)
            except BaseException:
                shutil.rmtree(base, ignore_errors=True)
                raise
        try:
            yield workspace
        finally:
            with self._lock:
                _git(["worktree", "remove", "--force", "--force", str(workspace)], git_dir=self.path, check=False)
                shutil.rmtree(base, ignore_errors=True)
                _git(["worktree", "prune"], git_dir=self.path, check=False)


class Mirrors:
    """Mirrors by repository id, under ``<server dir>/mirrors``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._mirrors: dict[int, Mirror] = {}
        self._lock = threading.Lock()

    def get(self, repo_id: int, source: str) -> Mirror:
        with self._lock:
            mirror = self._mirrors.get(repo_id)
            if mirror is None or mirror.source != source:
                mirror = Mirror(self.base / "mirrors" / f"{repo_id}.git", source)
                self._mirrors[repo_id] = mirror
            return mirror
