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


class BlockSink(Sink):
    """Keeps each chunk as it was handed on (the reader reuses its buffer: copy it)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.times: list[float] = []

    def feed(self, chunk: bytes) -> None:
        super().feed(chunk)
        self.chunks.append(bytes(chunk))
        self.times.append(time.monotonic())


def _run_blocks(script: str, tmp_path: Path) -> BlockSink:
    sink = BlockSink()

    async def main() -> None:
        await run_process(["bash", "-c", script], env=dict(os.environ), cwd=str(tmp_path), output=sink)

    asyncio.run(main())
    return sink


def test_a_flood_of_small_writes_arrives_in_few_blocks_of_whole_lines(path: str, tmp_path: Path) -> None:
    # 4,000 writes of 1,000 bytes each, as fast as the writer can go.
    script = "python3 -c \"import os\nfor i in range(4000): os.write(1, b'%09d' % i + b'x' * 990 + b'\\\\n')\""
    sink = _run_blocks(script, tmp_path)
    assert sink.data.splitlines() == [b"%09d" % i + b"x" * 990 for i in range(4000)]
    if path == "pidfd":  # the asyncio fallback hands on what each read returns
        assert all(chunk.endswith(b"\n") for chunk in sink.chunks)  # never a line cut in two
        assert len(sink.chunks) < 400, len(sink.chunks)


def test_a_line_now_and_then_is_handed_on_at_once(path: str, tmp_path: Path) -> None:
    start = time.monotonic()
    sink = _run_blocks("echo first; sleep 1; echo second", tmp_path)
    assert sink.data == b"first\nsecond\n"
    assert sink.times[0] - start < 0.9  # not held back until more output or the end


def test_lines_longer_than_the_read_buffer_arrive_complete(path: str, tmp_path: Path) -> None:
    sink = _run_blocks("head -c 3000000 /dev/zero | tr '\\0' y; echo; echo after", tmp_path)
    assert sink.data == b"y" * 3_000_000 + b"\nafter\n"


def test_read_buffers_are_reused_by_later_steps(path: str, tmp_path: Path) -> None:
    if path != "pidfd":
        pytest.skip("the asyncio fallback has no read buffer of its own")
    _process._SPARE_BUFFERS.clear()
    _run_blocks("echo one", tmp_path)
    assert len(_process._SPARE_BUFFERS) == 1
    spare = _process._SPARE_BUFFERS[0]
    sink = _run_blocks("echo two", tmp_path)
    assert sink.data == b"two\n"
    assert len(_process._SPARE_BUFFERS) == 1 and _process._SPARE_BUFFERS[0] is spare
