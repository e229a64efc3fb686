"""``pheme runs``, ``pheme runs show ID`` and ``pheme logs ID``: the recorded run history.

Thin: open the store, ask it, print. ``--json`` prints the same run objects as
``pheme run --json`` (see :mod:`pheme.services.runs`). Logs are the stored,
already-masked text; ``--follow`` streams new lines until the run completes.
A run re-run on the server has several attempts: ``show`` and ``logs`` show
the latest unless ``--attempt N`` is given (a job id of any attempt works too).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from pheme.errors import UsageError

if TYPE_CHECKING:
    from pheme.core.runs import RunRecord

__all__ = ["register"]


def _store() -> Any:
    from pheme.storage import open_store

    return open_store()


def _status(run: RunRecord) -> str:
    return run.conclusion.value if run.conclusion is not None else run.status.value


def _when(run: RunRecord) -> str:
    moment = run.started_at or run.created_at
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _took(start: Any, end: Any) -> str:
    from pheme.cli._view import fmt_duration, seconds

    return fmt_duration(seconds(start, end))


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``pheme runs`` (with ``show``) and ``pheme logs`` to ``app``."""
    runs_app = typer.Typer(
        name="runs",
        help="List recorded runs (newest first); 'pheme runs show ID' for one run.",
        invoke_without_command=True,
        no_args_is_help=False,
        add_completion=False,
        rich_markup_mode=None,
    )

    @runs_app.callback(invoke_without_command=True)
    def runs(
        ctx: typer.Context,
        workflow: str | None = typer.Option(
            None, "--workflow", "-W", help="Only runs of this workflow (file path, file name or name)."
        ),
        limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs to list."),
        status: str | None = typer.Option(
            None, "--status", "-s",
            help="Only runs with this status (queued, in_progress, waiting, completed) "
            "or conclusion (success, failure, cancelled, skipped).",
        ),
        branch: str | None = typer.Option(None, "--branch", "-b", help="Only runs of this branch (refs/heads/NAME)."),
        event: str | None = typer.Option(None, "--event", "-e", help="Only runs triggered by this event (push, ...)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """List recorded runs, newest first; the filters combine."""
        if ctx.invoked_subcommand is not None:
            return
        import json

        from pheme.services.runs import run_to_json, status_filter

        state, conclusion = status_filter(status)
        ref = _branch_ref(branch)
        if event is not None and not event.strip():
            raise UsageError("--event: give an event name (push, pull_request, workflow_dispatch, ...)")
        with _store() as store:
            found = store.list_runs(
                workflow, limit=limit, status=state, conclusion=conclusion,
                event=event.strip() if event else None, ref=ref,
            )
            if as_json:
                full = [store.get_run(r.id) for r in found]
                sys.stdout.write(json.dumps({"runs": [run_to_json(r) for r in full]}) + "\n")
                return
        if not found:
            if status or branch or event:
                given = [("workflow", workflow), ("status", status), ("branch", branch), ("event", event)]
                sys.stdout.write("no runs match " + ", ".join(f"{k} {v}" for k, v in given if v) + "\n")
            else:
                where = f" of workflow {workflow}" if workflow else ""
                sys.stdout.write(f"no runs{where} recorded yet (pheme run records one)\n")
            return
        rows = [
            [str(r.id), f"#{r.number}", r.workflow, r.event, r.ref.removeprefix("refs/heads/"), r.sha[:7],
             _status(r), _when(r), _took(r.started_at, r.finished_at)]
            for r in found
        ]
        sys.stdout.write(_table(rows, ["ID", "NUM", "WORKFLOW", "EVENT", "REF", "SHA", "STATUS", "STARTED", "TIME"]) + "\n")

    @runs_app.command("show")
    def show(
        run_id: int = typer.Argument(..., metavar="ID", help="Run id (first column of 'pheme runs')."),
        attempt: int | None = typer.Option(None, "--attempt", min=1, help="Show this attempt (default: the latest)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Show one run: its attempt, jobs, steps, outcomes and outputs."""
        import json

        from pheme.services.runs import run_to_json

        with _store() as store:
            run = store.get_run(run_id) if attempt is None else store.get_attempt(run_id, attempt)
            latest = run.attempt if attempt is None else store.get_run(run_id).attempt
        if as_json:
            sys.stdout.write(json.dumps(run_to_json(run)) + "\n")
            return
        of = f" of {latest}" if latest > 1 else ""
        out = [
            f"run {run.id}: {run.workflow} #{run.number} ({run.file}) · attempt {run.attempt}{of}",
            f"  event {run.event} · {run.ref} · {run.sha[:12]}",
            f"  {_status(run)}" + (f" in {_took(run.started_at, run.finished_at)}" if run.finished_at else "")
            + (f" · {run.error}" if run.error else ""),
        ]
        if run.inputs:
            out.append("  inputs: " + ", ".join(f"{k}={v}" for k, v in run.inputs.items()))
        for job in run.jobs:
            jstat = job.conclusion.value if job.conclusion else job.status.value
            if job.reused:
                jstat += " (carried over from an earlier attempt)"
            out.append(f"\n  {job.name}  [{job.key}, job id {job.id}]  {jstat}  {_took(job.started_at, job.finished_at)}".rstrip())
            for step in job.steps:
                sstat = step.conclusion.value if step.conclusion else step.status.value
                if step.outcome is not None and step.conclusion is not None and step.outcome != step.conclusion:
                    sstat += f" (outcome {step.outcome.value})"
                label = f" ({step.step_id})" if step.step_id else ""
                out.append(f"    {step.number:>2}. {step.name}{label}  {sstat}  {_took(step.started_at, step.finished_at)}".rstrip())
                for key, value in step.outputs.items():
                    out.append(f"          {key} = {value}")
            for key, value in job.outputs.items():
                out.append(f"    output {key} = {value}")
        sys.stdout.write("\n".join(out) + "\n")

    app.add_typer(runs_app)

    @app.command("logs")
    def logs(
        run_id: int = typer.Argument(..., metavar="ID", help="Run id (see 'pheme runs')."),
        job: str | None = typer.Option(None, "--job", "-j", help="Job key (build), name (build (3.12)) or job id."),
        attempt: int | None = typer.Option(None, "--attempt", min=1, help="Logs of this attempt (default: the latest)."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until the run completes."),
        tail: str | None = typer.Option(
            None, "--tail", metavar="N", help="Only the last N lines of each job's log (with --follow: then new ones)."
        ),
        lines_range: str | None = typer.Option(
            None, "--lines", metavar="A:B",
            help="Only lines A to B-1 of each job's log, counted from 0 (100:, :50 and 100:150 work).",
        ),
    ) -> None:
        """Print a run's stored log (secrets are masked); all jobs unless --job."""
        from pheme.services.runs import job_selector, line_range, log_lines, select_jobs, tail_count

        last, span = tail_count(tail), line_range(lines_range)
        with _store() as store:
            selector = job_selector(job)
            run = store.get_run(run_id)
            if attempt is None and isinstance(selector, int) and all(j.id != selector for j in run.jobs):
                attempt = _attempt_of(store, run_id, selector)
            if attempt is not None and attempt != run.attempt:
                run = store.get_attempt(run_id, attempt)
                follow = False  # an earlier attempt has ended: nothing more will come
            selected = select_jobs(run, selector)
            # One job asked for: its lines as stored. Several (all, or a matrix key): "[job] line".
            named = selector is None or len(selected) > 1
            try:
                lines = log_lines(store, run, selected, follow=follow, named=named, tail=last, lines=span)
                _print_lines(lines, batch_size=1 if follow else 2048)
            except KeyboardInterrupt:
                raise SystemExit(130) from None
            except BrokenPipeError:
                raise SystemExit(0) from None


def _branch_ref(branch: str | None) -> str | None:
    """``--branch main`` matches ``refs/heads/main``; a full ref (``refs/tags/v1``) matches as given."""
    if branch is None:
        return None
    name = branch.strip()
    if not name:
        raise UsageError("--branch: give a branch name (e.g. main)")
    return name if name.startswith("refs/") else f"refs/heads/{name}"


def _attempt_of(store: Any, run_id: int, job_id: int) -> int | None:
    """The attempt a job id of the run belongs to (None if it is not the run's)."""
    from pheme.storage import NotFoundError

    try:
        found = store.get_job(job_id)
    except NotFoundError:
        return None
    return int(found.attempt) if found.run_id == run_id else None


def _print_lines(lines: Any, *, batch_size: int) -> None:
    """Write ``(name, line)`` pairs in batches, as ``[name] line`` when a name is given."""
    out = sys.stdout
    batch: list[str] = []
    for line in lines:
        name, text = line
        batch.append(f"[{name}] {text}\n" if name is not None else text + "\n")
        if len(batch) >= batch_size:
            out.write("".join(batch))
            out.flush()
            batch.clear()
    if batch:
        out.write("".join(batch))
    out.flush()
