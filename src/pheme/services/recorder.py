"""Record a run's events in the store, off the runner's event-loop thread.

Why a thread: observers are called on the runner's event loop and must be
cheap, while the store does SQL and log compression. The recorder therefore
only puts events on a BOUNDED queue; its own thread drains it in order. When
the writer falls behind (a step printing millions of lines), the observer call
blocks once 256 events or 16 M characters of log text are pending: the runner
stops reading the step's pipe and the step itself slows down, so memory stays
bounded instead of buffering the flood. (Characters, not lines: measuring a
block's size is free, counting its lines is a pass over it on the runner's
thread; the writer counts them once, when it stores them.)

Group commit: the thread collects events for up to ``BATCH_WINDOW_S`` (or
until 4 M characters of log text are waiting) and writes them in ONE transaction
(``store.batch()``); a step that started and finished within the window
becomes one inserted row instead of an insert and two updates. For a job of
100 short steps that is a few transactions instead of ~300. Status reaches
the store at most that much later, which no reader notices; the end of the
run (``close``) is written at once. Log lines go through one
:class:`LogWriter` per job, which stores compressed chunks; a step's output
arrives as whole blocks (:class:`~pheme.execution.events.LogBlock`) that go
to the writer without a Python object per line. The writer counts and
compresses them BEFORE the batch's transaction begins (no database lock held
meanwhile: the server's other writers are not kept waiting by a chatty step)
and the batch stores the sealed chunks. Times come from the events, not from
when the thread got to them.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from pheme.core.runs import Conclusion, Status, StepRecord
from pheme.execution.events import (
    Annotation,
    Event,
    JobFinished,
    JobGroupAcquired,
    JobPending,
    JobRef,
    JobStarted,
    LogBlock,
    LogLines,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)

__all__ = ["StoreRecorder"]

_STOP = object()
_IDLE_FLUSH_S = 0.5
BATCH_WINDOW_S = 0.05  # how long events are collected for one transaction
_BATCH_EVENTS = 512
_BATCH_LOG_CHARS = 4 << 20  # this much pending log text is written at once
MAX_PENDING_CHARS = 16 << 20  # log text waiting for the store (a list line counts 64 more: its object)
CHUNK_BYTES = 1 << 20
CHUNK_LINES = 1 << 20  # the byte size ends chunks; lines only when they are very short
FLUSH_INTERVAL_S = 1.0


def _log_chars(event: Any) -> int:
    if not isinstance(event, LogLines):
        return 0
    lines = event.lines
    return lines.size if isinstance(lines, LogBlock) else sum(map(len, lines)) + 64 * len(lines)


class _LogWriter(Protocol):
    def writelines(self, lines: Any) -> Any: ...

    def write_block(self, text: str | bytes, count: int | None = None) -> Any: ...

    def store_sealed(self) -> Any: ...

    def close(self) -> Any: ...

    def flush(self) -> Any: ...


class StoreRecorder:
    """A :class:`~pheme.execution.events.RunObserver` that writes one run to a store.

    Use as a context manager around the execution (or call :meth:`close`): it
    starts the writer thread and, on exit, waits until every event is stored.
    An error inside the writer thread is kept and re-raised by :meth:`close`
    (the run itself is never interrupted by a recording failure).
    """

    def __init__(
        self,
        store: Any,
        run_id: int,
        *,
        max_pending: int = 256,
        max_pending_chars: int = MAX_PENDING_CHARS,
        open_store: Callable[[], Any] | None = None,
    ) -> None:
        # ``open_store`` (instead of ``store``): called by the writer thread before its
        # first write, so a run can start while the store is still opening.
        self._store = store
        self._open_store = open_store
        self._run_id = run_id
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._batch_events = max(1, min(max_pending, _BATCH_EVENTS))
        # Events are bounded by count (the queue) AND log text by size: one
        # LogLines event may carry a 1 MiB read of a chatty step.
        self._max_chars = max_pending_chars
        self._pending_chars = 0
        self._room = threading.Condition()
        self._jobs: dict[str, int] = {}
        self._steps: set[tuple[str, int]] = set()
        self._new_steps: dict[tuple[str, int], tuple[int, StepRecord]] = {}
        self._writers: dict[str, _LogWriter] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=f"pheme-recorder-{run_id}", daemon=True)
        self._started = False
        self._closed = False
        self.finished: RunFinished | None = None

    # ------------------------------------------------------------ observer side

    def __enter__(self) -> StoreRecorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def __call__(self, event: Event) -> None:
        if self._error is not None or self._closed:
            return  # recording broke: keep the run going, close() reports it
        if isinstance(event, LogLines):
            size = _log_chars(event)
            with self._room:
                while self._pending_chars > self._max_chars and self._error is None and self._thread.is_alive():
                    self._room.wait(0.1)
                self._pending_chars += size
        self._queue.put(event)

    def close(self, timeout: float | None = None) -> None:
        """Wait until everything queued is stored; re-raise a writer error."""
        if not self._closed:
            self._closed = True
            if self._started:
                self._queue.put(_STOP)
                self._thread.join(timeout)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def job_ids(self) -> dict[str, int]:
        """Job key -> database job id, for jobs recorded so far."""
        return dict(self._jobs)

    # -------------------------------------------------------------- thread side

    def _work(self) -> None:
        pending: list[Event] = []
        try:
            if self._open_store is not None:
                self._store = self._open_store()
            while True:
                try:
                    item = self._queue.get(timeout=_IDLE_FLUSH_S)
                except queue.Empty:
                    # Quiet for a while: store buffered lines so `pheme logs --follow` sees them.
                    for writer in self._writers.values():
                        writer.flush()
                    continue
                stop = item is _STOP
                if not stop:
                    pending.append(item)
                    stop = self._collect(pending)
                self._apply(pending)
                pending.clear()
                if stop:
                    break
        except BaseException as exc:  # kept for close(); the run goes on
            self._error = exc
            with self._room:
                self._room.notify_all()
            self._drain()
        finally:
            self._close_writers()

    def _collect(self, pending: list[Event]) -> bool:
        """Add what arrives within the batch window to ``pending``; True once stopped."""
        deadline = time.monotonic() + BATCH_WINDOW_S
        chars = _log_chars(pending[0])
        # At most a queue's worth in hand, so memory stays bounded as the queue bounds it.
        while len(pending) < self._batch_events and chars < _BATCH_LOG_CHARS:
            remaining = deadline - time.monotonic()
            try:
                more = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return False
            if more is _STOP:
                return True
            pending.append(more)
            chars += _log_chars(more)
        return False

    def _drain(self) -> None:
        while True:
            try:
                if self._queue.get(timeout=0.05) is _STOP:
                    return
            except queue.Empty:
                if self._closed:
                    return

    def _apply(self, events: list[Event]) -> None:
        """One transaction for the batch: status changes in order, then the log lines,
        then the ends of jobs and of the run (a job's lines are all stored before it
        is recorded as completed). Log text of jobs that already have a writer is
        counted and compressed first, outside the transaction, so no database lock
        is held meanwhile; a job's first lines wait for its row, in the transaction."""
        known = set(self._writers)
        later: list[LogLines] = []
        for event in events:
            if isinstance(event, LogLines):
                if event.job.key in known:
                    self._write(event)
                else:
                    later.append(event)
        ends: list[Event] = []
        # Steps first seen in this batch go to _new_steps: inserted once, as they are at its end.
        self._new_steps.clear()
        with self._store.batch():
            for event in events:
                if isinstance(event, JobFinished | RunFinished):
                    ends.append(event)
                elif not isinstance(event, LogLines | Annotation):  # annotations are also ##[error] lines
                    self._status(event)
            for event in later:
                self._write(event)
            for writer in self._writers.values():
                writer.store_sealed()
            for event in ends:
                if isinstance(event, JobFinished):
                    self._close_writer(event.job.key)
                self._status(event)
            self._insert_new_steps()

    def _write(self, event: LogLines) -> None:
        lines = event.lines
        writer = self._writer(event.job)
        if isinstance(lines, LogBlock):
            writer.write_block(lines.raw)  # its lines are counted as they are sealed
        else:
            writer.writelines(lines)
        with self._room:
            self._pending_chars -= _log_chars(event)
            self._room.notify_all()

    def _insert_new_steps(self, only: tuple[str, int] | None = None) -> None:
        by_job: dict[int, list[StepRecord]] = {}
        for key in [only] if only is not None else list(self._new_steps):
            job_id, record = self._new_steps.pop(key)
            by_job.setdefault(job_id, []).append(record)
        for job_id, records in by_job.items():
            self._store.add_steps(job_id, records)

    def _status(self, event: Event) -> None:
        store = self._store
        if isinstance(event, RunStarted):
            store.update_run(self._run_id, Status.IN_PROGRESS, at=event.at)
        elif isinstance(event, JobStarted):
            job_id = self._job(event.job)
            store.update_job(job_id, Status.IN_PROGRESS, at=event.at)
        elif isinstance(event, JobPending):  # waits for its concurrency group (the log says which)
            store.update_job(self._job(event.job), Status.WAITING, at=event.at)
        elif isinstance(event, JobGroupAcquired):
            store.update_job(self._job(event.job), Status.QUEUED, at=event.at)
        elif isinstance(event, StepStarted):
            job_id = self._job(event.job)
            key = (event.job.key, event.step.number)
            if key not in self._steps:
                self._steps.add(key)
                record = StepRecord(
                    number=event.step.number,
                    name=event.step.name,
                    step_id=event.step.id,
                    status=Status.IN_PROGRESS,
                    started_at=event.at,
                )
                self._new_steps[key] = (job_id, record)
                return
            if key in self._new_steps:  # started twice: store it as it is, let the store judge
                self._insert_new_steps(key)
            store.update_step(job_id, event.step.number, Status.IN_PROGRESS, at=event.at)
        elif isinstance(event, StepFinished):
            job_id = self._job(event.job)
            key = (event.job.key, event.step.number)
            if key not in self._steps:  # finished without starting (skipped)
                self._steps.add(key)
                self._new_steps[key] = (
                    job_id,
                    StepRecord(number=event.step.number, name=event.step.name, step_id=event.step.id),
                )
            new = self._new_steps.get(key)
            if new is not None and new[1].status is not Status.COMPLETED:
                self._new_steps[key] = (
                    job_id,
                    dataclasses.replace(
                        new[1],
                        status=Status.COMPLETED,
                        outcome=Conclusion(event.outcome),
                        conclusion=Conclusion(event.conclusion),
                        outputs=dict(event.outputs),
                        finished_at=event.at,
                    ),
                )
                return
            if new is not None:
                self._insert_new_steps(key)
            store.update_step(
                job_id,
                event.step.number,
                Status.COMPLETED,
                outcome=Conclusion(event.outcome),
                conclusion=Conclusion(event.conclusion),
                outputs=event.outputs,
                at=event.at,
            )
        elif isinstance(event, JobFinished):
            job_id = self._job(event.job)
            store.update_job(
                job_id,
                Status.COMPLETED,
                conclusion=Conclusion(event.conclusion),
                outputs=event.outputs,
                at=event.at,
            )
        elif isinstance(event, RunFinished):
            self._close_writers()
            store.update_run(self._run_id, Status.COMPLETED, conclusion=Conclusion(event.conclusion), at=event.at)
            self.finished = event

    def _job(self, job: JobRef) -> int:
        job_id = self._jobs.get(job.key)
        if job_id is None:
            job_id = self._store.create_job(self._run_id, job.job_id, job.name, job.matrix)
            self._jobs[job.key] = job_id
        return job_id

    def _writer(self, job: JobRef) -> _LogWriter:
        writer = self._writers.get(job.key)
        if writer is None:
            if job.key not in self._jobs:
                with self._store.batch():
                    self._job(job)
            # Chunks of up to 1 MiB (any number of lines): a step printing 200 MB makes
            # ~200 inserts; reading any line still decompresses one chunk (~1 ms).
            writer = self._store.log_writer(
                self._jobs[job.key],
                chunk_lines=CHUNK_LINES,
                chunk_bytes=CHUNK_BYTES,
                flush_interval=FLUSH_INTERVAL_S,
                autostore=False,  # stored by _apply, in the batch's transaction
            )
            self._writers[job.key] = writer
        return writer

    def _close_writer(self, key: str) -> None:
        writer = self._writers.pop(key, None)
        if writer is not None:
            writer.close()

    def _close_writers(self) -> None:
        for key in list(self._writers):
            self._close_writer(key)
