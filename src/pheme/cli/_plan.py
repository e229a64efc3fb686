"""``pheme run --dry-run``'s output: what would run, as text or one JSON document.

Text, one block per triggered workflow (job lines read like ``pheme list``'s)::

    .github/workflows/ci.yml: CI — would run for push on refs/heads/main
      build
        1. Greet
      test needs build
        matrix: test (3.11), test (3.12)
        1. Run pytest

Untriggered workflows are explained on stderr, as in a real run. The exit
code: 0 when every workflow file is valid, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pheme.services.local_run import LocalPlanReport, PlannedJob, PlannedRun

__all__ = ["plan_lines", "write_plan"]


def _job_lines(job: PlannedJob) -> list[str]:
    label = job.id if job.name == job.id else f"{job.id} ({job.name})"
    head = f"  {label} needs {', '.join(job.needs)}" if job.needs else f"  {label}"
    if job.if_ is not None:
        head += f" [if: {job.if_}]"
    lines = [head]
    if job.skipped:
        lines.append(f"    skipped: {job.skipped}")
        return lines
    if isinstance(job.matrix, str):
        lines.append(f"    matrix decided when the job runs: {job.matrix}")
    elif job.matrix is not None:
        lines.append(f"    matrix: {', '.join(job.instances)}")
    if job.uses:
        lines.append(f"    calls {job.uses}")
    lines.extend(f"    {n}. {name}" for n, name in enumerate(job.steps, 1))
    return lines


def plan_lines(run: PlannedRun) -> list[str]:
    """One workflow's plan as text lines."""
    title = f"{run.file}: {run.workflow}" if run.workflow != run.file else run.file
    lines = [f"{title} — would run for {run.event} on {run.ref}"]
    for job in run.jobs:
        lines.extend(_job_lines(job))
    return lines


def write_plan(report: LocalPlanReport, *, as_json: bool, quiet: bool = False) -> int:
    """Print the plan (stdout) and the notes (stderr); return the exit code."""
    if as_json:
        doc = {"dry_run": True, "runs": [run.to_json() for run in report.runs]}
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        for index, run in enumerate(report.runs):
            sys.stdout.write(("\n" if index else "") + "\n".join(plan_lines(run)) + "\n")
    if not report.runs and not report.problems:
        sys.stderr.write(f"pheme: no workflow is triggered by {report.event} on {report.ref}\n")
    if not report.runs:
        for skip in report.not_triggered:
            sys.stderr.write(f"  {skip.file}: {skip.reason}\n")
    elif not quiet:
        for skip in report.not_triggered:
            sys.stderr.write(f"pheme: not triggered: {skip.file}: {skip.reason}\n")
    if report.problems:
        sys.stderr.write(f"pheme: {len(report.problems)} problem(s) in workflow files (see above)\n")
    if not quiet:
        count = len(report.runs)
        sys.stderr.write(
            f"pheme: dry run: {count} workflow{'' if count == 1 else 's'} would run; nothing was run or recorded\n"
        )
    sys.stdout.flush()
    return 0 if report.valid else 1
