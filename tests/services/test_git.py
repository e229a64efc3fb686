"""Git facts for local runs, read from real temporary repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pheme.errors import ConfigError, UsageError
from pheme.services.git import NULL_SHA, checkout_tree, full_name_from_url, open_repo


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
