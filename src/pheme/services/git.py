"""The few git facts a local run needs, read with the ``git`` command.

Why the command and not a library: the user's own ``git`` is what they trust to
describe their repository (config, worktrees, safe.directory, ...), and a handful
of ``git`` calls per run costs a few milliseconds each.

Every failure becomes one clear :class:`~pheme.errors.PhemeError` line: "not a
git repository", "git is not installed", "unknown revision X".
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pheme.errors import ConfigError, UsageError

__all__ = [
    "NULL_SHA",
    "CommitInfo",
    "GitRepo",
    "checkout_tree",
    "full_name_from_url",
    "open_repo",
]

NULL_SHA = "0" * 40

# Keep the user's config, but never run their hooks or pagers from our calls.
_GIT_BASE = ("git", "-c", "core.hooksPath=/dev/null", "-c", "core.pager=cat", "-c", "advice.detachedHead=false")


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """What GitHub's ``head_commit`` object carries."""

    sha: str
    tree: str
    message: str
    timestamp: str  # ISO 8601 with offset, like GitHub's
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str


def _run(args: Sequence[str], cwd: Path | str, *, check: bool = True, input_: bytes | None = None) -> str:
    env = dict(os.environ)
    env.setdefault("LC_ALL", "C")
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        proc = subprocess.run(
            [*_GIT_BASE, *args],
            cwd=cwd,
            capture_output=True,
            input=input_,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError("git is not installed (the 'git' command was not found)") from None
    if check and proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _GitFailed(detail[-1] if detail else f"git {args[0]} failed with exit code {proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


class _GitFailed(ConfigError):
    pass


@dataclass(frozen=True, slots=True)
class GitRepo:
    """A repository's top-level directory, with the queries a run needs."""

    root: Path

    def head_sha(self) -> str:
        try:
            return _run(["rev-parse", "--verify", "-q", "HEAD^{commit}"], self.root).strip()
        except _GitFailed:
            raise ConfigError(f"the git repository {self.root} has no commit yet (commit first, or use --working-tree)") from None

    def has_head(self) -> bool:
        return _run(["rev-parse", "--verify", "-q", "HEAD^{commit}"], self.root, check=False).strip() != ""

    def current_branch(self) -> str | None:
        """The checked-out branch's short name, or None when HEAD is detached."""
        out = _run(["symbolic-ref", "-q", "--short", "HEAD"], self.root, check=False).strip()
        return out or None

    def resolve(self, rev: str) -> str:
        """A full commit SHA for ``rev`` (sha prefix, branch, tag...). UsageError when unknown."""
        out = _run(["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], self.root, check=False).strip()
        if not out:
            raise UsageError(f"unknown git revision: {rev}")
        return out

    def parent(self, sha: str) -> str | None:
        out = _run(["rev-parse", "--verify", "-q", f"{sha}^1"], self.root, check=False).strip()
        return out or None

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two revisions, or None (unknown revision, unrelated)."""
        out = _run(["merge-base", a, b], self.root, check=False).strip()
        return out or None

    def changed_files(self, before: str | None, after: str) -> tuple[str, ...]:
        """Files changed between two commits (``git diff --name-only``).

        Without a ``before`` (first commit, or all zeros) every file of ``after``
        counts as changed, as on GitHub for a new branch's first push.
        """
        if before is None or before == NULL_SHA:
            out = _run(["ls-tree", "-r", "-z", "--name-only", after], self.root)
        else:
            out = _run(["diff", "--no-renames", "-z", "--name-only", before, after], self.root)
        return tuple(p for p in out.split("\0") if p)

    def changed_files_worktree(self, before: str | None) -> tuple[str, ...]:
        """Files that differ between ``before`` and the working tree (for ``--working-tree``),
        including untracked files that are not ignored."""
        names: set[str] = set()
        if before is None or before == NULL_SHA:
            names.update(p for p in _run(["ls-files", "-z"], self.root).split("\0") if p)
        else:
            names.update(p for p in _run(["diff", "--no-renames", "-z", "--name-only", before], self.root).split("\0") if p)
        names.update(
            p for p in _run(["ls-files", "-z", "--others", "--exclude-standard"], self.root).split("\0") if p
        )
        return tuple(sorted(names))

    def commit(self, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%aI%x00%an%x00%ae%x00%cn%x00%ce%x00%B"
        out = _run(["show", "-s", f"--format={fmt}", sha], self.root)
        parts = out.split("\0", 7)
        if len(parts) < 8:
            raise ConfigError(f"could not read commit {sha}")
        return CommitInfo(
            sha=parts[0],
            tree=parts[1],
            timestamp=parts[2],
            author_name=parts[3],
            author_email=parts[4],
            committer_name=parts[5],
            committer_email=parts[6],
            message=parts[7].rstrip("\n"),
        )

    def remote_url(self, name: str = "origin") -> str | None:
        out = _run(["config", "--get", f"remote.{name}.url"], self.root, check=False).strip()
        return out or None

    def default_branch(self) -> str | None:
        """``origin``'s default branch when known (refs/remotes/origin/HEAD)."""
        out = _run(["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"], self.root, check=False).strip()
        return out.split("/", 1)[1] if "/" in out else None

    def is_dirty(self) -> bool:
        return bool(_run(["status", "--porcelain", "--untracked-files=no"], self.root, check=False).strip())


def open_repo(path: Path | str) -> GitRepo:
    """The repository containing ``path``; ConfigError "not a git repository" otherwise."""
    where = Path(path)
    if not where.is_dir():
        raise UsageError(f"no such directory: {where}")
    try:
        top = _run(["rev-parse", "--show-toplevel"], where).strip()
    except _GitFailed as exc:
        if "not a git repository" in str(exc).lower():
            raise ConfigError(f"not a git repository: {where.resolve()} (run 'git init', or run pheme inside a repository)") from None
        raise
    if not top:
        raise ConfigError(f"not a git repository: {where.resolve()} (a bare repository has no files to run)")
    return GitRepo(Path(top))


_URL_PATTERNS = (
    re.compile(r"^[a-z+]+://(?:[^@/]+@)?[^/]+(?::\d+)?/(?P<path>.+?)(?:\.git)?/?$"),  # https://host/o/r.git, ssh://git@host:22/o/r
    re.compile(r"^(?:[^@/]+@)?[^:/]+:(?P<path>[^/].*?)(?:\.git)?/?$"),  # git@host:o/r.git
)


def full_name_from_url(url: str) -> str | None:
    """``owner/name`` from a remote URL, as GitHub's ``repository.full_name``.

    The last two path components win (``https://host/group/sub/repo`` gives
    ``sub/repo``). None for local paths and anything unrecognised.
    """
    url = url.strip()
    if url.startswith(("/", ".", "file:")):
        return None
    for pattern in _URL_PATTERNS:
        m = pattern.match(url)
        if m:
            parts = [p for p in m.group("path").split("/") if p]
            if len(parts) >= 2:
                return f"{parts[-2]}/{parts[-1]}"
            return None
    return None


@contextlib.contextmanager
def checkout_tree(repo: GitRepo, sha: str, parent: Path | None = None) -> Iterator[Path]:
    """A clean, detached worktree of commit ``sha`` that is removed afterwards.

    Why a worktree (``git worktree add --detach``) and not ``git archive | tar``:
    both take ~50-70 ms on a few hundred files, but the worktree has a ``.git``,
    so steps may run ``git rev-parse HEAD`` / ``git describe`` as they do after
    ``actions/checkout`` on GitHub. Hooks are disabled for the checkout.
    """
    base = Path(tempfile.mkdtemp(prefix="pheme-ws-", dir=str(parent) if parent else None))
    workspace = base / repo.root.name
    try:
        _run(["worktree", "add", "--quiet", "--detach", str(workspace), sha], repo.root)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield workspace
    finally:
        try:
            _run(["worktree", "remove", "--force", "--force", str(workspace)], repo.root)
        except ConfigError:
            # Removed by hand or half-created: drop the files, then git's record of them.
            shutil.rmtree(base, ignore_errors=True)
            _run(["worktree", "prune"], repo.root, check=False)
        shutil.rmtree(base, ignore_errors=True)
