"""The parsed workflow: immutable objects that keep their source positions.

A :class:`Workflow` is built once by the loader and never mutated; run state
(statuses, outputs, logs) lives elsewhere. Values that GitHub evaluates later
(``env`` values, ``with`` inputs, ``if`` conditions, ``runs-on`` ...) are kept
as they were written in YAML: a ``str`` that may contain ``${{ }}``, or a
plain scalar / list / mapping. Mappings keep the file's key order.

Positions are 1-based ``(line, col)`` of the *key* that introduced the item,
so errors at run time can still say ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Concurrency",
    "Defaults",
    "Environment",
    "EventTrigger",
    "Job",
    "Pos",
    "Step",
    "Strategy",
    "Workflow",
    "WorkflowCallOutput",
    "WorkflowCallSecret",
    "WorkflowInput",
]

# A YAML value as written: str (maybe with ${{ }}), bool, int, float, None,
# or lists / mappings of those.
Raw = Any


@dataclass(frozen=True, slots=True)
class Pos:
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class Defaults:
    """``defaults.run`` at workflow or job level."""

    shell: str | None = None
    working_directory: str | None = None


@dataclass(frozen=True, slots=True)
class Concurrency:
    """``concurrency`` of a workflow or a job; ``pos`` is where the group is written.
    ``queue``: ``single`` (a newer pending run/job replaces the older one) or ``max``
    (they wait in line)."""

    group: str
    cancel_in_progress: bool | str = False
    queue: Literal["single", "max"] = "single"
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    url: str | None = None


InputType = Literal["string", "boolean", "number", "choice", "environment"]


@dataclass(frozen=True, slots=True)
class WorkflowInput:
    """An input of ``workflow_dispatch`` or ``workflow_call``."""

    name: str
    type: InputType = "string"
    description: str | None = None
    required: bool = False
    default: Raw = None
    options: tuple[str, ...] = ()
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class WorkflowCallOutput:
    name: str
    value: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowCallSecret:
    name: str
    required: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class EventTrigger:
    """One event under ``on:``, with its filters.

    ``None`` for a filter means "not given" (which matters: an absent
    ``branches`` matches everything, an empty one nothing).
    """

    event: str
    types: tuple[str, ...] | None = None
    branches: tuple[str, ...] | None = None
    branches_ignore: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    tags_ignore: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    paths_ignore: tuple[str, ...] | None = None
    # schedule
    crons: tuple[str, ...] = ()
    # workflow_dispatch / workflow_call
    inputs: Mapping[str, WorkflowInput] = field(default_factory=dict)
    # workflow_call
    outputs: Mapping[str, WorkflowCallOutput] = field(default_factory=dict)
    secrets: Mapping[str, WorkflowCallSecret] = field(default_factory=dict)
    # workflow_run
    workflows: tuple[str, ...] | None = None
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Strategy:
    """``jobs.<id>.strategy``. ``matrix`` is a mapping, or an expression string
    (``${{ fromJSON(...) }}``) that is expanded at run time."""

    matrix: Mapping[str, Raw] | str | None = None
    fail_fast: bool | str = True
    max_parallel: int | str | None = None
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of ``steps:``. ``index`` is its 0-based place in the job."""

    index: int
    id: str | None = None
    name: str | None = None
    if_: str | bool | None = None
    uses: str | None = None
    with_: Mapping[str, Raw] = field(default_factory=dict)
    run: str | None = None
    shell: str | None = None
    working_directory: str | None = None
    env: Mapping[str, Raw] | str = field(default_factory=dict)
    continue_on_error: bool | str = False
    timeout_minutes: float | str | None = None
    pos: Pos = Pos()

    @property
    def display_name(self) -> str:
        """The name GitHub shows: ``name``, else ``Run <first line>``, else ``Run <uses>``."""
        if self.name:
            return self.name
        if self.run is not None:
            first = self.run.strip().splitlines()[0] if self.run.strip() else ""
            return f"Run {first}"
        return f"Run {self.uses}"


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    name: str | None = None
    needs: tuple[str, ...] = ()
    if_: str | bool | None = None
    runs_on: Raw = None
    environment: Environment | str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, Raw] | str = field(default_factory=dict)
    defaults: Defaults | None = None
    timeout_minutes: float | str | None = None
    continue_on_error: bool | str = False
    strategy: Strategy | None = None
    container: Raw = None
    services: Mapping[str, Raw] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    concurrency: Concurrency | None = None
    permissions: Raw = None
    # called (reusable) workflow
    uses: str | None = None
    with_: Mapping[str, Raw] = field(default_factory=dict)
    secrets: Mapping[str, Raw] | Literal["inherit"] | None = None
    pos: Pos = Pos()

    @property
    def display_name(self) -> str:
        return self.name if self.name else self.id


@dataclass(frozen=True, slots=True)
class Workflow:
    """A whole workflow file. ``path`` is as given to the loader (usually
    ``.github/workflows/x.yml``); ``jobs`` keeps the file's order."""

    path: str
    on: Mapping[str, EventTrigger]
    jobs: Mapping[str, Job]
    name: str | None = None
    run_name: str | None = None
    env: Mapping[str, Raw] = field(default_factory=dict)
    defaults: Defaults | None = None
    concurrency: Concurrency | None = None
    permissions: Raw = None

    @property
    def display_name(self) -> str:
        """GitHub shows the file path when a workflow has no name."""
        return self.name if self.name else self.path
