"""The sandbox seam: start one step's process, stream its output, stop it.

Each step's program is spawned directly (no wrapper process) in a NEW
SESSION, so it leads its own process group: a timeout or a cancellation kills
the whole group — background jobs and grandchildren included — with SIGTERM,
then SIGKILL after a grace period.

Output: stdout and stderr share one pipe (GitHub interleaves them in one log),
enlarged to 1 MiB; the event loop reads it in chunks of up to 256 KiB that go
straight to an :class:`OutputSink` (no intermediate buffering or copying), so
the sink can work on whole blocks without per-line Python work.

A step ends when its main process exits. A background process that keeps
the pipe open does not hold the step: once the process has exited, reading
stops as soon as the pipe goes idle (GitHub does the same; orphans are killed
when the job ends, see :func:`kill_group`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
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
    def feed(self, chunk: bytes) -> None: ...

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
                self.sink.feed(data)
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
