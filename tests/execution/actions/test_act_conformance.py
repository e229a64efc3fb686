"""act's host-mode fixtures (TestRunEventHostEnvironment, linux/all/non-windows rows).

Each row must give act's expected outcome. The exceptions below are listed
with their reason; rows that fail for reasons outside the actions package
(engine/planner) are non-strict xfails so they turn green when fixed there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import conformance_path

from .act_harness import host_rows, run_row

# Cannot pass by design or for lack of data in the shared copy (strict: they must keep failing).
EXPECTED_FAIL = {
    "shells/defaults": "has a job with 'container:'; Pheme runs jobs on the host, without a container engine",
    "shells/pwsh": "a 'container:' job, and no pwsh on this machine",
    "shells/bash": "has a job with 'container:' (no container engine)",
    "shells/python": "has a job with 'container:' (no container engine)",
    "shells/sh": "has a job with 'container:' (no container engine)",
    "local-action-js": "the actions' bundled dist/index.js is not included in the shared testdata",
    "uses-action-with-pre-and-post-step": "main.js/post.js not in the shared testdata; uses a remote JS action",
    "remote-action-js": "remote JavaScript actions need the network (not vendored)",
    "issue-597": "uses actions/hello-world-javascript-action (remote, not vendored)",
    "issue-598": "uses actions/hello-world-javascript-action (remote, not vendored)",
    "uses-nested-composite": "setup-node asks for Node 16, which is not installed (Pheme never downloads)",
}
# Failing outside pheme.execution.actions; expected to be fixed by the engine/planner.
ENGINE = {
    "issue-1195": "workflow-level env is evaluated without the github context (runner)",
    "evalmatrixneeds2": "expression keys in matrix objects are not expanded (planner)",
    "evalmatrix-merge-map": "${{ insert }} in matrix values (planner)",
    "evalmatrix-merge-array": "${{ insert }} in matrix values (planner)",
}


def _rows() -> list[Any]:
    try:
        manifest = conformance_path("nektos-act", "derived", "run-event-manifest.json")
    except pytest.skip.Exception:
        return []
    params = []
    for row in host_rows(manifest):
        marks = []
        if row["path"] in EXPECTED_FAIL:
            marks.append(pytest.mark.xfail(reason=EXPECTED_FAIL[row["path"]], strict=True))
        elif row["path"] in ENGINE:
            marks.append(pytest.mark.xfail(reason=ENGINE[row["path"]], strict=False))
        params.append(pytest.param(row, id=f"{row['path']}-{row['event']}", marks=marks))
    return params


@pytest.mark.slow
@pytest.mark.parametrize("row", _rows())
def test_act_host_fixture(row: dict[str, Any], tmp_path: Path) -> None:
    testdata = conformance_path("nektos-act", "pkg", "runner", "testdata")
    failed, log = run_row(testdata, row, tmp_path)
    expected_error = bool(row["expect_error"])
    errors = "\n".join(line for line in log.splitlines() if "##[error]" in line)[-2000:]
    assert failed == expected_error, (
        f"expected {'an error' if expected_error else 'success'}; errors:\n{errors}"
    )
