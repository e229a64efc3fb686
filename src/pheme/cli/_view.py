"""What ``pheme run`` shows while it runs, and the summary at the end.

Two views, one observer interface (:mod:`pheme.execution.events`):

Both FOLD groups as GitHub's log view does: ``##[group]Title`` shows as
``[job] ▸ Title`` and the group's lines are hidden, unless the step then fails
(then its last 200 hidden lines are printed before the ✗ line). The runner
opens a group per step (``Run <script>``, with the script, shell and env), so
a step shows as its ``▸ Run ...`` title, its own output and its ✓/✗ line.
Everything is stored: ``pheme logs`` prints the full text.

- **Plain** (output is not a terminal, e.g. a pipe, a file or CI): one line per
  log line, ``[job] line``; step and job results as ``[job] ✓ Step (1.2s)``.
  Output is written in batches (~64 KB or every 0.1 s, a timer thread flushes
  what a quiet step left), so a step printing millions of lines costs one
  ``write`` per batch.
- **Live** (a terminal): a Rich display of the jobs, their steps and timings,
  redrawn at most 8 times a second, with log lines printed above it. Log
  lines are printed at most every 0.1 s; when more than 100 lines arrive in
  that time, only the last 100 are shown, after a line saying how many were
  skipped and how to read them all (``pheme logs``). That keeps the terminal
  from ever slowing the run down.

``--quiet`` shows only error annotations and the summary. Rich is imported
only when the live view is used.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from pheme.execution.events import (
    Annotation,
    Event,
    JobFinished,
    JobStarted,
    LogBlock,
    LogLines,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)

if TYPE_CHECKING:
    from pheme.core.runs import RunRecord
    from pheme.core.workflow.model import Workflow
    from pheme.services.local_run import LocalRunReport

__all__ = ["LiveView", "PlainView", "View", "make_view"]

ICONS = {"success": "✓", "failure": "✗", "cancelled": "⊘", "skipped": "-", None: "…"}
STYLES = {"success": "green", "failure": "red", "cancelled": "yellow", "skipped": "dim", None: "cyan"}
_ANNOTATION_PREFIX = {
    "##[error]": "Error: ",
    "##[warning]": "Warning: ",
    "##[notice]": "Notice: ",
    "##[debug]": "Debug: ",
}
FLUSH_BYTES = 64 * 1024
FLUSH_SECONDS = 0.1
LIVE_MAX_LINES = 100
FOLDED_KEEP = 200


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def fmt_duration(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _has_markers(lines: Sequence[str]) -> bool:
    """Whether any line is a ``##[...]`` marker (group, annotation), checked at C speed."""
    if isinstance(lines, LogBlock):  # a block of output: look at it whole, never split it
        return lines.has_line_starting("##[")
    return bool(lines) and (lines[0].startswith("##[") or "\n##[" in "\n".join(lines))


_MARKER_AFTER_NEWLINE = re.compile(r"\n##\[")


def _pieces(lines: Sequence[str]) -> Iterator[tuple[bool, str]]:
    """``(is_marker, text)`` in order: each ``##[...]`` line alone, and between them the
    ordinary lines — for a block, whole runs of them joined by ``\\n`` (a group header
    in a MiB of output must not cost a Python step per line)."""
    if not isinstance(lines, LogBlock):
        for line in lines:
            yield line.startswith("##["), line
        return
    text = lines.text
    starts = [m.start() + 1 for m in _MARKER_AFTER_NEWLINE.finditer(text)]
    if text.startswith("##["):
        starts.insert(0, 0)
    pos = 0
    for start in starts:
        if start > pos:
            yield False, text[pos : start - 1]
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield True, text[start:end]
        pos = end + 1
    if pos <= len(text):
        yield False, text[pos:]


def _last(lines: Sequence[str], n: int) -> Sequence[str]:
    """The last ``n`` of ``lines`` (a block's found from its end, not by splitting it all)."""
    return lines.tail(n) if isinstance(lines, LogBlock) else lines[-n:]


def _annotation(line: str) -> str | None:
    """``##[error]msg`` -> ``Error: msg``; None for ordinary lines."""
    for marker, label in _ANNOTATION_PREFIX.items():
        if line.startswith(marker):
            return label + line[len(marker) :]
    return None


class View:
    """Base: per-run observers, problems, and the final summary."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self._run: RunRecord | None = None

    def observer(self, record: RunRecord, workflow: Workflow) -> Any:
        self._run = record
        return self

    def __call__(self, event: Event) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        """Stop any live display (idempotent)."""

    def summary(self, report: LocalRunReport) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# ------------------------------------------------------------------------ plain


@dataclass
class _JobState:
    started: datetime | None = None
    steps: dict[int, datetime] = field(default_factory=dict)
    in_group: bool = False
    folded: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=FOLDED_KEEP))
    folded_count: int = 0

    def take_folded(self, failed: bool) -> tuple[int, list[str]]:
        """(lines dropped, lines kept) of the step's folded groups if it failed; resets."""
        kept = list(self.folded) if failed else []
        dropped = self.folded_count - len(kept) if failed else 0
        self.folded.clear()
        self.folded_count = 0
        self.in_group = False
        return dropped, kept


class PlainView(View):
    """Line-oriented output for pipes, files and CI logs."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        super().__init__(stream, quiet=quiet)
        self._buffer: list[str] = []
        self._size = 0
        self._last_flush = time.monotonic()
        self._jobs: dict[str, _JobState] = {}
        # Writes happen on the runner's thread in batches; a small timer thread
        # flushes what is left when the output goes quiet (a step that prints
        # one line, then sleeps, must still show that line at once).
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._timer: threading.Thread | None = None

    def _emit(self, text: str) -> None:
        with self._lock:
            self._buffer.append(text)
            self._size += len(text)
            due = self._size >= FLUSH_BYTES or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        if due:
            self.flush()
        elif self._timer is None and not self._closed.is_set():
            self._timer = threading.Thread(target=self._tick, name="pheme-view-flush", daemon=True)
            self._timer.start()

    def _tick(self) -> None:
        while not self._closed.wait(FLUSH_SECONDS):
            if self._buffer and time.monotonic() - self._last_flush >= FLUSH_SECONDS:
                self.flush()

    def flush(self) -> None:
        with self._lock:
            data = "".join(self._buffer)
            self._buffer.clear()
            self._size = 0
            self._last_flush = time.monotonic()
            if data:
                try:
                    self.stream.write(data)
                    self.stream.flush()
                except (BrokenPipeError, ValueError, OSError):
                    pass  # the reader went away (| head): keep running, stop printing

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogLines):
            self._log(event)
        elif isinstance(event, StepStarted):
            # No line of its own: the step's "##[group]Run ..." title says it started.
            self._jobs.setdefault(event.job.key, _JobState()).steps[event.step.number] = event.at
        elif isinstance(event, StepFinished):
            state = self._jobs.setdefault(event.job.key, _JobState())
            started = state.steps.get(event.step.number)
            dropped, folded = state.take_folded("failure" in (event.outcome, event.conclusion))
            if not self.quiet:
                prefix = f"[{event.job.key}] "
                if dropped:
                    self._emit(f"{prefix}… {dropped} earlier lines of folded groups not shown\n")
                if folded:
                    self._emit("".join(f"{prefix}  {line}\n" for line in folded))
                self._emit(f"{prefix}{_step_line(event, seconds(started, event.at))}\n")
            self.flush()
        elif isinstance(event, JobStarted):
            self._jobs.setdefault(event.job.key, _JobState()).started = event.at
        elif isinstance(event, JobFinished):
            state = self._jobs.get(event.job.key, _JobState())
            if not self.quiet or event.conclusion == "failure":
                self._emit(f"[{event.job.key}] {_job_line(event, seconds(state.started, event.at))}\n")
            self.flush()
        elif isinstance(event, Annotation):
            pass  # shown from its ##[error] log line
        elif isinstance(event, RunStarted):
            if not self.quiet and self._run is not None:
                self._emit(f"▶ {event.workflow} #{self._run.number} ({event.file}) · run {self._run.id}\n")
            self.flush()
        elif isinstance(event, RunFinished):
            self.flush()

    def _log(self, event: LogLines) -> None:
        prefix = f"[{event.job.key}] "
        lines = event.lines
        marked = _has_markers(lines)
        if self.quiet:
            if marked:
                errors = [_annotation(x) for m, x in _pieces(lines) if m and x.startswith("##[error]")]
                if errors:
                    self._emit("".join(f"{prefix}{e}\n" for e in errors))
            return
        state = self._jobs.setdefault(event.job.key, _JobState())
        if not marked:  # the common case, at C speed: no per-line Python
            if state.in_group:
                state.folded.extend(_last(lines, FOLDED_KEEP))
                state.folded_count += len(lines)
            elif isinstance(lines, LogBlock):
                self._emit(prefix + lines.text.replace("\n", "\n" + prefix) + "\n")
            elif lines:
                self._emit(prefix + ("\n" + prefix).join(lines) + "\n")
            return
        out = []
        for marker, piece in _pieces(lines):
            if marker:
                if piece.startswith("##[group]"):
                    state.in_group = True
                    out.append(f"{prefix}▸ {piece[9:]}\n")
                    continue
                if piece.startswith("##[endgroup]"):
                    state.in_group = False
                    continue
                label = _annotation(piece)
                if label is not None:
                    out.append(f"{prefix}{label}\n")
                    continue
            if state.in_group:
                run = LogBlock(piece)
                state.folded.extend(run.tail(FOLDED_KEEP))
                state.folded_count += len(run)
            else:
                out.append(prefix + piece.replace("\n", "\n" + prefix) + "\n")
        if out:
            self._emit("".join(out))

    def close(self) -> None:
        self._closed.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None
        self.flush()

    def summary(self, report: LocalRunReport) -> None:
        self.close()
        lines = summary_lines(report)
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()


def _step_line(event: StepFinished, took: float | None) -> str:
    icon = ICONS.get(event.conclusion, "?")
    notes = []
    if took is not None:
        notes.append(fmt_duration(took))
    if event.outcome != event.conclusion:
        notes.append(f"{event.outcome}, continue-on-error")
    if event.conclusion in ("skipped", "cancelled"):
        notes.append(event.conclusion)
    return f"{icon} {event.step.name}" + (f" ({', '.join(notes)})" if notes else "")


_JOB_WORDS = {"success": "succeeded", "failure": "failed", "cancelled": "cancelled", "skipped": "skipped"}


def _job_line(event: JobFinished, took: float | None) -> str:
    word = _JOB_WORDS.get(event.conclusion, event.conclusion)
    extra = []
    if took is not None and event.started:
        extra.append(fmt_duration(took))
    if event.reason:
        extra.append(event.reason)
    return f"{ICONS.get(event.conclusion, '?')} job {word}" + (f" ({'; '.join(extra)})" if extra else "")


def summary_lines(report: LocalRunReport) -> list[str]:
    """The plain summary: one line per run, then one per job; hints for failures."""
    out: list[str] = []
    for outcome in report.outcomes:
        run = outcome.record
        conclusion = run.conclusion.value if run.conclusion else "in progress"
        took = fmt_duration(seconds(run.started_at or run.created_at, run.finished_at))
        out.append("")
        out.append(
            f"{ICONS.get(conclusion, '?')} {run.workflow} #{run.number} · {run.file} · run {run.id} · {conclusion}"
            + (f" in {took}" if took else "")
        )
        width = max((len(j.name) for j in run.jobs), default=0)
        for job in run.jobs:
            jc = job.conclusion.value if job.conclusion else None
            duration = fmt_duration(seconds(job.started_at, job.finished_at))
            out.append(f"  {ICONS.get(jc, '?')} {job.name.ljust(width)}  {(jc or 'unfinished'):<9}  {duration}".rstrip())
        failed = [j for j in run.jobs if j.conclusion is not None and j.conclusion.value == "failure"]
        for job in failed[:3]:
            out.append(f"  logs: pheme logs {run.id} --job {_job_arg(run, job)}")
    return out


def _job_arg(run: RunRecord, job: Any) -> str:
    """How to name ``job`` on the command line: its key if unique, else its quoted name."""
    import shlex

    if sum(1 for j in run.jobs if j.key == job.key) == 1:
        return shlex.quote(job.key)
    return shlex.quote(job.name)


# ------------------------------------------------------------------------- live


@dataclass
class _LiveStep:
    name: str
    started: float | None = None
    took: float | None = None
    conclusion: str | None = None


@dataclass
class _LiveJob:
    key: str
    name: str
    started: float = field(default_factory=time.monotonic)
    took: float | None = None
    conclusion: str | None = None
    steps: dict[int, _LiveStep] = field(default_factory=dict)
    folded: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=FOLDED_KEEP))
    folded_count: int = 0
    in_group: bool = False


class LiveView(View):
    """A Rich live display of jobs and steps, with log lines printed above it."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        super().__init__(stream, quiet=quiet)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self._lock = threading.Lock()
        self._jobs: dict[str, _LiveJob] = {}
        self._pending: collections.deque[tuple[str, str]] = collections.deque(maxlen=LIVE_MAX_LINES)
        self._pending_total = 0
        self._last_flush = time.monotonic()
        self._title = ""
        self._live = Live(
            _Renderable(self), console=self.console, refresh_per_second=8, transient=True, redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live_started = False

    def observer(self, record: RunRecord, workflow: Workflow) -> Any:
        super().observer(record, workflow)
        with self._lock:
            self._jobs.clear()
            self._title = f"{workflow.display_name} #{record.number} · run {record.id}"
        if not self._live_started:
            self._live.start()
            self._live_started = True
        return self

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogLines):
            self._log(event)
            return
        with self._lock:
            if isinstance(event, JobStarted):
                self._jobs[event.job.key] = _LiveJob(event.job.key, event.job.name)
            elif isinstance(event, StepStarted):
                job = self._job(event.job.key, event.job.name)
                job.steps[event.step.number] = _LiveStep(event.step.name, time.monotonic())
            elif isinstance(event, StepFinished):
                job = self._job(event.job.key, event.job.name)
                step = job.steps.setdefault(event.step.number, _LiveStep(event.step.name))
                step.conclusion = event.conclusion
                if step.started is not None:
                    step.took = time.monotonic() - step.started
                folded = list(job.folded) if event.conclusion == "failure" or event.outcome == "failure" else []
                dropped = job.folded_count - len(folded) if folded else 0
                job.folded.clear()
                job.folded_count = 0
                job.in_group = False
            elif isinstance(event, JobFinished):
                job = self._job(event.job.key, event.job.name)
                job.conclusion = event.conclusion
                job.took = time.monotonic() - job.started if event.started else None
        if isinstance(event, StepFinished):
            if folded and not self.quiet:
                if dropped:
                    self._queue(event.job.key, f"… {dropped} earlier lines of folded groups not shown")
                for line in folded:
                    self._queue(event.job.key, line)
            if not self.quiet:
                self._queue(event.job.key, "\0" + _step_line(event, self._jobs[event.job.key].steps[event.step.number].took))
            self.flush()
        elif isinstance(event, JobFinished | RunFinished):
            self.flush()

    def _job(self, key: str, name: str) -> _LiveJob:
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = _LiveJob(key, name)
        return job

    def _queue(self, key: str, line: str) -> None:
        self._pending.append((key, line))
        self._pending_total += 1

    def _log(self, event: LogLines) -> None:
        key = event.job.key
        lines = event.lines
        with self._lock:
            job = self._job(key, event.job.name)
            if not _has_markers(lines):  # the common case, without a Python loop per line
                if self.quiet:
                    pass
                elif job.in_group:
                    job.folded.extend(_last(lines, FOLDED_KEEP))
                    job.folded_count += len(lines)
                else:
                    self._pending.extend((key, line) for line in _last(lines, LIVE_MAX_LINES))
                    self._pending_total += len(lines)
                lines = ()
            for marker, piece in _pieces(lines):
                if marker:
                    if piece.startswith("##[group]"):
                        job.in_group = True
                        if not self.quiet:
                            self._queue(key, "\1▸ " + piece[9:])
                        continue
                    if piece.startswith("##[endgroup]"):
                        job.in_group = False
                        continue
                    label = _annotation(piece)
                    if label is not None:
                        if label.startswith("Error: ") or not self.quiet:
                            self._queue(key, "\2" + label)
                        continue
                if self.quiet:
                    continue
                run = LogBlock(piece)
                if job.in_group:
                    job.folded.extend(run.tail(FOLDED_KEEP))
                    job.folded_count += len(run)
                else:
                    self._pending.extend((key, line) for line in run.tail(LIVE_MAX_LINES))
                    self._pending_total += len(run)
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        from rich.text import Text

        with self._lock:
            pending = list(self._pending)
            skipped = self._pending_total - len(pending)
            self._pending.clear()
            self._pending_total = 0
        self._last_flush = time.monotonic()
        if not pending and not skipped:
            return
        text = Text()
        if skipped and self._run is not None:
            text.append(f"… {skipped} lines not shown (all are stored: pheme logs {self._run.id})\n", style="dim")
        for key, line in pending:
            text.append(f"[{key}] ", style="bold blue")
            if line.startswith("\0"):
                icon = line[1:2]
                style = {"✓": "green", "✗": "red", "⊘": "yellow"}.get(icon, "dim")
                text.append(line[1:] + "\n", style=style)
            elif line.startswith("\1"):
                text.append(line[1:] + "\n", style="bold")
            elif line.startswith("\2"):
                text.append(line[1:] + "\n", style="red" if line.startswith("\2Error") else "yellow")
            else:
                text.append(line + "\n")
        text.rstrip()
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.console.print(text, markup=False, highlight=False, crop=False)

    def render(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        table.add_column(width=2)
        table.add_column()
        table.add_column(justify="right")
        with self._lock:
            if self._title:
                table.add_row("", Text(self._title, style="bold"), "")
            now = time.monotonic()
            jobs = list(self._jobs.values())
            running = [j for j in jobs if j.conclusion is None]
            for job in jobs[-30:]:
                took = job.took if job.took is not None else now - job.started
                icon: Any = (
                    Spinner("dots", style="cyan")
                    if job.conclusion is None
                    else Text(ICONS.get(job.conclusion, "?"), style=STYLES.get(job.conclusion, ""))
                )
                table.add_row(icon, Text(job.name, style="bold"), fmt_duration(took))
                if job.conclusion is None and len(running) <= 8:
                    for step in list(job.steps.values())[-6:]:
                        if step.conclusion is None:
                            stook = now - step.started if step.started else None
                            table.add_row("", Text.assemble(("  ▶ ", "cyan"), step.name), fmt_duration(stook))
                        else:
                            mark = (f"  {ICONS.get(step.conclusion, '?')} ", STYLES.get(step.conclusion, ""))
                            table.add_row("", Text.assemble(mark, step.name), fmt_duration(step.took))
        return table

    def close(self) -> None:
        self.flush()
        if self._live_started:
            self._live.stop()
            self._live_started = False

    def summary(self, report: LocalRunReport) -> None:
        from rich.table import Table

        self.close()
        for outcome in report.outcomes:
            run = outcome.record
            conclusion = run.conclusion.value if run.conclusion else None
            took = fmt_duration(seconds(run.started_at or run.created_at, run.finished_at))
            table = Table(
                title=f"[{STYLES.get(conclusion, '')}]{ICONS.get(conclusion, '?')}[/] {run.workflow} #{run.number}"
                f" · run {run.id} · {conclusion or 'unfinished'}" + (f" in {took}" if took else ""),
                title_justify="left",
                show_edge=False,
                box=None,
                padding=(0, 2),
            )
            table.add_column("job")
            table.add_column("result")
            table.add_column("time", justify="right")
            table.add_column("steps", justify="right")
            for job in run.jobs:
                jc = job.conclusion.value if job.conclusion else None
                ok = sum(1 for s in job.steps if s.conclusion is not None and s.conclusion.value == "success")
                table.add_row(
                    job.name,
                    f"[{STYLES.get(jc, '')}]{ICONS.get(jc, '?')} {jc or 'unfinished'}[/]",
                    fmt_duration(seconds(job.started_at, job.finished_at)),
                    f"{ok}/{len(job.steps)}" if job.steps else "",
                )
            self.console.print()
            self.console.print(table)
            failed = [j for j in run.jobs if j.conclusion is not None and j.conclusion.value == "failure"]
            for job in failed[:3]:
                self.console.print(f"  logs: pheme logs {run.id} --job {_job_arg(run, job)}", style="dim", markup=False)


class _Renderable:
    def __init__(self, view: LiveView) -> None:
        self._view = view

    def __rich__(self) -> Any:
        return self._view.render()


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


def make_view(stream: TextIO, *, quiet: bool = False, live: bool | None = None) -> View:
    """The live view on a terminal, the plain one elsewhere (``live`` forces either)."""
    use_live = is_terminal(stream) if live is None else live
    return LiveView(stream, quiet=quiet) if use_live else PlainView(stream, quiet=quiet)


def write_problems(stream: TextIO, problems: Sequence[object]) -> None:
    for problem in problems:
        stream.write(f"{problem}\n")
    stream.flush()
