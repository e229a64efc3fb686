"""Fixtures: the seed service (examples/pheme-api) in-process, traffic to it, and a real Prometheus.

The service runs in a thread of the test process (its own ThreadingHTTPServer on
a free port), so tests can start several versions with different ERROR_RATE
cheaply. Prometheus is the real binary from Debian's ``prometheus`` package,
started on a free port with a temporary config and storage directory; the
tests that need it skip with a clear message when the binary is absent.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "pheme-api" / "src"))

from pheme_api.server import Config, serve  # noqa: E402


@dataclass
class Service:
    version: str
    url: str
    port: int
    server: Any

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Traffic:
    """Background GETs to ``/`` of some services, until stopped."""

    urls: list[str]
    rate: float = 200.0  # requests per second per service (roughly)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    sent: int = 0

    def _run(self, url: str) -> None:
        # A fresh connection per request: the stdlib server writes headers and body separately,
        # and on a kept-alive connection Nagle + delayed ACK turn that into 40 ms per request.
        host, port = url.removeprefix("http://").split(":")
        pause = 1.0 / self.rate
        while not self._stop.is_set():
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            try:
                conn.request("GET", "/", headers={"Connection": "close"})
                conn.getresponse().read()
                self.sent += 1
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            self._stop.wait(pause)

    def start(self) -> Traffic:
        for url in self.urls:
            t = threading.Thread(target=self._run, args=(url,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)


def start_pheme_api(version: str = "1.0.0", error_rate: float = 0.0, latency_ms: float = 0.0) -> Service:
    """examples/pheme-api in a thread of this process, on a free port."""
    cfg = Config({"APP_VERSION": version, "ERROR_RATE": str(error_rate), "LATENCY_MS": str(latency_ms)})
    server = serve("127.0.0.1", 0, cfg)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = server.server_address[1]
    return Service(version, f"http://127.0.0.1:{port}", port, server)


@pytest.fixture
def start_service() -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(version: str = "1.0.0", error_rate: float = 0.0, latency_ms: float = 0.0) -> Service:
        svc = start_pheme_api(version, error_rate, latency_ms)
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture
def traffic() -> Iterator[Callable[..., Traffic]]:
    running: list[Traffic] = []

    def go(*services: Service, rate: float = 200.0) -> Traffic:
        t = Traffic([s.url for s in services], rate).start()
        running.append(t)
        return t

    yield go
    for t in running:
        t.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PROMETHEUS = shutil.which("prometheus")


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    config: Path
    log: Path

    def wait_for_samples(self, query: str, timeout: float = 30.0) -> None:
        """Until ``query`` returns at least one series (scrapes have happened)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                body = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=2).json()
                if body.get("data", {}).get("result"):
                    return
            time.sleep(0.2)
        raise AssertionError(
            f"Prometheus never returned data for {query}; log:\n{self.log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_prometheus(config_text: str, workdir: Path) -> PrometheusServer:
    """Start the real prometheus binary with ``config_text``; skips the test if it is not installed."""
    if PROMETHEUS is None:
        pytest.skip(
            "the prometheus binary is not installed (Debian package 'prometheus'; `make system-deps`)"
        )
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text)
    log = workdir / "prometheus.log"
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    server = PrometheusServer(url, proc, config, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"prometheus did not become ready:\n{log.read_text()[-2000:]}")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str], PrometheusServer]]:
    """Start a real Prometheus with the given prometheus.yml text (scrape interval of your choice)."""
    servers: list[PrometheusServer] = []

    def start(config_text: str) -> PrometheusServer:
        server = start_prometheus(config_text, tmp_path / f"prometheus-{len(servers)}")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
