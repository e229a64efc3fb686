"""The sandbox seam: start one step's process, stream its output, stop it.

Each step's program is spawned directly (no wrapper process) in a NEW
SESSION, so it leads its own process group: a timeout or a cancellation kills
the whole group — background jobs and grandchildren included — with SIGTERM,
then SIGKILL after a grace period.

Output: stdout and stderr share one pipe (GitHub interleaves them in one log),
enlarged to 1 MiB. The event loop reads it into ONE reused 1 MiB buffer and
hands the :class:`OutputSink` whole blocks of complete lines (the unfinished
last line stays in the buffer for the next read), so the sink can work on a
block without per-line Python work and without joining pieces. Why a reused
buffer: a fresh 1 MiB ``bytes`` per read costs page faults that, for a step
printing 200 MB, were more CPU than the copying itself.

Why gathering: a reader that keeps up with a flood of output is woken for
every few KiB the writer puts into the pipe (25,000 wake-ups for 200 MB), and
each block costs the sink and every observer a fixed amount of Python. When
reads come back to back, a small read is not handed on at once: reading
pauses for :data:`GATHER_S` (the pipe keeps filling meanwhile) and the next
read is added to the same block. A step that prints a line now and then is
never delayed (its reads are not back to back).

Spawning is on the hot path (a job of 100 trivial steps spawns 100 shells), so
on Linux the process is started with :class:`subprocess.Popen` (which uses
``vfork``: no copy of our page tables) and watched through a pidfd and the
pipe's fd registered on the event loop. asyncio's own subprocess support in
Python 3.11 starts a waiter THREAD per process (ThreadedChildWatcher) and
wraps the pipe in transports: about twice the CPU per step. Where pidfds are
not available the asyncio path is used.

A step ends when its main process exits. A background process that keeps
the pipe open does not hold the step: once the process has exited, reading
stops as soon as the pipe goes idle (GitHub does the same; orphans are killed
when the job ends, see :func:`kill_group`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["ProcessResult", "kill_group", "run_process"]

PIPE_SIZE = 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_IDLE_AFTER_EXIT = 0.1  # seconds without output after exit before we stop reading
GRACE_SECONDS = 5.0

Reason = Literal["exited", "timeout", "cancelled"]


@dataclass(frozen=True, slots=True)
class ProcessResult:
    exit_code: int
    reason: Reason
    pid: int


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process still in group ``pgid``; a gone group is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _terminate(pid: int, exited: asyncio.Future[None], grace: float) -> None:
    kill_group(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(exited), grace)
    # Always finish the group off: the leader may have exited on SIGTERM while
    # a grandchild ignores it.
    kill_group(pid, signal.SIGKILL)
    await exited


class OutputSink(Protocol):
    """Receives a process's output. ``chunk`` is only valid during the call (the
    reader reuses its buffer): a sink copies what it keeps. A sink must accept any
    cut; on the pidfd path chunks end at a line end except at the end of the
    output or within a line longer than the buffer."""

    def feed(self, chunk: memoryview) -> None: ...

    def flush(self) -> None: ...


class _Protocol(asyncio.SubprocessProtocol):
    """Hands the output pipe's chunks straight to the sink (no StreamReader copy)."""

    def __init__(self, sink: OutputSink) -> None:
        self.sink = sink
        self.received = 0
        self.exited = asyncio.get_running_loop().create_future()
        self.eof = asyncio.get_running_loop().create_future()
        self.error: BaseException | None = None

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.received += len(data)
        if self.error is None:
            try:
                self.sink.feed(memoryview(data))
            except BaseException as exc:  # reported by run_process, not lost in the loop
                self.error = exc

    def flush(self) -> None:
        if self.error is None:
            try:
                self.sink.flush()
            except BaseException as exc:
                self.error = exc

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.eof.done():
            self.eof.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def _grow_pipe(transport: asyncio.SubprocessTransport) -> None:
    """Ask for a 1 MiB pipe: fewer, larger reads and a writer that blocks less."""
    pipe = transport.get_pipe_transport(1)
    fileobj = pipe.get_extra_info("pipe") if pipe is not None else None
    if fileobj is None:
        return
    with contextlib.suppress(OSError, AttributeError, ValueError):
        fcntl.fcntl(fileobj.fileno(), _F_SETPIPE_SZ, PIPE_SIZE)


READ_SIZE = PIPE_SIZE
FEED_BYTES = 256 * 1024  # a block at least this big goes to the sink at once
GATHER_S = 0.001  # how long reading pauses to gather a flood's small reads into one block
_BACK_TO_BACK_S = 0.005  # a read this soon after the last block is part of a flood
# Read buffers of finished steps, reused: zero-filling a fresh 1 MiB buffer for each of
# a job's 100 short steps is measurable. Only list.pop/append: safe across threads.
_SPARE_BUFFERS: list[bytearray] = []
_MAX_SPARE_BUFFERS = 4


@functools.cache
def _pidfd_usable() -> bool:
    """pidfd_open exists and works here (Linux >= 5.3, not forbidden by a sandbox)."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return False
    try:
        os.close(opener(os.getpid()))
    except OSError:
        return False
    return True


async def run_process(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    output: OutputSink,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
    grace: float = GRACE_SECONDS,
) -> ProcessResult:
    """Run ``argv`` to completion, feeding its output chunks to ``output``.

    Raises OSError when the program cannot be started (the caller turns that
    into a one-line step error).
    """
    loop = asyncio.get_running_loop()
    if not _pidfd_usable() or not hasattr(loop, "add_reader"):
        return await _run_process_asyncio(
            argv, env=env, cwd=cwd, output=output, timeout=timeout, cancel=cancel, grace=grace
        )
    return await _run_process_pidfd(
        loop, argv, env=env, cwd=cwd, output=output, timeout=timeout, cancel=cancel, grace=grace
    )


class _Watch:
    """The pipe and the pidfd of one process, on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, proc: subprocess.Popen[bytes], pipe: int, sink: OutputSink) -> None:
        self.loop = loop
        self.proc = proc
        self.pipe: int | None = pipe
        self.sink = sink
        self.received = 0
        self.error: BaseException | None = None
        self.exited: asyncio.Future[None] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()
        self.pidfd: int | None = os.pidfd_open(proc.pid)
        try:
            self._buffer = _SPARE_BUFFERS.pop()
        except IndexError:
            self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)
        self._fill = 0  # bytes in the buffer not handed on yet
        self._spared = False
        self._last_feed = -1.0
        self._pause: asyncio.TimerHandle | None = None
        os.set_blocking(pipe, False)
        loop.add_reader(pipe, self._readable)
        loop.add_reader(self.pidfd, self._exited)

    def _readable(self, gathered: bool = False) -> None:
        assert self.pipe is not None
        try:
            n = os.readv(self.pipe, [self._view[self._fill :]])
        except (BlockingIOError, InterruptedError):
            if gathered:
                self._feed()
            return
        except OSError:
            n = 0
        if not n:
            self._feed()
            self._close_pipe()
            return
        self.received += n
        self._fill += n
        if (
            not gathered
            and self._fill < FEED_BYTES
            and self.loop.time() - self._last_feed < _BACK_TO_BACK_S
            and self.proc.returncode is None
        ):
            # A flood read as fast as it comes: let the pipe fill a moment, then read on.
            self.loop.remove_reader(self.pipe)
            self._pause = self.loop.call_later(GATHER_S, self._resume)
            return
        self._feed()

    def _resume(self) -> None:
        self._pause = None
        if self.pipe is not None:
            self.loop.add_reader(self.pipe, self._readable)
            self._readable(gathered=True)

    def _feed(self) -> None:
        """Hand the buffered complete lines to the sink; keep an unfinished last line."""
        fill = self._fill
        if not fill:
            return
        self._last_feed = self.loop.time()
        buffer = self._buffer
        end = fill if buffer[fill - 1] == 10 or self.pipe is None else buffer.rfind(b"\n", 0, fill) + 1
        if end <= 0:
            end = fill  # no line end in the whole buffer: a giant line, handed on in pieces
        if self.error is None:
            try:
                self.sink.feed(self._view[:end])
            except BaseException as exc:  # reported by run_process, not lost in the loop
                self.error = exc
        rest = fill - end
        if rest:  # the start of an unfinished line (a copy: the two ranges may overlap)
            buffer[:rest] = bytes(self._view[end:fill])
        self._fill = rest

    def _exited(self) -> None:
        if self.proc.poll() is None:  # pragma: no cover - a pidfd is readable only once the process exited
            return
        self._close_pidfd()
        if not self.exited.done():
            self.exited.set_result(None)

    def _close_pipe(self) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        if self.pipe is not None:
            self.loop.remove_reader(self.pipe)
            os.close(self.pipe)
            self.pipe = None
        self._feed()  # what is left, an unfinished last line included
        if not self.eof.done():
            self.eof.set_result(None)

    def _close_pidfd(self) -> None:
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None

    def flush(self) -> None:
        if self.error is None:
            try:
                self.sink.flush()
            except BaseException as exc:
                self.error = exc

    def close(self) -> None:
        self._close_pipe()
        self._close_pidfd()
        if not self._spared and self._fill == 0 and len(_SPARE_BUFFERS) < _MAX_SPARE_BUFFERS:
            self._spared = True
            try:
                self._view.release()
            except BufferError:  # pragma: no cover - a sink kept a view of it: do not reuse it
                pass
            else:
                _SPARE_BUFFERS.append(self._buffer)
        if self.proc.returncode is None:
            # Only on an abnormal exit (the task was cancelled): the group is being
            # killed; reap the leader so it does not linger as a zombie.
            kill_group(self.proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=GRACE_SECONDS)


def _spawn(argv: list[str], env: Mapping[str, str], cwd: str) -> tuple[subprocess.Popen[bytes], int]:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(read_fd, _F_SETPIPE_SZ, PIPE_SIZE)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return proc, read_fd


async def _run_process_pidfd(
    loop: asyncio.AbstractEventLoop,
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    output: OutputSink,
    timeout: float | None,
    cancel: asyncio.Event | None,
    grace: float,
) -> ProcessResult:
    proc, pipe = _spawn(argv, env, cwd)
    try:
        watch = _Watch(loop, proc, pipe, output)
    except BaseException:
        os.close(pipe)
        kill_group(proc.pid)
        proc.wait()
        raise
    pid = proc.pid
    try:
        reason = await _supervise(pid, watch.exited, timeout, cancel, grace)
        # Drain what is left in the pipe; stop once it goes idle (a background
        # process may hold it open).
        while not watch.eof.done():
            before = watch.received
            await asyncio.wait({watch.eof}, timeout=_IDLE_AFTER_EXIT)
            if not watch.eof.done() and watch.received == before:
                break
    finally:
        watch.close()
        watch.flush()
    if watch.error is not None:
        raise watch.error
    code = proc.returncode
    assert code is not None
    return ProcessResult(code, reason, pid)


async def _supervise(
    pid: int, exited: asyncio.Future[None], timeout: float | None, cancel: asyncio.Event | None, grace: float
) -> Reason:
    """Wait for the exit, a timeout or a cancellation (then stop the group); why it ended."""
    reason: Reason = "exited"
    watch: set[asyncio.Future[Any]] = {exited}
    cancel_task: asyncio.Task[Any] | None = None
    if cancel is not None:
        if cancel.is_set():
            reason = "cancelled"
        else:
            cancel_task = asyncio.ensure_future(cancel.wait())
            watch.add(cancel_task)
    try:
        if reason == "exited":
            done, _ = await asyncio.wait(watch, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if exited not in done:
                reason = "cancelled" if cancel_task is not None and cancel_task in done else "timeout"
    finally:
        if cancel_task is not None:
            cancel_task.cancel()
    if reason != "exited":
        await _terminate(pid, exited, grace)
    await exited
    return reason


async def _run_process_asyncio(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    output: OutputSink,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
    grace: float = GRACE_SECONDS,
) -> ProcessResult:
    """Run ``argv`` to completion, feeding its output chunks to ``output``.

    Raises OSError when the program cannot be started (the caller turns that
    into a one-line step error).
    """
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _Protocol(output),
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    _grow_pipe(transport)
    pid = transport.get_pid()
    reason: Reason = "exited"
    try:
        watch: set[asyncio.Future[Any]] = {protocol.exited}
        cancel_task: asyncio.Task[Any] | None = None
        if cancel is not None:
            if cancel.is_set():
                reason = "cancelled"
            else:
                cancel_task = asyncio.ensure_future(cancel.wait())
                watch.add(cancel_task)
        if reason == "exited":
            done, _ = await asyncio.wait(watch, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if protocol.exited not in done:
                reason = "cancelled" if cancel_task is not None and cancel_task in done else "timeout"
        if cancel_task is not None:
            cancel_task.cancel()
        if reason != "exited":
            await _terminate(pid, protocol.exited, grace)
        await protocol.exited
        # Drain what is left in the pipe; stop once it goes idle (a background
        # process may hold it open).
        while not protocol.eof.done():
            before = protocol.received
            await asyncio.wait({protocol.eof}, timeout=_IDLE_AFTER_EXIT)
            if not protocol.eof.done() and protocol.received == before:
                break
    except BaseException:
        if transport.get_returncode() is None:
            kill_group(pid)
        raise
    finally:
        transport.close()
        protocol.flush()
    if protocol.error is not None:
        raise protocol.error
    code = transport.get_returncode()
    assert code is not None
    return ProcessResult(code, reason, pid)
