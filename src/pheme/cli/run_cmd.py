"""``pheme run``: run the workflows an event triggers, locally, like act.

Thin: flags -> :class:`pheme.services.local_run.LocalRunOptions` ->
:func:`trigger_local_runs`, with the terminal view as observer. Output:

- logs and progress go to stdout, or to stderr with ``--json`` (then stdout
  holds exactly one JSON document: ``{"runs": [...]}``);
- invalid workflow files are reported on stderr as ``file:line:col: message``
  while the valid ones still run;
- when no workflow is triggered, a message says why for each file (stderr) and
  the exit code is 0 (nothing failed; like act, which runs nothing and succeeds);
- ``--dry-run`` prints the plan (stdout, or ``{"dry_run": true, "runs": [...]}``
  with ``--json``), runs and records nothing, and exits 0, or 1 if a workflow
  file is invalid.

Dotenv files (``--secrets-file``, ``--env-file``, ``--var-file``,
``--input-file``) are read only when named: unlike act, which reads ``.env``,
``.secrets``, ``.vars`` and ``.input`` when present, a repository's own ``.env``
never changes a run silently. A flag on the command line wins over a file for
the same key. A malformed file is a usage error (exit 2) naming
``file:line:col`` and never a value.

Exit codes: 0 every run succeeded; 1 a run failed or a workflow file is invalid;
2 usage errors; 130 / 143 when interrupted by Ctrl-C / SIGTERM (the run is
recorded as cancelled). The first signal cancels gracefully (steps are
stopped, ``if: always()`` steps still run); a second one aborts at once; a
third exits without any cleanup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def _signals(cancellation: Any) -> tuple[dict[int, Any], list[int]]:
    """Install SIGINT/SIGTERM handlers; returns (previous handlers, signals received)."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"\npheme: {name}: cancelling (press Ctrl-C again to abort now)\n")
            cancellation.cancel(name)
        elif len(received) == 2:
            raise KeyboardInterrupt
        else:
            os._exit(128 + signum)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # ValueError: not the main thread (in-process tests)
            previous[sig] = signal.signal(sig, handler)
    return previous, received


def _read_dotenv_file(path: Path | None, flag: str, *, dashes: bool = False) -> dict[str, str]:
    """A dotenv file given with ``flag`` (nothing if not given); errors are usage errors, one line."""
    from pheme.core.dotenv import parse_dotenv
    from pheme.errors import ConfigError, UsageError

    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag} {path}: {getattr(exc, 'strerror', None) or 'not readable as UTF-8 text'}") from None
    try:
        return parse_dotenv(text, str(path), dashes=dashes)
    except ConfigError as exc:  # "file:line:col: message", never a value
        raise UsageError(str(exc)) from None


_NOT_IMPLICIT = " Only read when given (never .env implicitly); flags win over it."


def register(app: typer.Typer) -> None:
    """Add ``pheme run`` to ``app``."""

    @app.command("run")
    def run(
        event_arg: str | None = typer.Argument(None, metavar="[EVENT]", help="Event to simulate (default: push)."),
        event: str | None = typer.Option(None, "--event", help="Event to simulate (same as the argument)."),
        ref: str | None = typer.Option(
            None, "--ref", help="Ref the event is for: main, refs/heads/main, refs/tags/v1 (default: current branch; "
            "for pull_request the PR's head branch).",
        ),
        before: str | None = typer.Option(
            None, "--before", help="Commit before the push (default: HEAD's parent); paths filters use before..HEAD."
        ),
        event_file: Path | None = typer.Option(
            None, "--event-file", help="JSON payload merged into the generated github.event."
        ),
        inputs: list[str] = typer.Option([], "--input", help="workflow_dispatch input KEY=VALUE (repeatable)."),
        input_file: Path | None = typer.Option(
            None, "--input-file", help="workflow_dispatch inputs in dotenv format." + _NOT_IMPLICIT
        ),
        workflows: list[Path] = typer.Option([], "--workflow", "-W", help="Run only this workflow file (repeatable)."),
        jobs: list[str] = typer.Option([], "--job", "-j", help="Run only this job id and its needs (repeatable)."),
        matrix: list[str] = typer.Option(
            [], "--matrix", help="Run only the matrix combinations with KEY:VALUE (repeatable; a key given twice: "
            "either value). Keys a job's matrix lacks do not filter it.",
        ),
        secrets: list[str] = typer.Option(
            [], "--secret", "-s", help="Secret KEY=VALUE, or KEY to read it from the environment (repeatable)."
        ),
        secrets_file: Path | None = typer.Option(
            None, "--secrets-file", help="Secrets in dotenv format." + _NOT_IMPLICIT
        ),
        variables: list[str] = typer.Option([], "--var", help="Configuration variable KEY=VALUE (repeatable)."),
        var_file: Path | None = typer.Option(
            None, "--var-file", help="Configuration variables in dotenv format." + _NOT_IMPLICIT
        ),
        env: list[str] = typer.Option([], "--env", help="Environment variable KEY=VALUE for every job (repeatable)."),
        env_file: Path | None = typer.Option(
            None, "--env-file", help="Environment variables for every job in dotenv format." + _NOT_IMPLICIT
        ),
        max_jobs: int | None = typer.Option(
            None, "--jobs", min=1, help="Jobs run at the same time (default: number of CPUs)."
        ),
        working_tree: bool = typer.Option(
            False, "--working-tree", help="Run the files as they are, not the committed tree at HEAD."
        ),
        directory: Path = typer.Option(Path("."), "--directory", "-C", help="Run in this repository directory."),
        dry_run: bool = typer.Option(
            False, "--dry-run", "-n", help="Print what would run (workflows, jobs, matrix, steps); run and record nothing."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document (logs go to stderr)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Show only errors and the summary."),
    ) -> None:
        """Run the workflows that an event triggers, for the commit at HEAD.

        Exit codes: 0 all runs succeeded (or nothing was triggered), 1 a run failed or a
        workflow file is invalid, 2 bad usage, 130/143 interrupted (the run is recorded
        as cancelled). Every run is recorded: see 'pheme runs' and 'pheme logs'.
        With --dry-run nothing runs or is recorded: exit 0, or 1 if a workflow file is invalid.
        """
        import json

        from pheme.cli._view import make_view, write_problems
        from pheme.errors import PhemeError, UsageError
        from pheme.services.cancel import Cancellation
        from pheme.services.local_run import (
            LocalRunOptions,
            parse_matrix_filter,
            parse_pairs,
            plan_local_runs,
            trigger_local_runs,
        )

        if event_arg and event and event_arg != event:
            raise UsageError(f"two different events given: {event_arg} and {event}")
        # Files first, then the flags: a flag wins over a file for the same key.
        secret_values = _read_dotenv_file(secrets_file, "--secrets-file")
        secret_values.update(parse_pairs(secrets, "--secret", from_env=True, secret=True))
        input_values = _read_dotenv_file(input_file, "--input-file", dashes=True)
        input_values.update(parse_pairs(inputs, "--input"))
        var_values = _read_dotenv_file(var_file, "--var-file")
        var_values.update(parse_pairs(variables, "--var"))
        env_values = _read_dotenv_file(env_file, "--env-file")
        env_values.update(parse_pairs(env, "--env", from_env=True))
        options = LocalRunOptions(
            directory=directory,
            event=(event_arg or event or "push").strip(),
            ref=ref,
            before=before,
            event_file=event_file,
            inputs=input_values,
            workflows=tuple(workflows),
            jobs=tuple(jobs),
            secrets=secret_values,
            vars=var_values,
            env=env_values,
            max_parallel_jobs=max_jobs or os.cpu_count() or 2,
            working_tree=working_tree,
            matrix=parse_matrix_filter(matrix),
        )
        if dry_run:
            from pheme.cli._plan import write_plan

            plan = plan_local_runs(options, on_problem=lambda p: write_problems(sys.stderr, [p]))
            raise SystemExit(write_plan(plan, as_json=as_json, quiet=quiet))
        out = sys.stderr if as_json else sys.stdout
        view = make_view(out, quiet=quiet)
        cancellation = Cancellation()
        previous, received = _signals(cancellation)
        try:
            report = trigger_local_runs(
                options,
                observe=view.observer,
                cancel=cancellation,
                on_problem=lambda p: write_problems(sys.stderr, [p]),
            )
        except KeyboardInterrupt:
            view.close()
            sys.stderr.write("pheme: aborted (the run is recorded as cancelled)\n")
            raise SystemExit(128 + (received[0] if received else signal.SIGINT)) from None
        except PhemeError:
            raise
        except Exception as exc:
            # A bug, not a user error: the run is already recorded as failed. One line
            # unless PHEME_DEBUG asks for the traceback.
            view.close()
            if os.environ.get("PHEME_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            sys.stderr.write(f"pheme: internal error: {type(exc).__name__}: {first} (PHEME_DEBUG=1 shows details)\n")
            raise SystemExit(1) from None
        finally:
            view.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        if not report.outcomes and not report.cancelled and (report.not_triggered or not report.problems):
            sys.stderr.write(f"pheme: no workflow is triggered by {report.event} on {report.ref}\n")
            for skip in report.not_triggered:
                sys.stderr.write(f"  {skip.file}: {skip.reason}\n")
        else:
            view.summary(report)
        if as_json:
            from pheme.services.runs import run_to_json

            sys.stdout.write(json.dumps({"runs": [run_to_json(o.record) for o in report.outcomes]}) + "\n")
            sys.stdout.flush()
        if report.problems:
            sys.stderr.write(f"pheme: {len(report.problems)} problem(s) in workflow files (see above)\n")
        if report.cancelled or received:
            raise SystemExit(128 + (received[0] if received else signal.SIGINT))
        raise SystemExit(0 if report.succeeded else 1)
