"""``pheme/deploy@v1``: a workflow's deploy job deploys, exactly as ``pheme deploy`` would.

Inputs: ``service``, ``environment``, ``version`` (required), ``strategy``
(default: the environment's), ``file`` (default ``.pheme/deploy.yml``) and
``working-directory`` (where the deploy file and the artifacts are, relative
to the workspace). The step runs ``pheme deploy`` as a child process, so the
deployment goes through the same deploy agent, lock and records as from a
terminal, and its progress lands in the step's log. The deployment is
recorded as triggered by the workflow run (``GITHUB_WORKFLOW`` #
``GITHUB_RUN_NUMBER``) at ``GITHUB_SHA``.

Outputs: ``deployment`` (its id), ``revision``, ``status`` and ``url`` (where
the service answers), written by ``pheme deploy`` to ``GITHUB_OUTPUT``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar

from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions.builtins._builtin import Builtin

__all__ = ["Deploy"]


class Deploy(Builtin):
    NAME = "pheme/deploy"
    INPUTS: ClassVar[dict[str, Any]] = {
        "service": None,
        "environment": None,
        "version": None,
        "strategy": "",
        "file": "",
        "working-directory": "",
    }
    REQUIRED = ("service", "environment", "version")

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        workspace = rt.env.get("GITHUB_WORKSPACE") or rt.workspace
        cwd = os.path.join(workspace, self.get("working-directory")) if self.get("working-directory") else workspace
        argv = [
            sys.executable, "-m", "pheme", "deploy", self.get("service"),
            "--env", self.get("environment"), "--version", self.get("version"),
        ]
        if self.get("strategy").strip():
            argv += ["--strategy", self.get("strategy").strip()]
        if self.get("file").strip():
            argv += ["--file", self.get("file").strip()]
        code = await rt.run_command(argv, cwd=cwd)
        if code != 0:
            if not rt.interrupted:
                rt.fail(f"The deployment of {self.get('service')} {self.get('version')} to {self.get('environment')} failed (exit code {code}).")
            return "failure"
        return "success"
