"""actionlint's valid workflows (rhysd/actionlint testdata/ok): GitHub accepts them, so must we."""

from __future__ import annotations

import pytest
from tests.conftest import conformance_path

from pheme.core.workflow import validate_workflow


def test_all_84_actionlint_ok_workflows_validate_cleanly() -> None:
    files = sorted(conformance_path("rhysd-actionlint", "testdata", "ok").glob("*.yaml"))
    assert len(files) == 84
    failures = {}
    for f in files:
        _wf, problems = validate_workflow(f.read_text(encoding="utf-8"), f"ok/{f.name}")
        if problems:
            failures[f.name] = [str(p) for p in problems]
    assert failures == {}


@pytest.mark.parametrize("name", ["anchors.yaml"])
def test_anchored_workflow_expands_aliases(name: str) -> None:
    f = conformance_path("rhysd-actionlint", "testdata", "ok", name)
    wf, problems = validate_workflow(f.read_text(encoding="utf-8"), name)
    assert problems == []
    assert wf is not None
    # `test3: *job` is a full copy of test2.
    assert wf.jobs["test3"].runs_on == wf.jobs["test2"].runs_on == "windows-latest"
    assert wf.on["pull_request"].branches_ignore == ("test",)
