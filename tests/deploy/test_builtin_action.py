"""``uses: pheme/deploy@v1``: the example pipeline's deploy job deploys through the agent and records it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLE

PHEME = str(Path(sys.executable).parent / "pheme")

pytestmark = pytest.mark.timeout(300)


def test_the_example_pipeline_ends_in_a_recorded_blue_green_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    project = tmp_path / "pheme-api"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "dist"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "v1"], cwd=project, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True).stdout.strip()
    try:
        run = subprocess.run([PHEME, "run"], cwd=project, capture_output=True, text=True, timeout=240, check=False)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert "is live at http://127.0.0.1:" in run.stdout
        listing = subprocess.run([PHEME, "deployments", "--json"], cwd=project, capture_output=True, text=True, check=True)
        (dep,) = json.loads(listing.stdout)["deployments"]
        assert (dep["service"], dep["environment"], dep["version"], dep["status"]) == ("api", "staging", "1.0.0", "succeeded")
        assert dep["triggered_by"] == "workflow CI #1 job deploy"
        assert dep["commit"] == sha
    finally:
        subprocess.run([PHEME, "agent", "stop"], cwd=project, capture_output=True, timeout=120, check=False)
