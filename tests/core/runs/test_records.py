"""Records are the plain objects the rest of Pheme reads run history from."""

from __future__ import annotations

import dataclasses

import pytest

from pheme.core.runs import JobRecord, RunRecord, Status, utc_now


def _run(*jobs: JobRecord) -> RunRecord:
    return RunRecord(id=1, number=1, workflow="CI", file=".github/workflows/ci.yml", event="push",
                     ref="refs/heads/main", sha="0" * 40, jobs=jobs)


def test_utc_now_is_timezone_aware() -> None:
    now = utc_now()
    assert now.utcoffset() is not None and now.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_records_are_immutable() -> None:
    run = _run()
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = Status.COMPLETED  # type: ignore[misc]


def test_job_lookup_by_name_or_unique_key() -> None:
    lint = JobRecord(id=1, run_id=1, key="lint", name="Lint")
    b1 = JobRecord(id=2, run_id=1, key="build", name="build (1)", matrix={"v": 1})
    b2 = JobRecord(id=3, run_id=1, key="build", name="build (2)", matrix={"v": 2})
    run = _run(lint, b1, b2)
    assert run.job("Lint") is lint
    assert run.job("lint") is lint
    assert run.job("build (2)") is b2
    with pytest.raises(KeyError, match="ambiguous"):
        run.job("build")
    with pytest.raises(KeyError, match="no job"):
        run.job("deploy")
