"""The analysis hook: how a rollout asks "is the new version good?".

The monitoring package fills this in with a real :class:`AnalysisRunner`
(metrics queries against templates such as ``success-rate``). Until one is
installed, :class:`CommandAnalysisRunner` runs the step's ``run:`` command
(exit 0 = pass) and answers ``inconclusive`` for templates it cannot
evaluate, which pauses the rollout for a human instead of guessing.

To install a runner, provide a factory ``create_runner() -> AnalysisRunner``
(optionally with a ``workdir`` keyword: the repository the deployment came
from, where its analysis templates are) and name it in :data:`RUNNER_FACTORY`
(or ``PHEME_ANALYSIS_RUNNER=module:attr``). It is imported by name, so the
deploy package does not depend on monitoring, and only when a rollout reaches
an analysis step.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from pheme.core.deploy.actions import Role, Verdict

__all__ = ["AnalysisRequest", "AnalysisRunner", "AnalysisVerdict", "CommandAnalysisRunner", "load_runner", "run_command"]

# "module:attr" of the monitoring package's factory; used when importable.
RUNNER_FACTORY = "pheme.monitoring.analysis:create_runner"


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    """What to analyse: a service's version on a track, by a named template.

    ``url`` reaches the revision directly (its metrics endpoint lives there
    for the local target); ``environment`` and ``revision`` identify it;
    ``workdir`` is the repository checkout the deployment came from.
    """

    service: str
    environment: str
    version: str
    revision: int
    track: Role
    template: str
    url: str | None = None
    timeout: float = 300.0
    workdir: str | None = None  # the repository the deployment came from (its analysis templates)
    # For comparisons and repository templates (added for pheme.monitoring):
    baseline_version: str | None = None
    baseline_url: str | None = None
    deployment: int | None = None


@dataclass(frozen=True, slots=True)
class AnalysisVerdict:
    verdict: Verdict
    reason: str = ""


@runtime_checkable
class AnalysisRunner(Protocol):
    async def analyze(self, request: AnalysisRequest) -> AnalysisVerdict:
        """Judge one template for one version: pass, fail or inconclusive, with a reason."""


class CommandAnalysisRunner:
    """The stand-in: no metrics, so every template is inconclusive."""

    async def analyze(self, request: AnalysisRequest) -> AnalysisVerdict:
        return AnalysisVerdict(
            "inconclusive", f"no analysis provider is installed to evaluate template '{request.template}'"
        )


def load_runner(workdir: Path | None = None) -> AnalysisRunner:
    """The installed runner (PHEME_ANALYSIS_RUNNER, else monitoring's, else the stand-in)."""
    spec = os.environ.get("PHEME_ANALYSIS_RUNNER") or RUNNER_FACTORY
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
    except (ImportError, AttributeError):
        return CommandAnalysisRunner()
    try:
        takes_workdir = "workdir" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_workdir = False
    if takes_workdir and workdir is not None:
        runner: AnalysisRunner = factory(workdir=workdir)
        return runner
    runner = factory()
    return runner


async def run_command(command: str, *, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run ``command`` with ``sh -c`` (own process group, killed on timeout): exit code and output tail."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command,
        cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await proc.wait()
        raise
    text = out.decode(errors="replace").strip()
    return proc.returncode or 0, text[-2000:]
