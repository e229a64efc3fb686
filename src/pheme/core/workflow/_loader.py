"""Workflow text → :class:`~pheme.core.workflow.model.Workflow`, collecting every problem.

Three passes, as in GitHub's own parser: read YAML (positions, YAML 1.2 core
types, no anchors), validate against the schema (keys, types, expressions and
their contexts), convert to the model with the post-schema checks. Called
workflows (``jobs.<id>.uses``) are checked too when the caller supplies a
``resolve_workflow`` function, since core does no file or network I/O itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pheme.core.workflow._convert import Converter
from pheme.core.workflow._exprcheck import check_expression
from pheme.core.workflow._reader import Reader
from pheme.core.workflow._yaml import MAP, Node, YamlError, compose
from pheme.core.workflow.model import Workflow
from pheme.errors import Problem, WorkflowError

__all__ = ["LoadOptions", "parse_workflow", "validate_workflow"]


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Limits and policies; the defaults are GitHub's.

    ``require_steps``: GitHub refuses to start a job with neither ``steps``
    nor ``uses`` ("No steps defined in `steps` ..."). Its parser accepts such a
    file; the check happens when a run is created. False skips it.

    ``allow_anchors``: GitHub accepts YAML anchors/aliases since September
    2025; False reproduces its earlier refusal ("Anchors are not currently
    supported. Remove the anchor 'x'").

    ``resolve_workflow(ref)`` returns the text of a called workflow
    (``owner/repo/.github/workflows/x.yml@ref`` or ``./.github/workflows/x.yml``)
    or None when it is not available (then the call is not checked).
    ``permissions_policy`` is the repository's default ``GITHUB_TOKEN``
    permission ("write" = permissive, "limited-read" = contents/packages read).
    """

    max_depth: int = 50
    allow_anchors: bool = True
    max_file_size: int | None = None
    max_jobs: int | None = None
    max_nested_workflows: int = 4
    allow_background_steps: bool = False
    require_steps: bool = True
    permissions_policy: Literal["write", "limited-read"] = "write"
    resolve_workflow: Callable[[str], str | None] | None = None


_DEFAULT = LoadOptions()


class _Sink:
    """Collects problems for one file."""

    __slots__ = ("path", "problems")

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def __call__(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.path, node.line, node.col, message))

    def at(self, line: int, col: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, col, message))


def _read(text: str, path: str, options: LoadOptions, sink: _Sink) -> tuple[Node | None, Workflow | None]:
    """Parse + schema + convert one file; problems go to ``sink``."""
    if options.max_file_size is not None and len(text) > options.max_file_size:
        sink.at(1, 1, f"The maximum file size of {options.max_file_size} characters has been exceeded")
        return None, None
    try:
        root = compose(text, max_depth=options.max_depth, allow_anchors=options.allow_anchors)
    except YamlError as exc:
        sink.at(exc.line or 1, exc.col or 1, exc.message)
        return None, None
    if root is None:
        sink.at(1, 1, "The workflow file is empty: it needs at least 'on' and 'jobs'")
        return None, None
    reader = Reader(sink, check_expression, allow_background_steps=options.allow_background_steps)
    reader.read(root, reader.info("workflow-root-strict"))
    if root.kind != MAP:
        return root, None
    workflow = Converter(sink, check_expression, path, require_steps=options.require_steps).workflow(root)
    return root, workflow


def validate_workflow(
    text: str, path: str, *, options: LoadOptions | None = None
) -> tuple[Workflow | None, list[Problem]]:
    """Every problem in ``text`` (read as the workflow file ``path``), and the model if there are none.

    Problems are 1-based, sorted by position; messages are GitHub's where GitHub has one.
    Never raises for bad input.
    """
    opts = options or _DEFAULT
    sink = _Sink(path)
    try:
        root, workflow = _read(text, path, opts, sink)
        if workflow is not None and root is not None:
            from pheme.core.workflow._reusable import check_called_workflows

            check_called_workflows(workflow, root, sink, opts)
    except RecursionError:
        sink.at(1, 1, "Maximum object depth exceeded")
        workflow = None
    problems = sorted(sink.problems, key=lambda p: (p.file != path, p.file, p.line, p.col))
    return (None if problems else workflow), problems


def parse_workflow(text: str, path: str, *, options: LoadOptions | None = None) -> Workflow:
    """The model of a valid workflow; raises :class:`~pheme.errors.WorkflowError` listing every problem."""
    workflow, problems = validate_workflow(text, path, options=options)
    if problems or workflow is None:
        raise WorkflowError(problems or [Problem(path, 1, 1, "invalid workflow")])
    return workflow
