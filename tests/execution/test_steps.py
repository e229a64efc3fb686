"""The public StepRuntime surface: an action kind written only against it works end to end."""

from __future__ import annotations

from pheme.core.workflow.model import Step
from pheme.execution.events import Annotation
from pheme.execution.runner import StepRuntime


class _Action:
    """A made-up action kind: uses nothing but the documented StepRuntime methods."""

    has_pre = False
    has_post = False

    async def pre(self, rt: StepRuntime) -> str:
        return "success"

    async def post(self, rt: StepRuntime) -> str:
        return "success"

    async def main(self, rt: StepRuntime) -> str:
        rt.add_mask("hidden-token")
        rt.set_output("answer", "42")
        rt.export_env({"FROM_ACTION": "exported"})
        rt.add_path(rt.temp + "/bin")
        rt.annotate("warning", "careful with hidden-token")
        nested = Step(index=0, run="echo nested")
        child = rt.child(
            nested,
            expr=rt.expr,
            step_env={},
            extra_env={"EXTRA": "x"},
        )
        code = await child.run_command(["sh", "-c", 'echo "child $FROM_ACTION $EXTRA"'], cwd=rt.workspace)
        rt.log([f"job status {rt.job_status()}, env {rt.job_env().get('FROM_ACTION')}"])
        return "success" if code == 0 else "failure"


class _Resolver:
    def resolve(self, uses: str, step: Step) -> _Action:
        return _Action()


def test_an_action_written_against_step_runtime_sets_outputs_env_path_and_masks(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: a
        uses: example/made-up@v1
      - run: |
          echo "answer=${{ steps.a.outputs.answer }} env=$FROM_ACTION"
          case ":$PATH:" in *"/bin:"*) echo path-added;; esac
          echo hidden-token
""",
        action_resolver=_Resolver(),
    )
    assert result.conclusion == "success", col.lines()
    lines = col.lines("j", 1)
    assert "##[warning]careful with ***" in lines
    assert "child exported x" in lines
    assert "job status success, env exported" in lines
    assert [a.message for a in col.of(Annotation)] == ["careful with ***"]
    out = col.output("j", 2)
    assert out[:2] == ["answer=42 env=exported", "path-added"]
    assert out[2] == "***"
