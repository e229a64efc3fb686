"""The server's mirror: pull request merge commits (refs/pull/N/merge), fork heads, PR file lists,
against real repositories (a bare source and a working clone that pushes to it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pheme.errors import ConfigError
from pheme.services.server_git import MERGE_AUTHOR, Mirror

GIT_ID = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Project:
    """A bare ``source.git`` and a clone ``work`` whose commits are pushed to it."""

    def __init__(self, base: Path) -> None:
        self.source = base / "source.git"
        self.work = base / "work"
        git(base, "init", "-q", "--bare", "-b", "main", str(self.source))
        git(base, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.source))
        (self.work / "README").write_text("a project\n")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "initial")

    def commit(self, branch: str, files: dict[str, str], *, start: str | None = None, push: bool = True) -> str:
        """Commit ``files`` on ``branch`` (created from ``start`` when new) and push it."""
        if start is not None:
            git(self.work, "checkout", "-q", "-B", branch, start)
        elif git(self.work, "symbolic-ref", "--short", "HEAD") != branch:
            git(self.work, "checkout", "-q", branch)
        for rel, text in files.items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", f"change on {branch}")
        if push:
            git(self.work, "push", "-q", "--force", "origin", branch)
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def _mirror(tmp_path: Path, project: Project, name: str = "m") -> Mirror:
    return Mirror(tmp_path / "mirrors" / f"{name}.git", str(project.source))


def _in(mirror: Mirror, *args: str) -> str:
    return git(mirror.path, "--git-dir", str(mirror.path), *args)


def _branched(project: Project) -> tuple[str, str]:
    """main: app.txt; feature (from it) adds feature.txt; main then adds base.txt. Returns (base, head)."""
    fork = project.commit("main", {"app.txt": "one\n"})
    head = project.commit("feature", {"feature.txt": "from the feature\n"}, start=fork)
    base = project.commit("main", {"base.txt": "from main\n"})
    return base, head


def test_the_merge_commit_has_base_and_head_as_parents_and_both_sides_files(tmp_path: Path, project: Project) -> None:
    base, head = _branched(project)
    mirror = _mirror(tmp_path, project)
    merge = mirror.merge_commit(7, head, base)
    assert merge.sha is not None and (merge.reason, merge.conflicts) == ("", ())
    assert _in(mirror, "rev-parse", f"{merge.sha}^1", f"{merge.sha}^2").split() == [base, head]
    assert _in(mirror, "rev-parse", "refs/pull/7/merge") == merge.sha
    assert sorted(_in(mirror, "ls-tree", "--name-only", merge.sha).split()) == ["README", "app.txt", "base.txt", "feature.txt"]
    name, email = MERGE_AUTHOR
    assert _in(mirror, "log", "-1", "--format=%s|%an <%ae>|%cn <%ce>", merge.sha) == (
        f"Merge {head} into {base}|{name} <{email}>|{name} <{email}>"
    )
    assert set(mirror.workflow_files(merge.sha)) == set()  # the commit is readable like any other


def test_the_same_head_and_base_give_the_same_sha_in_any_mirror(tmp_path: Path, project: Project) -> None:
    base, head = _branched(project)
    first = _mirror(tmp_path, project, "a").merge_commit(7, head, base)
    second = _mirror(tmp_path, project, "b").merge_commit(7, head, base)
    assert first.sha is not None and first.sha == second.sha
    newer = project.commit("feature", {"feature.txt": "second try\n"})
    again = _mirror(tmp_path, project, "a").merge_commit(7, newer, base)
    assert again.sha not in (None, first.sha)


def test_a_superseded_merge_commit_is_kept_for_later_re_runs(tmp_path: Path, project: Project) -> None:
    base, head = _branched(project)
    mirror = _mirror(tmp_path, project)
    old = mirror.merge_commit(7, head, base).sha
    new = mirror.merge_commit(7, project.commit("feature", {"more.txt": "x\n"}), base).sha
    assert old is not None and new is not None
    assert _in(mirror, "rev-parse", "refs/pull/7/merge") == new
    _in(mirror, "gc", "--quiet", "--prune=now")
    assert _in(mirror, "cat-file", "-t", old) == "commit"


def test_a_conflict_makes_no_commit_and_names_the_files(tmp_path: Path, project: Project) -> None:
    fork = project.commit("main", {"app.txt": "one\n", "other.txt": "same\n"})
    head = project.commit("feature", {"app.txt": "feature's line\n"}, start=fork)
    base = project.commit("main", {"app.txt": "main's line\n"})
    mirror = _mirror(tmp_path, project)
    merge = mirror.merge_commit(7, head, base)
    assert (merge.sha, merge.reason, merge.conflicts) == (None, "merge conflict", ("app.txt",))
    assert subprocess.run(["git", "--git-dir", str(mirror.path), "rev-parse", "-q", "--verify", "refs/pull/7/merge"],
                          capture_output=True).returncode != 0  # fmt: skip


def test_unrelated_histories_are_refused_with_a_reason(tmp_path: Path, project: Project) -> None:
    base = project.commit("main", {"app.txt": "one\n"})
    git(project.work, "checkout", "-q", "--orphan", "other")
    git(project.work, "rm", "-q", "-rf", ".")
    head = project.commit("other", {"else.txt": "x\n"})
    merge = _mirror(tmp_path, project).merge_commit(3, head, base)
    assert (merge.sha, merge.reason) == (None, "no common history")


def test_a_fork_head_only_reachable_as_refs_pull_n_head_is_fetched(tmp_path: Path, project: Project) -> None:
    fork = project.commit("main", {"app.txt": "one\n"})
    head = project.commit("contrib", {"fork.txt": "from a fork\n"}, start=fork, push=False)
    git(project.work, "push", "-q", "origin", f"{head}:refs/pull/12/head")  # as GitHub shows a fork's PR
    mirror = _mirror(tmp_path, project)
    mirror.ensure()  # the mirror exists and knows main, but not yet the pull request
    merge = mirror.merge_commit(12, head, fork)
    assert merge.sha is not None
    assert _in(mirror, "rev-parse", f"{merge.sha}^2") == head


def test_a_head_nowhere_in_the_source_is_a_clear_error(tmp_path: Path, project: Project) -> None:
    base = project.commit("main", {"app.txt": "one\n"})
    with pytest.raises(ConfigError, match=r"commit 1234567890ab \(head of pull request #4\) is not in"):
        _mirror(tmp_path, project).merge_commit(4, "1234567890ab" * 3 + "1234", base)


def test_pull_request_files_are_those_since_the_head_left_the_base(tmp_path: Path, project: Project) -> None:
    base, head = _branched(project)
    mirror = _mirror(tmp_path, project)
    mirror.ensure(head)
    assert mirror.changed_files(base, head, since_fork=True) == ("feature.txt",)
    assert set(mirror.changed_files(base, head)) == {"base.txt", "feature.txt"}  # two dots: main's own change too


def test_branch_tip_fetches_the_latest_commit(tmp_path: Path, project: Project) -> None:
    project.commit("main", {"app.txt": "one\n"})
    mirror = _mirror(tmp_path, project)
    mirror.ensure()
    latest = project.commit("main", {"app.txt": "two\n"})
    assert mirror.branch_tip("main") == latest
    assert mirror.branch_tip("no-such-branch") is None
