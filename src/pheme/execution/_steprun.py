"""The runtime one step phase runs in: the implementation of :class:`~pheme.execution._steps.StepRuntime`.

It owns the per-step file commands: fresh ``GITHUB_OUTPUT``/``ENV``/``PATH``/
``STEP_SUMMARY``/``STATE`` files are created before the command and read
after it, and their effects are applied to the job (env and PATH for later
steps, the job summary) or kept on the step (outputs, state).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pheme.core.workflow.model import Defaults, Step
from pheme.errors import ExecutionError
from pheme.execution._commands import OutputProcessor, parse_key_value_file, parse_path_file
from pheme.execution._expr import EvalContext
from pheme.execution._process import run_process
from pheme.execution._steps import AnnotationLevel, JobStatusName
from pheme.execution.events import Annotation, LogLines, StepRef

if TYPE_CHECKING:
    from pheme.execution._job import JobRun

__all__ = ["StepRun"]

SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses step summaries over 1 MiB
_FILE_KINDS = (
    ("GITHUB_OUTPUT", "set_output"),
    ("GITHUB_ENV", "set_env"),
    ("GITHUB_PATH", "add_path"),
    ("GITHUB_STEP_SUMMARY", "step_summary"),
    ("GITHUB_STATE", "save_state"),
)


def now() -> datetime:
    return datetime.now(UTC)


class StepRun:
    def __init__(self, job: JobRun, step: Step, ref: StepRef) -> None:
        self.job = job
        self.step = step
        self.ref = ref
        self.env: dict[str, str] = {}
        self.display_env: Mapping[str, str] = {}
        self.expr: EvalContext = EvalContext(contexts={})
        self.defaults: Defaults = job.defaults
        self.workspace = job.shared.workspace
        self.temp = job.temp
        self.source = job.source
        self.timeout: float | None = None
        self.cancel: asyncio.Event | None = None
        self.outputs: dict[str, str] = {}
        self.state: dict[str, str] = {}
        self.interrupted = False
        self.timed_out = False
        self.cancelled = False
        self.failed = False

    # -- logging ----------------------------------------------------------
    def log(self, lines: list[str]) -> None:
        masker = self.job.masker
        if masker:
            lines = masker.mask("\n".join(lines)).split("\n")
        self.job.emit(LogLines(job=self.job.ref, lines=lines, step=self.ref))

    def _annotate(self, level: str, message: str, props: dict[str, str]) -> None:
        def num(key: str) -> int | None:
            value = props.get(key)
            return int(value) if value and value.strip().isdigit() else None

        title = props.get("title")
        self.job.emit(
            Annotation(
                job=self.job.ref,
                level=level,  # type: ignore[arg-type]
                message=message,
                file=props.get("file"),
                line=num("line"),
                col=num("col") if "col" in props else num("column"),
                title=self.job.masker.mask(title) if title else None,
            )
        )

    def annotate(self, level: AnnotationLevel, message: str) -> None:
        message = self.job.masker.mask(message)
        self.job.emit(LogLines(job=self.job.ref, lines=[f"##[{level}]{message}"], step=self.ref))
        self._annotate(level, message, {})

    # -- effects on the step and the job -----------------------------------
    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value

    def save_state(self, name: str, value: str) -> None:
        self.state[name] = value

    def add_mask(self, value: str) -> None:
        if value and value.strip():
            self.job.masker.add(value)

    def export_env(self, values: Mapping[str, str]) -> None:
        """Like ``core.exportVariable``: later steps (and this phase) see the values."""
        self.job.set_env(dict(values))
        self.env.update(values)

    def add_path(self, entry: str) -> None:
        """Like ``core.addPath``: prepended to PATH for later steps (and this phase)."""
        self.job.add_path(entry)
        old = self.env.get("PATH", "")
        self.env["PATH"] = entry + (os.pathsep + old if old else "")

    def job_status(self) -> JobStatusName:
        return self.job.status()

    def job_env(self) -> dict[str, str]:
        return dict(self.job.global_env)

    def child(
        self, step: Step, *, expr: EvalContext, step_env: Mapping[str, str], extra_env: Mapping[str, str]
    ) -> StepRun:
        """A runtime for a composite action's nested ``step``: same job, log
        (this step's ref), cancellation; its own env, outputs and state."""
        sr = StepRun(self.job, step, self.ref)
        sr.expr = expr
        sr.env = self.job.process_env(step_env, self.env.get("GITHUB_ACTION", "__composite"))
        sr.env.update(extra_env)
        sr.display_env = dict(expr.contexts.get("env") or {})
        sr.defaults = Defaults()
        sr.cancel = self.cancel
        minutes = step.timeout_minutes
        if isinstance(minutes, int | float) and minutes > 0:
            sr.timeout = float(minutes) * 60
        return sr

    def fail(self, message: str) -> None:
        """Log ``##[error]message`` and raise an error annotation; the step fails."""
        message = self.job.masker.mask(message)
        self.failed = True
        self.job.emit(LogLines(job=self.job.ref, lines=[f"##[error]{message}"], step=self.ref))
        self._annotate("error", message, {})

    # -- running ------------------------------------------------------------
    async def run_command(self, argv: list[str], *, cwd: str) -> int:
        job = self.job
        files = job.acquire_file_commands(_FILE_KINDS)
        env = dict(self.env)
        env.update(files)
        processor = OutputProcessor(
            masker=job.masker,
            emit=lambda lines: job.emit(LogLines(job=job.ref, lines=lines, step=self.ref)),
            annotate=self._annotate,
            debug=job.shared.debug,
            allow_unsecure=env.get("ACTIONS_ALLOW_UNSECURE_COMMANDS", "").lower() == "true",
        )
        self.interrupted = False
        try:
            result = await run_process(
                argv,
                env=env,
                cwd=cwd,
                output=processor,
                timeout=self.timeout,
                cancel=self.cancel,
                grace=job.shared.request.kill_grace_seconds,
            )
        except OSError as exc:
            self.fail(f"An error occurred trying to start process '{argv[0]}' in '{cwd}': {exc.strerror}")
            self.interrupted = True
            return 127
        job.process_groups.append(result.pid)
        try:
            self._apply_files(files, processor.result.outputs, processor.result.state)
        except ExecutionError as exc:
            self.fail(str(exc))
        finally:
            job.release_file_commands(files)
        commands = processor.result
        if commands.env:
            job.set_env(commands.env)
        for entry in commands.path:
            job.add_path(entry)
        if commands.errors:
            self.failed = True
        code = result.exit_code
        if code < 0:
            code = 128 - code  # killed by signal N: report like a shell does
        if result.reason == "timeout":
            self.timed_out = self.interrupted = True
            minutes = (self.timeout or 0) / 60
            self.fail(f"The action '{self.ref.name}' has timed out after {minutes:g} minutes.")
        elif result.reason == "cancelled":
            self.cancelled = self.interrupted = True
            self.log(["##[error]The operation was canceled."])
        if self.interrupted and code == 0:
            code = 128 + signal.SIGTERM
        return code

    def _apply_files(self, files: dict[str, str], outputs: dict[str, str], state: dict[str, str]) -> None:
        job = self.job

        def read(var: str) -> str:
            # Most steps write none of these files: a stat is cheaper than a read.
            if os.stat(files[var]).st_size == 0:
                return ""
            with open(files[var], "rb") as f:
                return f.read().decode("utf-8", "replace")

        outputs.update(parse_key_value_file(read("GITHUB_OUTPUT"), "set_output"))
        self.outputs.update(outputs)
        state.update(parse_key_value_file(read("GITHUB_STATE"), "save_state"))
        self.state.update(state)
        new_env = parse_key_value_file(read("GITHUB_ENV"), "set_env")
        if new_env:
            job.set_env(new_env)
        for entry in parse_path_file(read("GITHUB_PATH")):
            job.add_path(entry)
        size = os.path.getsize(files["GITHUB_STEP_SUMMARY"])
        if size > SUMMARY_LIMIT:
            raise ExecutionError(
                f"$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k, got {size // 1024}k."
            )
        if size:
            job.add_summary(job.masker.mask(read("GITHUB_STEP_SUMMARY")))
