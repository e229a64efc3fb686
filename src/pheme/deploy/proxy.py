"""The embedded reverse proxy (router ``builtin``): asyncio, HTTP/1.1 keep-alive on both sides.

Why switching is safe here:

* The routing table is one immutable object; :meth:`Proxy.set_table` swaps
  the reference. Each request picks its upstream from the table it sees when
  it starts, so a switch affects new requests only and in-flight ones finish
  on the upstream they started on. Nothing is restarted, no socket closed.
* Upstream connections are pooled per endpoint. An endpoint that leaves the
  table has its idle connections closed at once and its busy ones closed as
  they finish; :meth:`Proxy.drain` waits for that, so a process is stopped
  only once no request can still reach it.
* A request is retried on another connection only when it is provably
  unprocessed: the connect failed, or a pooled (reused) connection turned
  out to be closed before a single response byte came, and the method is
  idempotent (RFC 9110 9.2.2) with its body fully buffered. Otherwise the
  client gets a 502: a proxy that replays a POST can charge a card twice.

Weights are percentages per revision; each revision lists its ready
endpoints (the local target updates them as health checks change). A
revision with weight but no ready endpoint gives its share to the others,
as a Kubernetes Service with no ready endpoints would route nothing to it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pheme.deploy._http import (
    HOP_BY_HOP,
    Framing,
    Head,
    HttpError,
    read_head,
    relay_body,
    request_framing,
    response_framing,
)

__all__ = ["Proxy", "RouteTable"]

IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))
BUFFER_LIMIT = 1024 * 1024  # bodies up to this size are buffered, so their requests can be retried
CLIENT_IDLE_TIMEOUT = 75.0
UPSTREAM_TIMEOUT = 60.0
POOL_IDLE_MAX = 32
CONNECT_TIMEOUT = 2.0
Address = tuple[str, int]


class _Endpoint:
    __slots__ = ("addr", "drained", "idle", "inflight", "retired")

    def __init__(self, addr: Address) -> None:
        self.addr = addr
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.inflight = 0
        self.retired = False
        self.drained = asyncio.Event()
        self.drained.set()

    def close_idle(self) -> None:
        while self.idle:
            _, writer = self.idle.popleft()
            writer.close()


@dataclass(frozen=True, slots=True)
class RouteTable:
    """An immutable snapshot: cumulative weights over revisions that have ready endpoints."""

    revisions: tuple[int, ...] = ()
    cumulative: tuple[int, ...] = ()
    endpoints: tuple[tuple[Address, ...], ...] = ()

    @classmethod
    def build(cls, table: Mapping[int, tuple[int, Sequence[Address]]]) -> RouteTable:
        revisions: list[int] = []
        cumulative: list[int] = []
        endpoints: list[tuple[Address, ...]] = []
        total = 0
        for rev, (weight, addrs) in sorted(table.items()):
            if weight <= 0 or not addrs:
                continue
            total += weight
            revisions.append(rev)
            cumulative.append(total)
            endpoints.append(tuple(addrs))
        return cls(tuple(revisions), tuple(cumulative), tuple(endpoints))

    def pick(self, rng: random.Random, counter: int) -> tuple[int, tuple[Address, ...]] | None:
        if not self.revisions:
            return None
        i = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        i = min(i, len(self.revisions) - 1)
        return self.revisions[i], self.endpoints[i]


class Proxy:
    """A reverse proxy listening on ``host:port`` (0 = a free port, see :attr:`port`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._want_port = port
        self._server: asyncio.Server | None = None
        self._table = RouteTable()
        self._endpoints: dict[Address, _Endpoint] = {}
        self._rng = random.Random()
        self._rr = itertools.count()
        self._clients: set[asyncio.StreamWriter] = set()
        self.requests = 0
        self.errors = 0

    # ---------------------------------------------------------------- control

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.host, self._want_port, reuse_address=True, backlog=1024
        )

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def table(self) -> RouteTable:
        return self._table

    def set_table(self, table: Mapping[int, tuple[int, Sequence[Address]]]) -> None:
        """Swap the routing table (effective for the next request). ``{revision: (weight, endpoints)}``."""
        new = RouteTable.build(table)
        live = {a for eps in new.endpoints for a in eps}
        for addr in live:
            ep = self._endpoints.get(addr)
            if ep is None:
                self._endpoints[addr] = _Endpoint(addr)
            else:
                ep.retired = False
        self._table = new
        for addr, ep in list(self._endpoints.items()):
            if addr not in live:
                ep.retired = True
                ep.close_idle()
                if ep.inflight == 0:
                    del self._endpoints[addr]

    async def drain(self, addrs: Sequence[Address], timeout: float = 30.0) -> None:
        """Wait until no request is in flight to ``addrs`` (which must no longer be routed)."""
        deadline = time.monotonic() + timeout
        for addr in addrs:
            ep = self._endpoints.get(addr)
            if ep is None:
                continue
            ep.close_idle()
            left = deadline - time.monotonic()
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ep.drained.wait(), left)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        for ep in self._endpoints.values():
            ep.close_idle()

    # --------------------------------------------------------------- requests

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        peer = writer.get_extra_info("peername")
        client_ip = peer[0].encode() if isinstance(peer, tuple) else b"unix"
        try:
            while True:
                try:
                    head = await asyncio.wait_for(read_head(reader), CLIENT_IDLE_TIMEOUT)
                except (TimeoutError, HttpError, ConnectionError):
                    return
                if head is None:
                    return
                keep = await self._one(head, reader, writer, client_ip)
                if not keep:
                    return
        except (ConnectionError, HttpError, asyncio.IncompleteReadError):
            return
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _one(
        self, head: Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client_ip: bytes
    ) -> bool:
        """Serve one request; True to keep the client connection."""
        self.requests += 1
        method, target, version = head.first
        conn_tokens = head.tokens(b"connection")
        client_keep = (b"close" not in conn_tokens) if version.upper() != b"HTTP/1.0" else (b"keep-alive" in conn_tokens)
        try:
            framing = request_framing(head)
        except HttpError:
            writer.write(_simple(400, b"bad request"))
            return False
        body: bytes | None = None
        if framing.kind == "length" and framing.length <= BUFFER_LIMIT:
            body = await reader.readexactly(framing.length)
        elif framing.kind == "none":
            body = b""
        hop = HOP_BY_HOP | {t for t in conn_tokens}
        out_headers = [(k, v) for k, v in head.headers if k.lower() not in hop]
        out_headers.append((b"X-Forwarded-For", client_ip))
        request_head = b"%s %s HTTP/1.1\r\n" % (method, target) + b"".join(b"%s: %s\r\n" % kv for kv in out_headers) + b"\r\n"
        retryable = body is not None and method in IDEMPOTENT
        tried: set[Address] = set()
        attempts = 0
        while True:
            attempts += 1
            choice = self._table.pick(self._rng, 0)
            if choice is None:
                self.errors += 1
                writer.write(_simple(503, b"no ready upstream"))
                await writer.drain()
                return client_keep and body is not None
            _, addrs = choice
            addr = self._pick_addr(addrs, tried)
            ep = self._endpoints.get(addr) or self._endpoints.setdefault(addr, _Endpoint(addr))
            ep.inflight += 1
            ep.drained.clear()
            try:
                outcome = await self._exchange(ep, method, request_head, body, framing, reader, writer, client_keep)
            finally:
                ep.inflight -= 1
                if ep.inflight == 0:
                    ep.drained.set()
                    if ep.retired:
                        ep.close_idle()
                        if self._endpoints.get(addr) is ep:
                            del self._endpoints[addr]
            if outcome is not None:
                return outcome
            # Nothing was sent to the client and the request was not processed: try again.
            tried.add(addr)
            if not retryable or attempts >= 4:
                self.errors += 1
                writer.write(_simple(502, b"upstream unavailable"))
                await writer.drain()
                return client_keep and body is not None

    def _pick_addr(self, addrs: tuple[Address, ...], tried: set[Address]) -> Address:
        fresh = [a for a in addrs if a not in tried] or list(addrs)
        return fresh[next(self._rr) % len(fresh)]

    async def _exchange(
        self,
        ep: _Endpoint,
        method: bytes,
        request_head: bytes,
        body: bytes | None,
        framing: Framing,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        client_keep: bool,
    ) -> bool | None:
        """One attempt. None = failed before any response byte (safe to retry if idempotent)."""
        reused = False
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while ep.idle:
            candidate = ep.idle.pop()
            if candidate[0].at_eof() or candidate[1].is_closing():
                candidate[1].close()
                continue
            conn, reused = candidate, True
            break
        if conn is None:
            try:
                conn = await asyncio.wait_for(asyncio.open_connection(*ep.addr), CONNECT_TIMEOUT)
            except (OSError, TimeoutError):
                return None
        ureader, uwriter = conn
        try:
            uwriter.write(request_head)
            if body is not None:
                if body:
                    uwriter.write(body)
            else:
                await relay_body(creader, uwriter, framing)
            await uwriter.drain()
            rhead = await asyncio.wait_for(read_head(ureader), UPSTREAM_TIMEOUT)
            while rhead is not None and rhead.first[1] == b"100":
                rhead = await asyncio.wait_for(read_head(ureader), UPSTREAM_TIMEOUT)
        except (OSError, HttpError, asyncio.IncompleteReadError, TimeoutError) as exc:
            uwriter.close()
            if isinstance(exc, TimeoutError):
                cwriter.write(_simple(504, b"upstream timeout"))
                self.errors += 1
                return False
            return None if (reused or body is not None) else _fail(cwriter, self)
        if rhead is None:
            uwriter.close()
            return None if (reused or body is not None) else _fail(cwriter, self)
        rframing = response_framing(rhead, method)
        upstream_keep = (
            rframing.kind != "close"
            and rhead.first[0].upper() == b"HTTP/1.1"
            and b"close" not in rhead.tokens(b"connection")
        )
        keep = client_keep and rframing.kind != "close"
        hop = HOP_BY_HOP | rhead.tokens(b"connection")
        headers = [(k, v) for k, v in rhead.headers if k.lower() not in hop]
        if not keep:
            headers.append((b"Connection", b"close"))
        cwriter.write(
            b"HTTP/1.1 %s %s\r\n" % (rhead.first[1], rhead.first[2])
            + b"".join(b"%s: %s\r\n" % kv for kv in headers)
            + b"\r\n"
        )
        try:
            await relay_body(ureader, cwriter, rframing)
            await cwriter.drain()
        except (OSError, HttpError, asyncio.IncompleteReadError):
            uwriter.close()
            return False
        if upstream_keep and not ep.retired and len(ep.idle) < POOL_IDLE_MAX:
            ep.idle.append((ureader, uwriter))
        else:
            uwriter.close()
        return keep


def _fail(writer: asyncio.StreamWriter, proxy: Proxy) -> bool:
    proxy.errors += 1
    writer.write(_simple(502, b"upstream closed the connection"))
    return False


def _simple(status: int, text: bytes) -> bytes:
    reasons = {400: b"Bad Request", 502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout"}
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
        % (status, reasons.get(status, b"Error"), len(text), text)
    )
