"""Git facts for local runs, read from real temporary repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pheme.errors import ConfigError, UsageError
from pheme.services.git import NULL_SHA, checkout_tree, full_name_from_url, open_repo, read_head


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("one\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "first")
    (root / "src").mkdir()
    (root / "src" / "b.py").write_text("print(1)\n")
    git(root, "add", "src/b.py")
    git(root, "commit", "-q", "-m", "second\n\nbody")
    return root


def test_facts_about_head(repo: Path) -> None:
    r = open_repo(repo / "src")
    assert r.root == repo
    head = r.head_sha()
    assert head == git(repo, "rev-parse", "HEAD")
    assert r.current_branch() == "main"
    parent = r.parent(head)
    assert parent == git(repo, "rev-parse", "HEAD~1")
    assert r.parent(parent) is None
    assert r.changed_files(parent, head) == ("src/b.py",)
    assert set(r.changed_files(None, head)) == {"a.txt", "src/b.py"}
    assert set(r.changed_files(NULL_SHA, head)) == {"a.txt", "src/b.py"}
    info = r.commit(head)
    assert info.message == "second\n\nbody"
    assert info.author_name == "Ada" and info.author_email == "ada@example.com"
    assert info.timestamp[:4].isdigit() and "T" in info.timestamp
    assert r.resolve("HEAD~1") == parent
    with pytest.raises(UsageError, match="unknown git revision: nope"):
        r.resolve("nope")


def test_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert open_repo(repo).current_branch() is None


def test_working_tree_changes_include_untracked_files(repo: Path) -> None:
    r = open_repo(repo)
    (repo / "a.txt").write_text("changed\n")
    (repo / "new.txt").write_text("x\n")
    assert r.changed_files_worktree(r.head_sha()) == ("a.txt", "new.txt")
    assert r.is_dirty()


def test_not_a_repository_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^not a git repository: "):
        open_repo(tmp_path)


def test_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    r = open_repo(tmp_path)
    assert not r.has_head()
    with pytest.raises(ConfigError, match="no commit yet"):
        r.head_sha()


def test_checkout_is_the_committed_tree_and_is_removed_afterwards(repo: Path) -> None:
    r = open_repo(repo)
    (repo / "a.txt").write_text("dirty\n")
    (repo / "untracked.txt").write_text("x\n")
    with checkout_tree(r, r.head_sha()) as ws:
        assert (ws / "a.txt").read_text() == "one\n"
        assert not (ws / "untracked.txt").exists()
        assert ws.name == "proj"
        # Steps can ask git about the commit, as after actions/checkout.
        assert git(ws, "rev-parse", "HEAD") == r.head_sha()
    assert not ws.exists()
    assert git(repo, "worktree", "list").count("\n") == 0


def test_head_facts_are_read_at_once(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "git@github.com:octo/hello.git")
    git(repo, "update-ref", "refs/remotes/origin/trunk", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    facts = read_head(repo / "src")
    assert facts.repo.root == repo
    assert facts.head is not None
    assert facts.head.sha == git(repo, "rev-parse", "HEAD")
    assert facts.head == open_repo(repo).commit(facts.head.sha)
    assert facts.head.message == "second\n\nbody"
    assert facts.parents == (git(repo, "rev-parse", "HEAD~1"),)
    assert facts.branch == "main"
    assert facts.remote_url == "git@github.com:octo/hello.git"
    assert facts.default_branch == "trunk"


def test_head_facts_of_a_first_commit_a_detached_head_and_no_remote(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    facts = read_head(repo)
    assert facts.head is not None and facts.head.message == "first"
    assert facts.parents == ()
    assert facts.branch is None
    assert facts.remote_url is None and facts.default_branch is None


def test_head_facts_without_commits_name_the_branch_to_be(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "trunk")
    facts = read_head(tmp_path)
    assert facts.repo.root == tmp_path
    assert facts.head is None and facts.parents == ()
    assert facts.branch == "trunk"


def test_head_facts_outside_a_repository_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^not a git repository: "):
        read_head(tmp_path)
    with pytest.raises(UsageError, match="no such directory"):
        read_head(tmp_path / "missing")


def _worktrees(repo: Path) -> list[str]:
    return [line for line in git(repo, "worktree", "list", "--porcelain").split("\n") if line.startswith("worktree ")]


def test_checkout_is_a_clean_detached_git_worktree(repo: Path) -> None:
    r = open_repo(repo)
    sha = git(repo, "rev-parse", "HEAD~1")
    with checkout_tree(r, sha) as ws:
        assert sorted(p.name for p in ws.iterdir()) == [".git", "a.txt"]
        assert git(ws, "status", "--porcelain", "--untracked-files=all") == ""
        assert git(ws, "rev-parse", "HEAD") == sha
        assert git(ws, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
        assert git(ws, "rev-parse", "--show-toplevel") == str(ws)
        assert f"worktree {ws}" in _worktrees(repo)
        # git itself can use the worktree (as actions/checkout's built-in does).
        (ws / "a.txt").write_text("edited\n")
        git(ws, "checkout", "--quiet", "--force", "--detach", sha)
        assert (ws / "a.txt").read_text() == "one\n"
    assert not ws.exists()
    assert _worktrees(repo) == [f"worktree {repo}"]
    assert not (repo / ".git" / "worktrees").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_checkout_keeps_executable_bits_and_symlinks(repo: Path) -> None:
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (repo / "link").symlink_to("a.txt")
    git(repo, "add", "run.sh", "link")
    git(repo, "commit", "-q", "-m", "third")
    r = open_repo(repo)
    with checkout_tree(r, r.head_sha()) as ws:
        assert (ws / "run.sh").stat().st_mode & 0o111
        assert (ws / "link").is_symlink() and (ws / "link").read_text() == "one\n"
        assert git(ws, "status", "--porcelain") == ""


def test_checkout_from_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "--detach", str(linked), "HEAD~1")
    r = open_repo(linked)
    assert r.common_dir == repo / ".git"
    with checkout_tree(r, git(repo, "rev-parse", "HEAD")) as ws:
        assert (ws / "src" / "b.py").read_text() == "print(1)\n"
        assert git(ws, "status", "--porcelain") == ""
    assert not ws.exists()
    assert _worktrees(repo) == [f"worktree {repo}", f"worktree {linked}"]


def test_checkout_goes_through_git_worktree_add_when_refs_are_not_files(repo: Path) -> None:
    (repo / ".git" / "reftable").mkdir()  # what a reftable repository has (ignored by git here)
    r = open_repo(repo)
    with checkout_tree(r, r.head_sha()) as ws:
        assert (ws / "a.txt").read_text() == "one\n"
        assert git(ws, "status", "--porcelain") == ""
        assert len(_worktrees(repo)) == 2
    assert not ws.exists()
    assert _worktrees(repo) == [f"worktree {repo}"]


def test_checkout_of_a_revision_name(repo: Path) -> None:
    with checkout_tree(open_repo(repo), "HEAD~1") as ws:  # not a full id: git worktree add resolves it
        assert git(ws, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD~1")
        assert git(ws, "status", "--porcelain") == ""
    assert _worktrees(repo) == [f"worktree {repo}"]


def test_checkout_of_an_unknown_commit_is_one_clear_error_and_leaves_nothing(repo: Path, tmp_path: Path) -> None:
    parent = tmp_path / "tmp"
    parent.mkdir()
    with pytest.raises(ConfigError), checkout_tree(open_repo(repo), "1" * 40, parent=parent):
        pass
    assert list(parent.iterdir()) == []
    assert _worktrees(repo) == [f"worktree {repo}"]
    assert not (repo / ".git" / "worktrees").exists()


def test_checkout_is_removed_when_the_body_fails(repo: Path) -> None:
    r = open_repo(repo)
    with pytest.raises(RuntimeError), checkout_tree(r, r.head_sha()) as ws:
        raise RuntimeError("boom")
    assert not ws.exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/octo/hello.git", "octo/hello"),
        ("https://user:tok@github.com/octo/hello", "octo/hello"),
        ("git@github.com:octo/hello.git", "octo/hello"),
        ("ssh://git@gitlab.example.com:2222/group/sub/hello.git", "sub/hello"),
        ("/srv/git/hello.git", None),
        ("../hello", None),
    ],
)
def test_full_name_from_remote_url(url: str, expected: str | None) -> None:
    assert full_name_from_url(url) == expected
