"""The process seam on both of its paths: pidfd + Popen (Linux) and asyncio's subprocess support."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from pheme.execution import _process
from pheme.execution._process import run_process


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.flushed = False

    def feed(self, chunk: bytes) -> None:
        self.data += chunk

    def flush(self) -> None:
        self.flushed = True


@pytest.fixture(params=["pidfd", "asyncio"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pidfd":
        if not _process._pidfd_usable():
            pytest.skip("no pidfd on this system")
    else:
        monkeypatch.setattr(_process, "_pidfd_usable", lambda: False)
    return str(request.param)


def _run(script: str, tmp_path: Path, **kwargs: object) -> tuple[_process.ProcessResult, Sink]:
    sink = Sink()

    async def main() -> _process.ProcessResult:
        return await run_process(
            ["bash", "-c", script], env=dict(os.environ), cwd=str(tmp_path), output=sink, **kwargs  # type: ignore[arg-type]
        )

    return asyncio.run(main()), sink


def test_output_of_both_streams_and_the_exit_code(path: str, tmp_path: Path) -> None:
    result, sink = _run("echo out; echo err >&2; pwd; exit 3", tmp_path)
    assert result.exit_code == 3 and result.reason == "exited"
    assert sink.data.decode().splitlines() == ["out", "err", str(tmp_path)]
    assert sink.flushed


def test_a_large_output_arrives_complete(path: str, tmp_path: Path) -> None:
    result, sink = _run("head -c 5000000 /dev/zero | tr '\\0' x", tmp_path)
    assert result.exit_code == 0
    assert len(sink.data) == 5_000_000


def test_a_background_process_holding_the_pipe_does_not_hold_the_step(path: str, tmp_path: Path) -> None:
    start = time.monotonic()
    result, sink = _run("(sleep 30 &) ; echo done", tmp_path)
    assert result.exit_code == 0 and sink.data == b"done\n"
    assert time.monotonic() - start < 10
    _process.kill_group(result.pid)  # the job kills what is left of the group when it ends


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")  # a zombie is dead, only not yet reaped
    except FileNotFoundError:
        return True


def test_a_timeout_kills_the_group(path: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result, _ = _run(f"sleep 60 & echo $! > {pidfile}; wait", tmp_path, timeout=0.3, grace=0.2)
    assert result.reason == "timeout" and result.exit_code != 0
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _gone(grandchild)


def test_a_program_that_cannot_start_raises_oserror(path: str, tmp_path: Path) -> None:
    async def main() -> None:
        await run_process(["/no/such/program"], env={}, cwd=str(tmp_path), output=Sink())

    with pytest.raises(OSError):
        asyncio.run(main())
