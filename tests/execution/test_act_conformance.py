"""act's host-environment run table (TestRunEventHostEnvironment) on this engine.

Each row names a fixture directory of workflows and whether the run must fail.
Rows that need what the engine itself does not provide are left out, with the
reason: actions (``uses:``, another component), containers (no container
engine by design), Windows, and act-only behaviour (the ``ACT`` variable).
Everything else must match act's expectation.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import conformance_path

from pheme.core.workflow import parse_workflow
from pheme.execution.runner import RunRequest, execute

ACT_ONLY = {"if-env-act": "tests act's own ACT=true variable"}


def _rows() -> list[dict]:
    try:
        manifest = conformance_path("nektos-act", "derived", "run-event-manifest.json")
    except BaseException:  # pytest.skip at collection time: no rows
        return []
    rows = json.loads(manifest.read_text())["tests"]["TestRunEventHostEnvironment"]
    return [r for r in rows if r["goos"] in ("linux", "non-windows", "all") and not r["commented_out"]]


def _workflows(row: dict) -> list[Path]:
    src = conformance_path("nektos-act", "pkg", "runner", row["workdir"], row["path"])
    return [src] if src.is_file() else sorted(p for p in src.iterdir() if p.suffix in (".yml", ".yaml"))


def _unsupported(row: dict) -> str | None:
    if row["path"] in ACT_ONLY:
        return ACT_ONLY[row["path"]]
    for wf in _workflows(row):
        text = wf.read_text()
        if "uses:" in text:
            return "uses actions"
        if "container:" in text or "services:" in text:
            return "uses containers"
    return None


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["path"])
def test_act_host_environment_row(row, tmp_path):
    reason = _unsupported(row)
    if reason:
        pytest.skip(reason)
    root = conformance_path("nektos-act", "pkg", "runner", row["workdir"])
    workspace = tmp_path / "ws"
    shutil.copytree(root / row["path"] if (root / row["path"]).is_dir() else root, workspace, symlinks=True)
    failed: list[str] = []
    for wf_path in _workflows(row):
        workflow = parse_workflow(wf_path.read_text(), str(wf_path.relative_to(root)))
        request = RunRequest(
            workflow=workflow,
            workspace=workspace,
            event_name=row["event"],
            actor="nektos/act",
            repository="nektos/act",
            temp_dir=tmp_path / "tmp",
        )
        result = asyncio.run(execute(request, lambda event: None))
        if result.conclusion != "success":
            failed.append(f"{wf_path.name}: {result.conclusion}")
    if row["expect_error"]:
        assert failed, f"expected the run to fail ({row['expect_error']})"
    else:
        assert not failed
