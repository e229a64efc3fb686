"""End-to-end behaviour of the engine on real processes: results, env, outputs, needs."""

from __future__ import annotations

from pheme.execution.events import Annotation, JobFinished, JobStarted, RunFinished, RunStarted


def test_a_simple_job_runs_its_steps_and_reports_outputs(engine):
    result, col = engine.run(
        """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      answer: ${{ steps.calc.outputs.value }}
    steps:
      - run: echo hello
      - id: calc
        run: echo "value=42" >> "$GITHUB_OUTPUT"
"""
    )
    assert result.conclusion == "success"
    job = result.job("build")
    assert job.outputs == {"answer": "42"}
    assert [s.outcome for s in job.steps] == ["success", "success"]
    assert job.steps[1].outputs == {"value": "42"}
    assert col.output("build", 1) == ["hello"]
    kinds = [type(e) for e in col.events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert kinds.index(JobStarted) < kinds.index(JobFinished)


def test_a_failing_step_fails_the_job_and_skips_later_steps(engine):
    result, col = engine.run(
        """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
      - run: echo never
"""
    )
    job = result.job("build")
    assert result.conclusion == "failure"
    assert [(s.outcome, s.conclusion) for s in job.steps] == [("failure", "failure"), ("skipped", "skipped")]
    assert "##[error]Process completed with exit code 3." in col.lines("build", 1)
    assert any(a.level == "error" and "exit code 3" in a.message for a in col.of(Annotation))
    assert "never" not in col.lines("build")
