"""Just enough HTTP/1.1 for the proxy, health checks and the agent's API (asyncio streams).

Why our own: the proxy must relay bytes as they come (chunked or fixed
length), keep connections alive on both sides and know exactly whether an
upstream had sent a single byte before failing (only then is a retry safe).
Client libraries hide all three.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Framing", "Head", "HttpError", "http_get", "read_body", "read_head", "relay_body", "serve_json"]

MAX_HEAD = 64 * 1024
HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade", b"proxy-authenticate", b"proxy-authorization")
)


class HttpError(Exception):
    """Malformed HTTP, or the peer closed before a complete message."""


@dataclass(slots=True)
class Head:
    """A request or response head. ``first`` is the start line split in three."""

    first: tuple[bytes, bytes, bytes]
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def get(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def tokens(self, name: bytes) -> set[bytes]:
        out: set[bytes] = set()
        for k, v in self.headers:
            if k.lower() == name:
                out.update(t.strip().lower() for t in v.split(b","))
        return out


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next head, or None on a clean EOF before any byte (the peer closed an idle connection)."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError("connection closed in the middle of a message head") from None
    except asyncio.LimitOverrunError:
        raise HttpError("message head too large") from None
    lines = raw[:-4].split(b"\r\n")
    while lines and not lines[0]:  # tolerate stray CRLFs between messages (RFC 9112 2.2)
        lines.pop(0)
    if not lines:
        raise HttpError("empty message head")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2:
        raise HttpError("malformed start line")
    if len(parts) == 2:
        parts.append(b"")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise HttpError("malformed header line")
        headers.append((name, value.strip()))
    return Head((parts[0], parts[1], parts[2]), headers)


@dataclass(frozen=True, slots=True)
class Framing:
    """How a body ends: ``length`` bytes, chunked, until close, or no body."""

    kind: str  # "none" | "length" | "chunked" | "close"
    length: int = 0


def request_framing(head: Head) -> Framing:
    if b"chunked" in head.tokens(b"transfer-encoding"):
        return Framing("chunked")
    cl = head.get(b"content-length")
    if cl is not None:
        try:
            n = int(cl)
        except ValueError:
            raise HttpError("bad Content-Length") from None
        if n < 0:
            raise HttpError("bad Content-Length")
        return Framing("length", n) if n else Framing("none")
    return Framing("none")


def response_framing(head: Head, method: bytes) -> Framing:
    status = int(head.first[1]) if head.first[1].isdigit() else 0
    if method == b"HEAD" or 100 <= status < 200 or status in (204, 304):
        return Framing("none")
    if b"chunked" in head.tokens(b"transfer-encoding"):
        return Framing("chunked")
    cl = head.get(b"content-length")
    if cl is not None:
        try:
            return Framing("length", int(cl))
        except ValueError:
            raise HttpError("bad Content-Length") from None
    return Framing("close")


async def relay_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, framing: Framing, sink: list[bytes] | None = None
) -> None:
    """Copy one body from ``reader`` to ``writer`` (and/or ``sink``), framing bytes included."""

    def out(data: bytes) -> None:
        if writer is not None:
            writer.write(data)
        if sink is not None:
            sink.append(data)

    if framing.kind == "none":
        return
    if framing.kind == "length":
        left = framing.length
        while left:
            chunk = await reader.read(min(left, 65536))
            if not chunk:
                raise HttpError("connection closed in the middle of a body")
            out(chunk)
            left -= len(chunk)
            if writer is not None and writer.transport.get_write_buffer_size() > 262144:
                await writer.drain()
        return
    if framing.kind == "chunked":
        while True:
            try:
                line = await reader.readuntil(b"\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                raise HttpError("bad chunked body") from None
            out(line)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError("bad chunk size") from None
            if size == 0:
                while True:  # trailers, then the empty line
                    try:
                        trailer = await reader.readuntil(b"\r\n")
                    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                        raise HttpError("bad chunked trailer") from None
                    out(trailer)
                    if trailer == b"\r\n":
                        return
            await relay_body(reader, writer, Framing("length", size + 2), sink)
        return
    while True:  # until close
        chunk = await reader.read(65536)
        if not chunk:
            return
        out(chunk)
        if writer is not None:
            await writer.drain()


async def read_body(reader: asyncio.StreamReader, framing: Framing, limit: int = 16 * 1024 * 1024) -> bytes:
    """A whole body in memory (chunked framing removed)."""
    if framing.kind == "length":
        if framing.length > limit:
            raise HttpError("body too large")
        return await reader.readexactly(framing.length)
    if framing.kind == "none":
        return b""
    raw: list[bytes] = []
    await relay_body(reader, None, framing, raw)
    data = b"".join(raw)
    if framing.kind != "chunked":
        return data
    out = bytearray()
    pos = 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


async def http_get(host: str, port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """``GET path`` on a fresh connection (``Connection: close``): status and body. Raises OSError/TimeoutError/HttpError."""

    async def go() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            head = await read_head(reader)
            if head is None:
                raise HttpError("connection closed before a response")
            body = await read_body(reader, response_framing(head, b"GET"))
            return int(head.first[1]), body
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout)


def json_response(status: int, payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}
    return (
        f"HTTP/1.1 {status} {reason.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def serve_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Any) -> None:
    """One keep-alive connection of a small JSON API: ``await handler(method, path, body) -> (status, payload)``."""
    try:
        while True:
            head = await read_head(reader)
            if head is None:
                return
            body = await read_body(reader, request_framing(head))
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                writer.write(json_response(400, {"error": "the request body is not JSON"}))
                await writer.drain()
                continue
            status, answer = await handler(head.first[0].decode(), head.first[1].decode(), payload)
            writer.write(json_response(status, answer))
            await writer.drain()
            if b"close" in head.tokens(b"connection"):
                return
    except (HttpError, ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()
