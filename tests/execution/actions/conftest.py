"""Run small workflows through the real engine with the offline action resolver."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pheme.core.workflow import parse_workflow
from pheme.execution.actions.builtins import BuiltinServices
from pheme.execution.actions.resolver import Resolver
from pheme.execution.events import Event, LogLines
from pheme.execution.runner import RunRequest, RunResult, execute
from pheme.storage.objectstore.memory import MemoryObjectStore


@dataclass
class Outcome:
    result: RunResult
    events: list[Event] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "\n".join(line for e in self.events if isinstance(e, LogLines) for line in e.lines)

    def step_outputs(self, job: str, number: int) -> Mapping[str, str]:
        return self.result.job(job).steps[number - 1].outputs


def run_workflow(
    yaml_text: str,
    workspace: Path,
    *,
    services: BuiltinServices | None = None,
    search: list[Path] | None = None,
    **request: Any,
) -> Outcome:
    workflow = parse_workflow(textwrap.dedent(yaml_text), ".github/workflows/test.yml")
    events: list[Event] = []
    resolver = Resolver(services or BuiltinServices(store=MemoryObjectStore()), search=search or [])
    req = RunRequest(workflow=workflow, workspace=workspace, action_resolver=resolver, **request)
    result = asyncio.run(execute(req, events.append))
    return Outcome(result, events)


@pytest.fixture
def services() -> BuiltinServices:
    return BuiltinServices(store=MemoryObjectStore(), run_key="run-1")


def write(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root
