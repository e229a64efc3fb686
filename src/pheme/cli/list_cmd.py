"""``pheme list``: the repository's workflows, their jobs, and whether an event triggers them.

Thin by design: find the files, parse each with the workflow loader, ask
:func:`pheme.core.planning.match_event`, print. Heavy imports (the loader,
Rich, git) happen inside the command so ``pheme --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from pheme.core.planning import Event

__all__ = ["JobListing", "WorkflowListing", "collect", "register"]

WORKFLOWS_DIR = Path(".github") / "workflows"


@dataclass(frozen=True, slots=True)
class JobListing:
    id: str
    name: str
    needs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WorkflowListing:
    """One workflow file as ``pheme list`` shows it. ``reason`` is the first
    problem of an invalid file, or why a valid one does not trigger."""

    file: str
    name: str | None
    valid: bool
    triggered: bool
    reason: str | None
    jobs: tuple[JobListing, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "name": self.name,
            "valid": self.valid,
            "triggered": self.triggered,
            "reason": self.reason,
            "jobs": [{"id": j.id, "name": j.name, "needs": list(j.needs)} for j in self.jobs],
        }


def _is_workflow_file(path: Path) -> bool:
    return path.is_file() and path.suffix in (".yml", ".yaml")


def _find_files(paths: list[Path], cwd: Path) -> tuple[Path, list[Path]]:
    """(base directory that file names are shown relative to, workflow files)."""
    from pheme.errors import ConfigError, UsageError
    from pheme.services.git import open_repo

    def repo_root(where: Path) -> Path:
        try:
            return open_repo(where).root
        except ConfigError:
            return where

    if not paths:
        root = repo_root(cwd)
        folder = root / WORKFLOWS_DIR
        return root, sorted(p for p in folder.glob("*") if _is_workflow_file(p)) if folder.is_dir() else []

    files: list[Path] = []
    base: Path | None = None
    for given in paths:
        path = given if given.is_absolute() else cwd / given
        if path.is_file():
            files.append(path)
            base = base or repo_root(path.parent)
        elif path.is_dir():
            folder = path / WORKFLOWS_DIR if (path / WORKFLOWS_DIR).is_dir() else path
            files.extend(sorted(p for p in folder.glob("*") if _is_workflow_file(p)))
            base = base or repo_root(path)
        else:
            raise UsageError(f"no such file or directory: {given}")
    return base or cwd, files


def _display_path(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _list_one(path: Path, shown: str, event: Event) -> WorkflowListing:
    from pheme.core.planning import match_event
    from pheme.core.workflow import parse_workflow
    from pheme.errors import PlanningError, WorkflowError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return WorkflowListing(shown, None, False, False, f"{shown}: cannot read: {exc}")
    try:
        workflow = parse_workflow(text, shown)
    except WorkflowError as exc:
        first = str(exc.problems[0]) if exc.problems else str(exc)
        return WorkflowListing(shown, None, False, False, first)
    try:
        decision = match_event(workflow, event)
    except PlanningError as exc:  # e.g. an invalid filter pattern the loader let through
        return WorkflowListing(shown, workflow.display_name, False, False, f"{shown}: {exc}")
    jobs = tuple(
        JobListing(job_id, job.display_name, tuple(job.needs)) for job_id, job in workflow.jobs.items()
    )
    return WorkflowListing(
        shown,
        workflow.display_name,
        True,
        decision.triggered,
        None if decision.triggered else decision.reason,
        jobs,
    )


def collect(
    paths: list[Path], event_name: str, ref: str | None, cwd: Path
) -> tuple[Event, list[WorkflowListing]]:
    """Find, parse and match every workflow. ``ref`` None = the current branch (if any)."""
    from pheme.core.planning import Event, known_events, normalize_ref
    from pheme.errors import ConfigError, UsageError
    from pheme.services.git import open_repo

    if event_name not in known_events():
        raise UsageError(f"unknown event '{event_name}' (for example: push, pull_request, workflow_dispatch)")
    base, files = _find_files(paths, cwd)
    if ref is None:
        try:
            branch = open_repo(base).current_branch()
        except ConfigError:
            branch = None
        ref = f"refs/heads/{branch}" if branch else None
    full_ref = normalize_ref(ref)
    base_ref = full_ref if event_name in ("pull_request", "pull_request_target", "merge_group") else None
    event = Event(name=event_name, ref=full_ref, base_ref=base_ref)
    return event, [_list_one(path, _display_path(path, base), event) for path in files]


def _status(item: WorkflowListing) -> str:
    if not item.valid:
        return f"invalid: {item.reason}"
    return "triggered" if item.triggered else f"not triggered: {item.reason}"


def _job_line(job: JobListing) -> str:
    label = job.id if job.name == job.id else f"{job.id} ({job.name})"
    return f"{label} needs {', '.join(job.needs)}" if job.needs else label


def _print_plain(event: Event, items: list[WorkflowListing]) -> None:
    for item in items:
        title = f"{item.file}: {item.name}" if item.valid and item.name != item.file else item.file
        typer.echo(f"{title} — {_status(item)}")
        for job in item.jobs:
            typer.echo(f"  {_job_line(job)}")


def render_table(event: Event, items: list[WorkflowListing], console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    where = f" {event.ref}" if event.ref else ""
    table = Table(title=f"Workflows for {event.name}{where}", title_justify="left")
    table.add_column("Workflow", no_wrap=True)
    table.add_column("Jobs", overflow="fold")
    table.add_column("Trigger", overflow="fold")
    for item in items:
        title = Text(item.file)
        if item.valid and item.name and item.name != item.file:
            title.append(f"\n{item.name}", style="bold")
        if not item.valid:
            status = Text(f"invalid\n{item.reason}", style="red")
        elif item.triggered:
            status = Text("yes", style="green")
        else:
            status = Text(f"no: {item.reason}", style="yellow")
        jobs = Text("\n".join(_job_line(job) for job in item.jobs))
        table.add_row(title, jobs, status)
    console.print(table)


def _list(paths: list[Path], event_name: str, ref: str | None, as_json: bool) -> int:
    event, items = collect(paths, event_name, ref, Path.cwd())
    if as_json:
        doc = {"event": event.name, "ref": event.ref, "workflows": [item.to_json() for item in items]}
        typer.echo(json.dumps(doc, indent=2))
    elif not items:
        typer.echo("no workflow files found (looked for .github/workflows/*.yml)")
    elif sys.stdout.isatty():
        from rich.console import Console

        render_table(event, items, Console())
    else:
        _print_plain(event, items)
    return 1 if any(not item.valid for item in items) else 0


def register(app: typer.Typer) -> None:
    """Add ``pheme list`` to ``app``."""

    @app.command("list")
    def list_command(
        paths: list[Path] = typer.Argument(
            None, help="Workflow files or directories (default: the repository's .github/workflows)."
        ),
        event: str = typer.Option("push", "--event", "-e", help="Event to test the triggers against."),
        ref: str | None = typer.Option(
            None, "--ref", help="Git ref, e.g. main or refs/tags/v1 (default: the current branch)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """List workflows and their jobs, and whether EVENT on REF would trigger each."""
        code = _list(list(paths or []), event, ref, as_json)
        if code:
            raise typer.Exit(code)
