"""Helpers for engine tests: parse a workflow text, run it for real, collect events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pheme.core.workflow import parse_workflow
from pheme.execution.events import Event, LogLines, StepFinished
from pheme.execution.runner import RunRequest, RunResult, execute


class Collector:
    """A RunObserver that keeps every event (and can wake a test on a condition)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Event]] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        for predicate, flag in self._waiters:
            if not flag.is_set() and predicate(event):
                flag.set()

    def when(self, predicate: Callable[[Event], bool]) -> asyncio.Event:
        flag = asyncio.Event()
        self._waiters.append((predicate, flag))
        return flag

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def lines(self, job: str | None = None, step: int | None = None) -> list[str]:
        out: list[str] = []
        for e in self.of(LogLines):
            if job is not None and e.job.key != job:
                continue
            if step is not None and (e.step is None or e.step.number != step):
                continue
            out.extend(e.lines)
        return out

    def output(self, job: str, step: int) -> list[str]:
        """The step's own output lines (without the ``##[group]Run`` header)."""
        lines = self.lines(job, step)
        if "##[endgroup]" in lines and lines[0].startswith("##[group]Run"):
            lines = lines[lines.index("##[endgroup]") + 1 :]
        return lines

    def step_finished(self, job: str) -> list[StepFinished]:
        return [e for e in self.of(StepFinished) if e.job.key == job]


class Runner:
    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace

    @staticmethod
    def collector() -> Collector:
        return Collector()

    def request(self, text: str, **kw: Any) -> RunRequest:
        wf = parse_workflow(text, ".github/workflows/test.yml")
        kw.setdefault("workspace", self.workspace)
        kw.setdefault("temp_dir", self.workspace.parent / "tmp")
        return RunRequest(workflow=wf, **kw)

    async def arun(
        self, text: str, *, cancel: asyncio.Event | None = None, collector: Collector | None = None, **kw: Any
    ) -> tuple[RunResult, Collector]:
        col = collector or Collector()
        result = await execute(self.request(text, **kw), col, cancel=cancel)
        return result, col

    def run(self, text: str, **kw: Any) -> tuple[RunResult, Collector]:
        return asyncio.run(self.arun(text, **kw))


@pytest.fixture
def engine(tmp_path: Path) -> Runner:
    ws = tmp_path / "ws"
    ws.mkdir()
    return Runner(ws)
