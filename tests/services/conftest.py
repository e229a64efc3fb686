"""Temporary git repositories with workflows, and a private PHEME_HOME, for service tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

GIT_ID = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")


class Repos:
    """Helpers to build repositories: ``repos.make({path: text})`` commits the files on main."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def git(self, cwd: Path, *args: str) -> str:
        return subprocess.run(
            ["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True
        ).stdout.strip()

    def write(self, root: Path, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def commit(self, root: Path, message: str = "change") -> str:
        self.git(root, "add", "-A")
        self.git(root, "commit", "-q", "-m", message)
        return self.git(root, "rev-parse", "HEAD")

    def make(self, files: dict[str, str], name: str = "proj") -> Path:
        root = self.base / name
        root.mkdir()
        self.git(root, "init", "-q", "-b", "main")
        self.write(root, files)
        self.commit(root, "initial")
        return root


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return Repos(tmp_path)


@pytest.fixture(autouse=True)
def pheme_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "pheme-home"
    monkeypatch.setenv("PHEME_HOME", str(home))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    return home
