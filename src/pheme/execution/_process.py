"""The sandbox seam: start one step's process, stream its output, stop it.

Each step's program is spawned directly (no wrapper process) in a NEW
SESSION, so it leads its own process group: a timeout or a cancellation kills
the whole group — background jobs and grandchildren included — with SIGTERM,
then SIGKILL after a grace period.

Output: stdout and stderr share one pipe (GitHub interleaves them in one log).
It is read in large blocks and handed on as *complete lines only* (a block
always ends at a newline; the partial tail waits for the next read), so the
caller can work on whole blocks without per-line Python work.

A step ends when its main process exits. A background process that keeps
the pipe open does not hold the step: once the process has exited, reading
stops as soon as the pipe goes idle (GitHub does the same; orphans are killed
when the job ends, see :func:`kill_group`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["ProcessResult", "kill_group", "run_process"]

READ_SIZE = 256 * 1024
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


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), grace)
    # Always finish the group off: the leader may have exited on SIGTERM while
    # a grandchild ignores it.
    kill_group(proc.pid, signal.SIGKILL)
    await proc.wait()


async def run_process(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    on_output: Callable[[bytes], None],
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
    grace: float = GRACE_SECONDS,
) -> ProcessResult:
    """Run ``argv`` to completion, feeding complete-line blocks to ``on_output``.

    Raises OSError when the program cannot be started (the caller turns that
    into a one-line step error).
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
        limit=READ_SIZE * 2,
    )
    assert proc.stdout is not None
    stream = proc.stdout
    received = 0

    async def pump() -> None:
        nonlocal received
        pending = b""
        try:
            while True:
                chunk = await stream.read(READ_SIZE)
                if not chunk:
                    break
                received += len(chunk)
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    pending += chunk
                    if len(pending) >= READ_SIZE * 4:  # a huge line: hand it on anyway
                        on_output(pending + b"\n")
                        pending = b""
                    continue
                block = pending + chunk[: cut + 1] if pending else chunk[: cut + 1]
                pending = chunk[cut + 1 :]
                on_output(block)
        finally:
            if pending:
                on_output(pending + b"\n")

    reader = asyncio.create_task(pump())
    waiter = asyncio.create_task(proc.wait())
    reason: Reason = "exited"
    try:
        watch: set[asyncio.Future[object]] = {waiter}  # type: ignore[arg-type]
        cancel_task: asyncio.Task[object] | None = None
        if cancel is not None:
            if cancel.is_set():
                reason = "cancelled"
            else:
                cancel_task = asyncio.create_task(cancel.wait())  # type: ignore[arg-type]
                watch.add(cancel_task)
        if reason == "exited":
            done, _ = await asyncio.wait(watch, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                reason = "cancelled" if cancel_task is not None and cancel_task in done else "timeout"
        if cancel_task is not None:
            cancel_task.cancel()
        if reason != "exited":
            await _terminate(proc, grace)
        await waiter
        # Drain what is left in the pipe; stop once it goes idle.
        while not reader.done():
            before = received
            await asyncio.wait({reader}, timeout=_IDLE_AFTER_EXIT)
            if not reader.done() and received == before:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        if not reader.cancelled():
            reader.result()
    except BaseException:
        if proc.returncode is None:
            kill_group(proc.pid)
            with contextlib.suppress(Exception):
                await asyncio.shield(proc.wait())
        reader.cancel()
        waiter.cancel()
        raise
    finally:
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
    assert proc.returncode is not None
    return ProcessResult(proc.returncode, reason, proc.pid)
