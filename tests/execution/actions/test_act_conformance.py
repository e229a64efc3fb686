"""act's host-mode fixtures (TestRunEventHostEnvironment, linux/all/non-windows rows).

Each row must give act's expected outcome, with the actions resolver plugged
in. The exceptions below are listed with their reason, by category; rows that
need neither Docker nor the network must pass at 90% or better (see
``test_the_offline_pass_rate_is_at_least_90_percent``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import conformance_path

from .act_harness import host_rows, run_row

# Rows that cannot pass here, by category (strict xfails: they must keep failing,
# so a fix shows up as an XPASS to move the row out of these lists).
NEEDS_DOCKER = {
    "shells/defaults": "has a job with 'container:'; Pheme runs jobs on the host, without a container engine",
    "shells/pwsh": "a 'container:' job (and no pwsh on this machine)",
    "shells/bash": "has a job with 'container:' (no container engine)",
    "shells/python": "has a job with 'container:' (no container engine)",
    "shells/sh": "has a job with 'container:' (no container engine)",
}
NEEDS_NETWORK = {
    "remote-action-js": "remote JavaScript actions are fetched from GitHub (not vendored here)",
    "issue-597": "uses actions/hello-world-javascript-action (remote, not vendored)",
    "issue-598": "uses actions/hello-world-javascript-action (remote, not vendored)",
    "uses-action-with-pre-and-post-step": "uses nektos/act-test-actions/js-with-pre-and-post-step@main (remote)",
}
OTHER = {
    "local-action-js": "the shared testdata has only action.yml of ./actions/node12|16|20, not their dist/index.js",
    "uses-nested-composite": "setup-node asks for Node 16, which is not installed (Pheme never downloads)",
}
EXPECTED_FAIL = {**NEEDS_DOCKER, **NEEDS_NETWORK, **OTHER}


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


def test_the_offline_pass_rate_is_at_least_90_percent() -> None:
    manifest = conformance_path("nektos-act", "derived", "run-event-manifest.json")
    rows = {row["path"] for row in host_rows(manifest)}
    assert set(EXPECTED_FAIL) <= rows, "an exception names a row that is not in the table"
    offline = rows - set(NEEDS_DOCKER) - set(NEEDS_NETWORK)
    passing = offline - set(OTHER)
    assert len(passing) / len(offline) >= 0.9, f"{len(passing)}/{len(offline)} offline rows pass"
