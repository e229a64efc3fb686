"""Record a run's events in the store, off the runner's event-loop thread.

Why a thread: observers are called on the runner's event loop and must be
cheap, while the store does SQL and log compression. The recorder therefore
only puts events on a BOUNDED queue; its own thread drains it in order. When
the writer falls behind (a step printing millions of lines), the observer call
blocks once 256 events or 100,000 log lines are pending: the runner stops
reading the step's pipe and the step itself slows down, so memory stays
bounded instead of buffering the flood.

Consecutive status events are written in one transaction (``store.batch()``);
log lines go through one :class:`LogWriter` per job, which stores compressed
chunks. Times come from the events, not from when the thread got to them.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Protocol

from pheme.core.runs import Conclusion, Status
from pheme.execution.events import (
    Annotation,
    Event,
    JobFinished,
    JobRef,
    JobStarted,
    LogLines,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)

__all__ = ["StoreRecorder"]

_STOP = object()
_IDLE_FLUSH_S = 0.5
MAX_PENDING_LINES = 100_000  # ~10 MB of typical log text waiting for the store


class _LogWriter(Protocol):
    def writelines(self, lines: Any) -> Any: ...

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
        self, store: Any, run_id: int, *, max_pending: int = 256, max_pending_lines: int = MAX_PENDING_LINES
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        # Events are bounded by count (the queue) AND log lines by number: one
        # LogLines event may carry a 1 MiB read of a chatty step.
        self._max_lines = max_pending_lines
        self._pending_lines = 0
        self._room = threading.Condition()
        self._jobs: dict[str, int] = {}
        self._steps: set[tuple[str, int]] = set()
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
            count = len(event.lines)
            with self._room:
                while self._pending_lines > self._max_lines and self._error is None and self._thread.is_alive():
                    self._room.wait(0.1)
                self._pending_lines += count
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
                    # Drain what is already there, to batch status updates.
                    while len(pending) < 512:
                        try:
                            more = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if more is _STOP:
                            stop = True
                            break
                        pending.append(more)
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

    def _drain(self) -> None:
        while True:
            try:
                if self._queue.get(timeout=0.05) is _STOP:
                    return
            except queue.Empty:
                if self._closed:
                    return

    def _apply(self, events: list[Event]) -> None:
        status_events: list[Event] = []
        for event in events:
            if isinstance(event, LogLines):
                self._flush_status(status_events)
                self._writer(event.job).writelines(event.lines)
                with self._room:
                    self._pending_lines -= len(event.lines)
                    self._room.notify_all()
            elif isinstance(event, Annotation):
                continue  # annotations are also ##[error] lines in the log
            else:
                status_events.append(event)
        self._flush_status(status_events)

    def _flush_status(self, events: list[Event]) -> None:
        if not events:
            return
        # Close writers of finishing jobs first: their last lines land before the job completes.
        for event in events:
            if isinstance(event, JobFinished):
                self._close_writer(event.job.key)
        with self._store.batch():
            for event in events:
                self._status(event)
        events.clear()

    def _status(self, event: Event) -> None:
        store = self._store
        if isinstance(event, RunStarted):
            store.update_run(self._run_id, Status.IN_PROGRESS, at=event.at)
        elif isinstance(event, JobStarted):
            job_id = self._job(event.job)
            store.update_job(job_id, Status.IN_PROGRESS, at=event.at)
        elif isinstance(event, StepStarted):
            job_id = self._job(event.job)
            self._step(event.job.key, job_id, event.step.number, event.step.name, event.step.id)
            store.update_step(job_id, event.step.number, Status.IN_PROGRESS, at=event.at)
        elif isinstance(event, StepFinished):
            job_id = self._job(event.job)
            self._step(event.job.key, job_id, event.step.number, event.step.name, event.step.id)
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

    def _step(self, job_key: str, job_id: int, number: int, name: str, step_id: str | None) -> None:
        if (job_key, number) not in self._steps:
            self._store.create_step(job_id, number, name, step_id=step_id)
            self._steps.add((job_key, number))

    def _writer(self, job: JobRef) -> _LogWriter:
        writer = self._writers.get(job.key)
        if writer is None:
            if job.key not in self._jobs:
                with self._store.batch():
                    self._job(job)
            # Chunks of up to 256 KB: a step printing 200 MB makes ~800 inserts, not ~3,000.
            writer = self._store.log_writer(self._jobs[job.key], chunk_lines=8192, chunk_bytes=256 * 1024)
            self._writers[job.key] = writer
        return writer

    def _close_writer(self, key: str) -> None:
        writer = self._writers.pop(key, None)
        if writer is not None:
            writer.close()

    def _close_writers(self) -> None:
        for key in list(self._writers):
            self._close_writer(key)
