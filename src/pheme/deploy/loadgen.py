"""A steady keep-alive HTTP load, for proving that switches drop nothing (tests and bench).

``connections`` persistent HTTP/1.1 connections share ``rps`` requests per
second. Every request is recorded with the time it was sent, its status and
the body's label (which version answered). A request counts as failed if it
gets no response or a status other than 2xx.

One retry rule, the one every HTTP client applies (RFC 9112 9.3.1): a request
sent on a *reused* connection that the server had already closed (EOF or reset
before a single response byte) is sent again on a new connection. That is a
race inherent to keep-alive (a proxy reload closes idle connections), not a
lost request; such retries are counted separately in ``retried``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pheme.deploy._http import HttpError, read_body, read_head, response_framing

__all__ = ["Load", "Sample", "switch_latency", "version_label"]


@dataclass(frozen=True, slots=True)
class Sample:
    sent: float
    done: float
    status: int
    label: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.error


def version_label(body: bytes) -> str:
    """pheme-api's ``/version`` (or ``/``) body → its version."""
    try:
        return str(json.loads(body).get("version", ""))
    except (ValueError, AttributeError):
        return ""


@dataclass
class Load:
    host: str
    port: int
    path: str = "/version"
    rps: float = 200.0
    connections: int = 8
    label: Callable[[bytes], str] = version_label
    timeout: float = 10.0
    samples: list[Sample] = field(default_factory=list)
    retried: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        period = self.connections / self.rps
        t0 = time.monotonic()
        self._tasks = [
            asyncio.get_running_loop().create_task(self._conn(t0 + i * period / self.connections, period))
            for i in range(self.connections)
        ]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def failed(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    async def wait_for(self, predicate: Callable[[Sample], bool], timeout: float = 10.0) -> Sample:
        """The first sample sent from now on that satisfies ``predicate`` (polls, with a deadline)."""
        start = len(self.samples)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.samples[start:]:
                if predicate(s):
                    return s
            await asyncio.sleep(0.01)
        raise TimeoutError("no matching response within the deadline")

    async def _conn(self, first: float, period: float) -> None:
        # One optional pair rather than two optionals: the reader and writer exist together or not at all.
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        request = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        next_at = first
        try:
            while not self._stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                    if self._stop.is_set():
                        return
                next_at += period
                sent = time.monotonic()
                status, label, error = 0, "", ""
                for attempt in range(2):
                    reused = conn is not None
                    try:
                        if conn is None:
                            conn = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
                        reader, writer = conn
                        writer.write(request)
                        await writer.drain()
                        head = await asyncio.wait_for(read_head(reader), self.timeout)
                        if head is None:
                            raise ConnectionResetError("closed before a response")
                        body = await asyncio.wait_for(read_body(reader, response_framing(head, b"GET")), self.timeout)
                        status, label, error = int(head.first[1]), self.label(body), ""
                        if b"close" in head.tokens(b"connection"):
                            writer.close()
                            conn = None
                        break
                    except (OSError, HttpError, asyncio.IncompleteReadError, TimeoutError) as exc:
                        if conn is not None:
                            conn[1].close()
                        conn = None
                        error = f"{exc.__class__.__name__}: {exc}"
                        if reused and attempt == 0 and not isinstance(exc, TimeoutError):
                            self.retried += 1
                            continue
                        break
                self.samples.append(Sample(sent, time.monotonic(), status, label, error))
        finally:
            if conn is not None:
                conn[1].close()


def switch_latency(samples: list[Sample], t0: float, new_label: str, until: float | None = None) -> float:
    """Seconds from ``t0`` until every request sent afterwards was answered by ``new_label``.

    The time of the last request sent in ``[t0, until)`` that another version
    answered (0 if none). Requests are sent every few milliseconds, which
    bounds the measurement's resolution.
    """
    late = [s.sent for s in samples if s.sent >= t0 and (until is None or s.sent < until) and s.ok and s.label != new_label]
    return max(late) - t0 if late else 0.0
