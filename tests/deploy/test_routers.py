"""Both routers under a keep-alive load: switches, canary weights and drained stops drop no request."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from pheme.deploy.loadgen import Load, switch_latency
from pheme.deploy.nginx import NginxInstance
from pheme.deploy.proxy import Proxy
from pheme.deploy.supervisor import free_port

from .conftest import Backend, nginx_or_skip

pytestmark = pytest.mark.timeout(120)


async def _backends(backends: list[Backend], *versions: str) -> list[Backend]:
    made = [Backend(v) for v in versions]
    backends.extend(made)
    await asyncio.gather(*(b.ready() for b in made))
    return made


class _Builtin:
    def __init__(self) -> None:
        self.proxy = Proxy()

    async def start(self) -> int:
        await self.proxy.start()
        return self.proxy.port

    async def route(self, table: dict[int, tuple[int, list[tuple[str, int]]]]) -> None:
        self.proxy.set_table(table)

    async def drain(self, addrs: list[tuple[str, int]]) -> None:
        await self.proxy.drain(addrs)

    async def close(self) -> None:
        await self.proxy.close()


class _Nginx:
    def __init__(self, prefix: Path) -> None:
        self.nginx = NginxInstance(prefix)
        self.port = free_port()

    async def start(self) -> int:
        return self.port

    async def route(self, table: dict[int, tuple[int, list[tuple[str, int]]]]) -> None:
        await self.nginx.apply("api/test", "127.0.0.1", self.port, table)

    async def drain(self, addrs: list[tuple[str, int]]) -> None:
        return None  # the reload already waited for the old workers to stop accepting

    async def close(self) -> None:
        await self.nginx.stop()


@pytest.fixture(params=["builtin", "nginx"])
def router(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    if request.param == "nginx":
        nginx_or_skip()
        return _Nginx(tmp_path / "nginx")
    return _Builtin()


async def _scenario(router: object, backends: list[Backend]) -> None:
    r = router
    blue, green = await _backends(backends, "blue", "green")
    port = await r.start()  # type: ignore[attr-defined]
    await r.route({1: (100, [blue.addr])})  # type: ignore[attr-defined]
    load = Load("127.0.0.1", port, rps=200, connections=8)
    load.start()
    try:
        await load.wait_for(lambda s: s.label == "blue")
        latencies = []
        for i in range(6):  # blue-green switches back and forth
            new = green if i % 2 == 0 else blue
            t0 = time.monotonic()
            await r.route({1 if new is blue else 2: (100, [new.addr])})  # type: ignore[attr-defined]
            await load.wait_for(lambda s, v=new.version: s.label == v)
            await asyncio.sleep(0.15)  # let requests after the switch accumulate
            latencies.append(switch_latency(load.samples, t0, new.version, until=time.monotonic()))
        # Canary weights: both versions answer, in roughly the asked proportion.
        await r.route({1: (80, [blue.addr]), 2: (20, [green.addr])})  # type: ignore[attr-defined]
        mark = len(load.samples)
        await asyncio.sleep(1.5)
        seen = Counter(s.label for s in load.samples[mark:])
        assert seen["blue"] > seen["green"] > 0, seen
        # Abort: 0% to the canary, then stop it once drained.
        t0 = time.monotonic()
        await r.route({1: (100, [blue.addr])})  # type: ignore[attr-defined]
        await r.drain([green.addr])  # type: ignore[attr-defined]
        green.stop()
        await asyncio.sleep(0.3)
        assert switch_latency(load.samples, t0, "blue") < 0.25
    finally:
        await load.stop()
        await r.close()  # type: ignore[attr-defined]
    assert load.failed == [], load.failed[:3]
    assert len(load.samples) > 300
    assert max(latencies) < 0.25, latencies


def test_switches_under_load_drop_nothing_and_take_effect_fast(router: object, backends: list[Backend]) -> None:
    asyncio.run(_scenario(router, backends))


def test_builtin_proxy_answers_503_without_a_ready_upstream_and_502_when_the_upstream_is_gone(backends: list[Backend]) -> None:
    async def go() -> None:
        from pheme.deploy._http import http_get

        proxy = Proxy()
        await proxy.start()
        try:
            status, _ = await http_get("127.0.0.1", proxy.port, "/", 2)
            assert status == 503
            proxy.set_table({1: (100, [("127.0.0.1", free_port())])})  # nothing listens there
            status, _ = await http_get("127.0.0.1", proxy.port, "/", 5)
            assert status == 502
        finally:
            await proxy.close()

    asyncio.run(go())


def test_builtin_proxy_relays_bodies_and_keeps_the_connection(backends: list[Backend]) -> None:
    async def go() -> None:
        (blue,) = await _backends(backends, "blue")
        proxy = Proxy()
        await proxy.start()
        proxy.set_table({1: (100, [blue.addr])})
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            from pheme.deploy._http import read_body, read_head, response_framing

            for path in ("/version", "/metrics", "/nope"):
                writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                await writer.drain()
                head = await read_head(reader)
                assert head is not None
                body = await read_body(reader, response_framing(head, b"GET"))
                assert (path, int(head.first[1])) == (path, 404 if path == "/nope" else 200)
                if path == "/metrics":
                    assert b"http_requests_total" in body
            writer.close()
        finally:
            await proxy.close()

    asyncio.run(go())
