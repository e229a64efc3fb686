"""Jobs carried over from an earlier attempt (``RunRequest.reused``): not run, no events,
but finished for their dependents with the earlier conclusion and outputs."""

from __future__ import annotations

from pheme.execution.events import JobFinished, JobStarted
from pheme.execution.runner import JobResult

PIPELINE = """
on: push
jobs:
  prep:
    runs-on: ubuntu-latest
    if: github.run_attempt == '1'
    outputs:
      token: ${{ steps.t.outputs.token }}
    steps:
      - id: t
        run: echo "token=fresh" >> "$GITHUB_OUTPUT"
  check:
    needs: prep
    runs-on: ubuntu-latest
    strategy:
      matrix:
        part: [a, b]
    outputs:
      seen: ${{ steps.s.outputs.seen }}
    steps:
      - id: s
        run: echo "seen=${{ matrix.part }}-${{ needs.prep.outputs.token }}" >> "$GITHUB_OUTPUT"
  report:
    needs: [prep, check]
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.prep.result }} ${{ needs.prep.outputs.token }} ${{ needs.check.result }} $GITHUB_RUN_ATTEMPT"
"""


def _reused(key: str, job_id: str, outputs: dict[str, str], matrix: dict[str, str] | None = None) -> JobResult:
    return JobResult(key, job_id, key, matrix, "success", outputs=outputs)


def test_carried_over_jobs_do_not_run_and_feed_their_dependents(engine):
    reused = {
        "prep": _reused("prep", "prep", {"token": "from-attempt-1"}),
        "check (a)": _reused("check (a)", "check", {"seen": "a-from-attempt-1"}, {"part": "a"}),
    }
    result, col = engine.run(PIPELINE, run_attempt=2, reused=reused)
    # prep's if: would be false in attempt 2: a carried-over job is not evaluated at all.
    assert result.conclusion == "success"
    started = [e.job.key for e in col.of(JobStarted)]
    finished = [e.job.key for e in col.of(JobFinished)]
    assert sorted(started) == sorted(finished) == ["check (b)", "report"]  # only these ran
    assert result.job("check (b)").outputs == {"seen": "b-from-attempt-1"}
    assert col.output("report", 1) == ["success from-attempt-1 success 2"]
    assert {j.key: j.reused for j in result.jobs} == {
        "prep": True, "check (a)": True, "check (b)": False, "report": False}  # fmt: skip
    assert [j.key for j in result.jobs] == ["prep", "check (a)", "check (b)", "report"]  # workflow order


def test_a_matrix_job_whose_every_combination_is_carried_over_does_not_run(engine):
    reused = {
        "prep": _reused("prep", "prep", {"token": "t1"}),
        "check (a)": _reused("check (a)", "check", {"seen": "a"}, {"part": "a"}),
        "check (b)": _reused("check (b)", "check", {"seen": "b"}, {"part": "b"}),
    }
    result, col = engine.run(PIPELINE, run_attempt=3, reused=reused)
    assert [e.job.key for e in col.of(JobStarted)] == ["report"]
    assert col.output("report", 1) == ["success t1 success 3"]
    assert result.conclusion == "success"


def test_without_reused_jobs_every_job_runs(engine):
    result, col = engine.run(PIPELINE)
    assert col.output("report", 1) == ["success fresh success 1"]
    assert not any(j.reused for j in result.jobs)
