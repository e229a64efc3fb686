"""`pheme artifacts RUN`: list and download what a run uploaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pheme.cli import main
from pheme.storage.objectstore import default_objects_root
from pheme.storage.objectstore.artifacts import ArtifactStore
from pheme.storage.objectstore.local import LocalObjectStore


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_and_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    ws = tmp_path / "ws"
    (ws / "dist").mkdir(parents=True)
    (ws / "dist" / "app.js").write_bytes(b"bytes!")
    ArtifactStore(LocalObjectStore(default_objects_root())).upload("7", "site", "dist", workspace=ws, retention_days=5)

    code, out, _ = run_cli(["artifacts", "7", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and [a["name"] for a in doc["artifacts"]] == ["site"]
    assert doc["artifacts"][0]["retention_days"] == 5 and doc["artifacts"][0]["files"] == 1

    code, out, _ = run_cli(["artifacts", "7"], capsys)
    assert "site" in out

    code, out, _ = run_cli(["artifacts", "7", "--download", "site", "--to", str(tmp_path / "got")], capsys)
    assert code == 0 and (tmp_path / "got" / "app.js").read_bytes() == b"bytes!"

    code, _, err = run_cli(["artifacts", "7", "--download", "nope"], capsys)
    assert code == 1 and "Artifact not found for name: nope" in err

    code, out, _ = run_cli(["artifacts", "8"], capsys)
    assert "run 8 has no artifacts" in out
