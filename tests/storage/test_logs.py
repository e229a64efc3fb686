"""Chunked job logs: writing, ranges, tail, follow, and bounded memory (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pheme.core.runs import Conclusion, Status
from pheme.errors import StorageError, UsageError
from pheme.storage import NotFoundError, Store
from pheme.storage import _logs as logs_module
from pheme.storage._logwriter import MAX_LINE_CHARS


def _run_with_jobs(store: Store, *names: str) -> tuple[int, list[int]]:
    run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", "f" * 40)
    return run.id, [store.create_job(run.id, name.split(" ")[0], name) for name in names]


def test_text_becomes_lines_exactly_as_written(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    with store.log_writer(job) as log:
        log.write("par")
        log.write("tial\n\nünïcødé ✓\r\nwin")  # a CR stays part of its line
        log.writeline("dows")
        log.writelines(["a", "b\nc", ""])
        log.write("no newline at the end")
    assert list(store.read_log(run, "build")) == [
        "partial", "", "ünïcødé ✓\r", "windows", "a", "b", "c", "", "no newline at the end"]  # fmt: skip
    assert store.log_line_count(run, "build") == 9


def test_logs_are_stored_in_numbered_chunks_and_read_back_in_any_range(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    lines = [f"line {i}" for i in range(95)]
    with store.log_writer(job, chunk_lines=10) as log:
        log.writelines(lines)
    assert len(_chunks(store, job)) == 10  # 9 full chunks of 10 and the last 5
    assert [(c[0], c[1]) for c in _chunks(store, job)][-2:] == [(80, 89), (90, 94)]
    assert list(store.read_log(run, "build")) == lines
    for start, end in [(0, 1), (9, 11), (10, 20), (37, 73), (90, 95), (94, None), (50, 500), (95, None), (60, 60)]:
        assert list(store.read_log(run, "build", start, end)) == lines[start:end], (start, end)


def test_a_small_range_of_a_large_log_decompresses_only_its_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    with store.log_writer(job, chunk_lines=1000) as log:
        log.writelines(f"line {i}" for i in range(200_000))
    decoded: list[int] = []
    real = logs_module._decode

    def counting(codec: int, data: bytes) -> list[str]:
        decoded.append(1)
        return real(codec, data)

    monkeypatch.setattr(logs_module, "_decode", counting)
    assert list(store.read_log(run, "build", 123_990, 124_010)) == [f"line {i}" for i in range(123_990, 124_010)]
    assert len(decoded) == 2  # the chunk ending at 123_999 and the one starting at 124_000
    decoded.clear()
    assert store.tail_log(run, "build", 3) == ["line 199997", "line 199998", "line 199999"]
    assert len(decoded) == 1


def test_follow_with_a_tail_starts_at_each_jobs_last_lines_reading_only_their_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, (big, small, empty) = _run_with_jobs(store, "big", "small", "empty")
    with store.log_writer(big, chunk_lines=1000) as log:
        log.writelines(f"line {i}" for i in range(50_000))
    store.append_log(small, ["s0", "s1"])
    with store.batch():
        for job in (big, small, empty):
            store.update_job(job, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
        store.update_run(run, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    decoded: list[int] = []
    real = logs_module._decode

    def counting(codec: int, data: bytes) -> list[str]:
        decoded.append(1)
        return real(codec, data)

    monkeypatch.setattr(logs_module, "_decode", counting)
    # Completed: the tail of each job (the whole log of one shorter than N), then the end.
    assert list(store.follow_log(run, tail=3, poll_interval=0.001)) == [
        "big\tline 49997", "big\tline 49998", "big\tline 49999", "small\ts0", "small\ts1"]  # fmt: skip
    assert len(decoded) == 2  # the big log's last chunk and the small one's only chunk
    assert list(store.follow_log(run, "big", tail=2, poll_interval=0.001)) == ["line 49998", "line 49999"]
    assert list(store.follow_log(run, "big", tail=0, poll_interval=0.001)) == []
    with pytest.raises(UsageError, match="negative"):
        store.follow_log(run, "big", tail=-1)


def test_follow_with_a_tail_then_yields_every_new_line_of_old_and_new_jobs(store: Store) -> None:
    run, (a,) = _run_with_jobs(store, "a")
    store.append_log(a, [f"a{i}" for i in range(10)])
    store.update_run(run, Status.IN_PROGRESS)
    started = threading.Event()

    def runner() -> None:
        started.wait(timeout=30)
        store.append_log(a, ["a10", "a11"])
        late = store.create_job(run, "late", "late")  # appears after following began: all of its lines
        store.append_log(late, ["l0", "l1", "l2"])
        store.update_run(run, Status.COMPLETED, conclusion=Conclusion.SUCCESS)

    thread = threading.Thread(target=runner)
    thread.start()
    seen = []
    for line in store.follow_log(run, tail=2, poll_interval=0.01):
        seen.append(line)
        started.set()
    thread.join(timeout=30)
    assert seen == ["a\ta8", "a\ta9", "a\ta10", "a\ta11", "late\tl0", "late\tl1", "late\tl2"]


def test_tail(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    assert store.tail_log(run, "build", 5) == []
    store.append_log(job, [f"l{i}" for i in range(25)])
    assert store.tail_log(run, "build", 5) == ["l20", "l21", "l22", "l23", "l24"]
    assert store.tail_log(run, job, 100) == [f"l{i}" for i in range(25)]
    assert store.tail_log(run, "build", 0) == []


def test_whole_run_log_prefixes_job_names_and_counts_lines_across_jobs(store: Store) -> None:
    run, (lint, build) = _run_with_jobs(store, "lint", "build (3.12)")
    store.append_log(lint, ["ruff ok", "mypy ok"])
    store.append_log(build, ["pip install", "pytest", "42 passed"])
    assert list(store.read_log(run)) == [
        "lint\truff ok", "lint\tmypy ok", "build (3.12)\tpip install", "build (3.12)\tpytest",
        "build (3.12)\t42 passed"]  # fmt: skip
    assert list(store.read_log(run, None, 1, 3)) == ["lint\tmypy ok", "build (3.12)\tpip install"]


def test_jobs_are_found_by_id_name_or_unique_key(store: Store) -> None:
    run, (_, _, c) = _run_with_jobs(store, "build (1)", "build (2)", "lint")
    store.append_log(c, ["x"])
    assert store.tail_log(run, "lint", 1) == store.tail_log(run, c, 1) == ["x"]
    with pytest.raises(UsageError, match=r"job 'build' is ambiguous in run \d+: build \(1\), build \(2\)"):
        store.tail_log(run, "build", 1)
    with pytest.raises(NotFoundError, match="has no job 'deploy'"):
        store.read_log(run, "deploy")
    with pytest.raises(NotFoundError, match="run 999 not found"):
        store.read_log(999)
    with pytest.raises(UsageError, match="negative"):
        store.read_log(run, "lint", -1)


def test_appending_continues_the_numbering_and_a_second_writer_is_refused(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    store.append_log(job, ["one", "two"])
    first = store.log_writer(job)
    second = store.log_writer(job)
    first.writelines(["three"])
    first.close()
    second.writelines(["clash"])
    with pytest.raises(StorageError, match="appended by another writer"):
        second.close()
    assert list(store.read_log(run, "build")) == ["one", "two", "three"]
    assert list(store.read_log(run, "build", 2)) == ["three"]


def test_buffered_lines_become_visible_after_the_flush_interval(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    log = store.log_writer(job, flush_interval=0.0)  # every write stores what is complete
    log.write("visible\npartial")
    assert list(store.read_log(run, "build")) == ["visible"]
    log.close()
    assert list(store.read_log(run, "build")) == ["visible", "partial"]


def test_follow_yields_lines_as_they_arrive_and_stops_when_the_job_completes(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    first = [f"early {i}" for i in range(30)]
    later = [f"late {i}" for i in range(3000)]
    follower_saw_first = threading.Event()

    def runner() -> None:
        store.update_job(job, Status.IN_PROGRESS)
        with store.log_writer(job, chunk_lines=100) as log:
            log.writelines(first)
            log.flush()
            follower_saw_first.wait(timeout=30)  # prove the follower reads while the job still runs
            log.writelines(later)
        store.update_job(job, Status.COMPLETED, conclusion=Conclusion.SUCCESS)

    thread = threading.Thread(target=runner)
    thread.start()
    deadline = time.monotonic() + 60
    seen: list[str] = []
    for line in store.follow_log(run, "build", poll_interval=0.01, stop=lambda: time.monotonic() > deadline):
        seen.append(line)
        if line == first[-1]:
            follower_saw_first.set()
    thread.join(timeout=30)
    assert seen == first + later


def test_follow_the_whole_run_until_it_completes(store: Store) -> None:
    run, (a, b) = _run_with_jobs(store, "a", "b")
    store.append_log(a, ["a1"])
    store.append_log(b, ["b1"])
    started = threading.Event()

    def runner() -> None:
        started.wait(timeout=30)
        store.append_log(a, ["a2"])
        store.append_log(b, ["b2"])
        with store.batch():
            store.update_job(a, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
            store.update_job(b, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
            store.update_run(run, Status.COMPLETED, conclusion=Conclusion.SUCCESS)

    thread = threading.Thread(target=runner)
    thread.start()
    seen = []
    for line in store.follow_log(run, poll_interval=0.01):
        seen.append(line)
        started.set()
    thread.join(timeout=30)
    assert sorted(seen) == ["a\ta1", "a\ta2", "b\tb1", "b\tb2"]
    assert seen.index("a\ta1") < seen.index("a\ta2") and seen.index("b\tb1") < seen.index("b\tb2")


def test_follow_stops_when_asked(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    store.append_log(job, ["only"])
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) >= 3

    assert list(store.follow_log(run, "build", poll_interval=0.001, stop=stop)) == ["only"]


@pytest.mark.slow
def test_two_million_lines_are_written_fast_with_bounded_memory(db_url: str) -> None:
    """~190 MB of log: peak RSS of the writing process must barely move."""
    script = textwrap.dedent(
        """
        import json, resource, sys, time
        from pheme.storage import open_store
        store = open_store(sys.argv[1])
        run = store.create_run("CI", "ci.yml", "push", "main", "0" * 40)
        job = store.create_job(run.id, "build", "build")
        line = "2024-01-01T00:00:00.000Z compiling module_%07d.py with flags -O2 -Wall ... ok (%d)\\n"
        store.append_log(job, ["warm-up"])  # every code path loaded before measuring
        def rss_kib():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize() // 1024
        base, peak_base = rss_kib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        highest = base
        t = time.perf_counter()
        with store.log_writer(job) as log:
            for i in range(2_000_000):
                log.write(line % (i, i))
                if i % 50_000 == 0:
                    highest = max(highest, rss_kib())
        elapsed = time.perf_counter() - t
        # Both the sampled current RSS and the process high-water mark must stay put.
        growth = max(highest - base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_base)
        t = time.perf_counter()
        tail = store.tail_log(run.id, "build", 2)
        middle = list(store.read_log(run.id, "build", 1_000_001, 1_000_003))
        read_ms = (time.perf_counter() - t) * 1000
        print(json.dumps({"elapsed": elapsed, "growth_kib": growth, "tail": tail, "middle": middle,
                          "count": store.log_line_count(run.id, "build"), "read_ms": read_ms}))
        store.close()
        """
    )
    out = subprocess.run([sys.executable, "-c", script, db_url], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n2M lines: {result['elapsed']:.1f} s, peak RSS growth {result['growth_kib'] / 1024:.1f} MiB, "
          f"tail + range read {result['read_ms']:.1f} ms")  # fmt: skip
    assert result["count"] == 2_000_001
    assert result["tail"][-1].endswith("(1999999)")
    assert [m.rsplit("(", 1)[1] for m in result["middle"]] == ["1000000)", "1000001)"]
    assert result["growth_kib"] < 32 * 1024, "writing must not hold the log in memory"
    assert result["elapsed"] < 120


def _chunks(store: Store, job: int) -> list[tuple[int, int]]:
    from sqlalchemy import select

    from pheme.storage._orm import log_chunks

    with store._conn(write=False) as conn:
        rows = conn.execute(
            select(log_chunks.c.first_line, log_chunks.c.last_line)
            .where(log_chunks.c.job_id == job)
            .order_by(log_chunks.c.first_line)
        ).all()
    return [(r.first_line, r.last_line) for r in rows]


def test_blocks_of_joined_lines_are_chunked_at_line_ends_and_read_back_exactly(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    lines = [f"line {i} " + "x" * (i % 37) for i in range(5_000)]
    expected = list(lines)
    with store.log_writer(job, chunk_lines=700, chunk_bytes=4096) as log:
        for i in range(0, len(lines), 333):  # blocks of any size, cut anywhere by chunks
            block = lines[i : i + 333]
            log.write_block("\n".join(block), len(block))
        log.write("tail without newline")
        expected.append("tail without newline")
        log.write_block("after a partial line", 1)  # completes the pending partial line
        expected[-1] += "after a partial line"
    chunks = _chunks(store, job)
    sizes = [last - first + 1 for first, last in chunks]
    assert max(sizes) <= 700 and sum(sizes) == len(expected)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(chunks))  # contiguous
    assert list(store.read_log(run, "build")) == expected
    assert list(store.read_log(run, "build", 2_500, 2_510)) == expected[2_500:2_510]


def test_a_block_with_a_line_longer_than_the_limit_cuts_it_like_write_does(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    huge = "y" * (MAX_LINE_CHARS + 10)
    with store.log_writer(job, chunk_bytes=1024) as log:
        log.write_block("\n".join(["a", huge, "", "b"]), 4)
    assert [len(x) for x in store.read_log(run, "build")] == [1, MAX_LINE_CHARS, 10, 0, 1]


def test_many_tiny_lines_in_one_block_respect_the_chunk_line_limit(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    with store.log_writer(job, chunk_lines=100, chunk_bytes=1 << 20) as log:
        log.write_block("\n".join(str(i % 10) for i in range(1_050)), 1_050)
    assert [last - first + 1 for first, last in _chunks(store, job)] == [100] * 10 + [50]
    assert list(store.read_log(run, "build", 995, 1_005)) == [str(i % 10) for i in range(995, 1_005)]


def _insert_chunk(store: Store, job: int, first: int, lines: list[str], codec: int, data: bytes) -> None:
    """A chunk as an earlier Pheme stored it (the line count claimed as the writer does)."""
    from sqlalchemy import insert, update

    from pheme.storage._orm import jobs, log_chunks

    with store._conn(write=True) as conn:
        conn.execute(update(jobs).where(jobs.c.id == job).values(log_lines=first + len(lines)))
        conn.execute(
            insert(log_chunks).values(
                job_id=job, first_line=first, last_line=first + len(lines) - 1, codec=codec, data=data
            )
        )


def test_chunks_of_every_stored_format_read_back_side_by_side(store: Store) -> None:
    import zlib

    run, (job,) = _run_with_jobs(store, "build")
    old = [f"zlib line {i} ünï" for i in range(1_000)]
    raw = ["raw a", "", "raw c"]
    _insert_chunk(store, job, 0, old, logs_module.CODEC_ZLIB, zlib.compress("\n".join(old).encode(), 1))
    _insert_chunk(store, job, 1_000, raw, logs_module.CODEC_RAW, "\n".join(raw).encode())
    with store.log_writer(job) as log:  # appends after them, in today's format
        log.writelines(f"new line {i}" for i in range(2_000))
    expected = old + raw + [f"new line {i}" for i in range(2_000)]
    assert list(store.read_log(run, "build")) == expected
    assert list(store.read_log(run, "build", 990, 1_010)) == expected[990:1_010]
    assert store.tail_log(run, "build", 3) == expected[-3:]
    assert list(store.follow_log(run, "build", start_line=998, stop=lambda: True))[:5] == expected[998:1_003]
    from sqlalchemy import select

    from pheme.storage._orm import log_chunks

    with store._conn(write=False) as conn:
        codecs = conn.execute(select(log_chunks.c.codec).where(log_chunks.c.job_id == job)).scalars().all()
    assert set(codecs) == {logs_module.CODEC_ZLIB, logs_module.CODEC_RAW, logs_module.CODEC_ZSTD}


def test_a_chunk_in_an_unknown_format_is_a_clear_error(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    _insert_chunk(store, job, 0, ["from the future"], 99, b"?")
    with pytest.raises(StorageError, match="unknown codec 99"):
        store.tail_log(run, "build", 1)


def test_blocks_whose_lines_are_not_counted_by_the_caller_are_counted_when_stored(store: Store) -> None:
    run, (job,) = _run_with_jobs(store, "build")
    blocks = ["\n".join(f"b{b} l{i}" for i in range(n)) for b, n in enumerate([3, 1, 700, 2, 5_000, 1])]
    with store.log_writer(job, chunk_lines=1_000, chunk_bytes=8_192) as log:
        for block in blocks:
            log.write_block(block)
        assert log.line_count == 3 + 1 + 700 + 2 + 5_000 + 1
    expected = "\n".join(blocks).split("\n")
    assert list(store.read_log(run, "build")) == expected
    chunks = _chunks(store, job)
    assert all(last - first + 1 <= 1_000 for first, last in chunks)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(chunks))


def test_a_block_that_fits_an_empty_chunk_is_stored_whole(store: Store) -> None:
    """A step's output arrives in blocks of up to a chunk: each becomes one chunk, never
    cut in two (cutting costs a copy and a second count of the cut-off part)."""
    run, (job,) = _run_with_jobs(store, "build")
    header = ["##[group]Run make", "##[endgroup]"]
    blocks = ["\n".join(f"{b}:{i:05d} " + "x" * 90 for i in range(600)) for b in range(5)]  # ~58 KB each
    with store.log_writer(job, chunk_lines=1 << 20, chunk_bytes=64 * 1024) as log:
        log.writelines(header)
        for block in blocks:
            log.write_block(block)
    # The header shares the first block's chunk; no block is split between two chunks.
    assert [last - first + 1 for first, last in _chunks(store, job)] == [602, 600, 600, 600, 600]
    assert list(store.read_log(run, "build")) == header + "\n".join(blocks).split("\n")


def test_ascii_bytes_blocks_are_stored_exactly_as_the_same_text_would_be(store: Store) -> None:
    """A runner hands plain output on as the bytes it read: the chunks (numbering, cuts,
    compressed content) are those of the same text, and other bytes are read as UTF-8."""
    run, (as_text, as_bytes) = _run_with_jobs(store, "text", "bytes")
    lines = [f"line {i} " + "x" * (i % 37) for i in range(3_000)]
    for job, encode in ((as_text, False), (as_bytes, True)):
        with store.log_writer(job, chunk_lines=700, chunk_bytes=4096) as log:
            for i in range(0, len(lines), 333):
                block = "\n".join(lines[i : i + 333])
                log.write_block(block.encode() if encode else block)
            log.write_block("naïve ✓".encode() if encode else "naïve ✓")  # not ASCII: decoded
            log.write("partial ")
            log.write_block(b"end" if encode else "end")  # completes the partial line
    assert _chunks(store, as_bytes) == _chunks(store, as_text)
    expected = [*lines, "naïve ✓", "partial end"]
    assert list(store.read_log(run, "bytes")) == list(store.read_log(run, "text")) == expected
