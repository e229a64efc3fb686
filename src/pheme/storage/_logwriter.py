"""Appending a job's log as compressed, line-numbered chunks (see :mod:`pheme.storage._logs`).

The writer is separate from the reading side, and from SQL: it talks to its
store through two calls (:class:`ChunkSink`), which the SQLAlchemy store and
the standard-library one of ``pheme run`` (:mod:`pheme.storage._lite`) both
implement, so a log is chunked, counted and compressed by this one class
whichever of them stores it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, AnyStr, Protocol, cast

import zstandard

from pheme.errors import StorageError
from pheme.storage._errors import NotFoundError

__all__ = ["CHUNK_BYTES", "CHUNK_LINES", "CODEC_ZSTD", "ChunkSink", "LogWriter"]

CHUNK_LINES = 4096
CHUNK_BYTES = 64 * 1024
FLUSH_INTERVAL_S = 1.0
# A "line" without a newline longer than this is cut, so one runaway writer cannot exhaust memory.
MAX_LINE_CHARS = 1024 * 1024
ZSTD_LEVEL = 1

CODEC_RAW = 0
CODEC_ZLIB = 1  # what Pheme wrote before (level 1); read only
CODEC_ZSTD = 2


class ChunkSink(Protocol):
    """Where a :class:`LogWriter` stores its chunks."""

    def log_start(self, job_id: int) -> int | None:
        """Lines the job's log has stored so far; None if there is no such job."""

    def store_chunks(self, job_id: int, first: int, end: int, rows: list[dict[str, object]]) -> bool:
        """In one transaction: move the job's line count from ``first`` to ``end`` and insert
        the chunk rows. False (nothing stored) if the count was not ``first``."""


class LogWriter:
    """Appends a job's log, buffering lines into chunks. Not thread-safe; one per job.

    ``write(text)`` takes arbitrary text (partial lines are kept until their
    newline arrives); ``writeline`` / ``writelines`` take whole lines and
    ``write_block`` whole lines already joined by ``\\n`` (no Python object per
    line: the fast path for a step printing millions of lines). A block's lines
    need not be counted by the caller: they are counted once, when the chunk
    holding them is sealed, unless the chunk's line limit could be reached
    sooner. A block that fits in an empty chunk is never cut: the buffered
    lines are sealed first, so a stream of large blocks becomes one chunk per
    block (no joining, no second pass to count a cut-off part). A chunk is
    sealed (its lines counted and numbered, its text compressed) when it is
    full, when ``flush_interval`` seconds have passed since the last one and
    something is written, or on :meth:`flush` / :meth:`close`, and stored at
    once. With ``autostore=False`` sealed chunks wait for :meth:`store_sealed`:
    the recorder compresses outside its transaction (no database lock held
    meanwhile) and stores a batch's chunks with one UPDATE and one INSERT.
    :meth:`flush` and :meth:`close` always store. Use it as a context manager:
    closing stores the remainder (including a last line without newline).
    """

    def __init__(
        self,
        store: ChunkSink,
        job_id: int,
        *,
        chunk_lines: int = CHUNK_LINES,
        chunk_bytes: int = CHUNK_BYTES,
        flush_interval: float = FLUSH_INTERVAL_S,
        autostore: bool = True,
    ) -> None:
        if chunk_lines < 1 or chunk_bytes < 1:
            raise ValueError("chunk_lines and chunk_bytes must be positive")
        self._store = store
        self.job_id = job_id
        self._chunk_lines = chunk_lines
        self._chunk_bytes = chunk_bytes
        self._flush_interval = flush_interval
        self._autostore = autostore
        self._sealed: list[dict[str, object]] = []  # chunk rows not stored yet
        stored = store.log_start(job_id)
        if stored is None:
            raise NotFoundError(f"job {job_id} not found")
        self._next = int(stored)
        # The buffered chunk: pieces of one or more whole lines each, joined by "\n" when stored.
        # Parts are str, or bytes (see write_block): ASCII bytes count as their characters.
        self._parts: list[str | bytes] = []
        self._count = 0  # lines in the counted parts of _parts
        self._uncounted = 0  # an upper bound of the lines in the parts not counted yet (0: none)
        self._bytes = 0  # characters in _parts, one newline per line included
        self._partial = ""
        self._last_store = time.monotonic()
        self._closed = False
        # One context per writer, reused: a ZstdCompressor must not be shared between
        # threads, and a fresh one per chunk would allocate (and fault in) its tables again.
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)

    @property
    def line_count(self) -> int:
        """Complete lines written so far (stored or buffered)."""
        return self._next + self._buffered_lines()

    def _buffered_lines(self) -> int:
        if self._uncounted:  # count them now (a pass over the buffer; storing needs it anyway)
            self._count = sum(map(_newlines, self._parts)) + len(self._parts)
            self._uncounted = 0
        return self._count

    def _full(self) -> bool:
        if self._bytes >= self._chunk_bytes:
            return True
        if self._count + self._uncounted < self._chunk_lines:
            return False
        return self._buffered_lines() >= self._chunk_lines

    def write(self, text: str) -> None:
        """Append text; every ``\\n`` ends a line."""
        if self._closed:
            self._check_open()
        if not text:
            return
        if not self._partial and text[-1] == "\n" and text.find("\n") == len(text) - 1 < MAX_LINE_CHARS:
            # Fast path: exactly one whole line (what a runner writes most of the time).
            self._parts.append(text[:-1])
            self._count += 1
            self._bytes += len(text)
            if self._full() or time.monotonic() - self._last_store >= self._flush_interval:
                self._seal()
            return
        if self._partial:
            text = self._partial + text
            self._partial = ""
        cut = text.rfind("\n")
        if cut >= 0:
            self._add_block(text[:cut], None)
        tail = text[cut + 1 :]
        while len(tail) > MAX_LINE_CHARS:
            self._add(tail[:MAX_LINE_CHARS])
            tail = tail[MAX_LINE_CHARS:]
        self._partial = tail
        self._maybe_store()

    def writeline(self, line: str) -> None:
        """Append one line (a ``\\n`` inside it starts another line)."""
        self.write(line + "\n")

    def writelines(self, lines: Iterable[str]) -> None:
        """Append many whole lines (a ``\\n`` inside one starts another line)."""
        self._check_open()
        batch = lines if isinstance(lines, list) else list(lines)
        if not batch:
            return
        if self._partial:
            self.write("\n".join(batch) + "\n")
            return
        self._add_block("\n".join(batch), None)
        self._maybe_store()

    def write_block(self, text: str | bytes, count: int | None = None) -> None:
        """Append whole lines joined by ``\\n`` (``count``, if given, is ``text.count("\\n") + 1``).

        ``text`` may be ASCII bytes (as read from a step's pipe): stored as they are,
        never decoded. Other bytes are taken as UTF-8.
        """
        self._check_open()
        if isinstance(text, bytes) and (self._partial or not text.isascii()):
            text = text.decode("utf-8", "surrogateescape")
        if self._partial:
            assert isinstance(text, str)
            self.write(text + "\n")
            return
        if isinstance(text, bytes):
            self._add_block(text, count)
        else:
            self._add_block(text, count)
        self._maybe_store()

    def _add_block(self, text: AnyStr, count: int | None) -> None:
        """Buffer whole lines given joined, cutting chunks at line ends with ``rfind``
        (C speed): no per-line Python work unless lines are very long or very short."""
        nl = _newline(text)
        start, end = 0, len(text)
        # Within MAX_LINE_CHARS too: a window without a newline means a line to cut.
        limit = min(self._chunk_bytes, MAX_LINE_CHARS)
        while True:
            rest = end - start
            room = min(self._chunk_bytes - self._bytes, MAX_LINE_CHARS)
            if rest >= room and self._parts:
                self._seal()  # an empty chunk has room for the block, or for more of it
                continue
            if rest < room:
                # The characters fit (and no line is too long); do the lines? A block of n
                # characters has at most n + 1: count only when that bound is in the way.
                if count is None and self._count + self._uncounted + rest + 1 > self._chunk_lines:
                    self._buffered_lines()
                    if self._count + rest + 1 > self._chunk_lines:
                        count = text.count(nl, start) + 1
                lines = rest + 1 if count is None else count
                if self._count + self._uncounted + lines <= self._chunk_lines:
                    self._append(text[start:] if start else text, count)
                    if self._full():
                        self._seal()
                    return
                if self._parts:
                    self._seal()
                    continue
            # More than a whole chunk holds (characters or lines): seal the most that fits,
            # cut at a line end.
            cut = text.rfind(nl, start, start + limit) if rest >= limit else end
            if cut < 0:
                # One line longer than a whole chunk: the per-line path cuts it.
                at = text.find(nl, start)
                self._add(text[start:] if at < 0 else text[start:at])
                if at < 0:
                    return
                start = at + 1
                count = None if count is None else count - 1
                continue
            piece_count = text.count(nl, start, cut) + 1
            if piece_count > self._chunk_lines:
                cut = _nth_newline(text, start, self._chunk_lines)
                piece_count = self._chunk_lines
            self._append(text[start:cut], piece_count)
            self._seal()
            if cut >= end:
                return
            start = cut + 1
            count = None if count is None else count - piece_count

    def _append(self, piece: str | bytes, count: int | None) -> None:
        self._parts.append(piece)
        if count is None:
            self._uncounted += len(piece) + 1  # at most that many lines
        else:
            self._count += count
        self._bytes += len(piece) + 1

    def flush(self) -> None:
        """Store the buffered complete lines now (a pending partial line stays buffered)."""
        if self._parts:
            self._seal()
        self.store_sealed()

    def close(self) -> None:
        """Store everything, including a final line without newline. Idempotent."""
        if self._closed:
            return
        if self._partial:
            self._add(self._partial)
            self._partial = ""
        self.flush()
        self._closed = True

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"log writer of job {self.job_id} is closed")

    def _add(self, line: str | bytes) -> None:
        """One line without newline; longer than ``MAX_LINE_CHARS``: cut into several."""
        if len(line) > MAX_LINE_CHARS:
            for i in range(0, len(line), MAX_LINE_CHARS):
                self._add(line[i : i + MAX_LINE_CHARS])
            return
        self._parts.append(line)
        self._count += 1
        self._bytes += len(line) + 1
        if self._full():
            self._seal()

    def _maybe_store(self) -> None:
        if self._parts and time.monotonic() - self._last_store >= self._flush_interval:
            self._seal()

    def _seal(self) -> None:
        """Number, count and compress the buffered lines as one chunk; store it unless deferred."""
        parts = self._parts
        count = sum(map(_newlines, parts)) + len(parts) if self._uncounted else self._count
        first = self._next
        data = self._compressor.compress(_joined(parts))
        self._sealed.append(
            {
                "job_id": self.job_id,
                "first_line": first,
                "last_line": first + count - 1,
                "codec": CODEC_ZSTD,
                "data": data,
            }
        )
        self._next = first + count
        self._parts = []
        self._count = 0
        self._uncounted = 0
        self._bytes = 0
        self._last_store = time.monotonic()
        if self._autostore:
            self.store_sealed()

    def store_sealed(self) -> None:
        """Store the sealed chunks (in the store's current transaction, if any)."""
        if not self._sealed:
            return
        rows, self._sealed = self._sealed, []
        first, end = rows[0]["first_line"], self._next
        assert isinstance(first, int)
        # The sink claims the line numbers first: a second writer of the same job fails here, clearly.
        if not self._store.store_chunks(self.job_id, first, end, rows):
            raise StorageError(f"job {self.job_id}: its log was appended by another writer")


def _nth_newline(text: AnyStr, start: int, n: int) -> int:
    """Index of the ``n``-th newline at or after ``start`` (there are at least ``n``)."""
    nl = _newline(text)
    pos = start - 1
    for _ in range(n):
        pos = text.index(nl, pos + 1)
    return pos


def _newline(text: AnyStr) -> AnyStr:
    nl: Any = b"\n" if isinstance(text, bytes) else "\n"
    return cast("AnyStr", nl)


def _newlines(part: str | bytes) -> int:
    return part.count(b"\n") if isinstance(part, bytes) else part.count("\n")


def _encoded(part: str | bytes) -> bytes:
    return part if isinstance(part, bytes) else part.encode("utf-8", "surrogateescape")


def _joined(parts: list[str | bytes]) -> bytes:
    """The parts joined by newlines, as UTF-8 (bytes parts are stored as they are)."""
    if len(parts) == 1:
        return _encoded(parts[0])
    if all(isinstance(p, str) for p in parts):
        return "\n".join(cast("list[str]", parts)).encode("utf-8", "surrogateescape")
    return b"\n".join(map(_encoded, parts))
