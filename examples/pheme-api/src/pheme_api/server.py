"""The HTTP service: ``/``, ``/health``, ``/version`` and ``/metrics``.

Faults can be injected through the environment, so a deployment can be made to
misbehave on purpose: ``ERROR_RATE`` (0..1, share of requests answered 500) and
``LATENCY_MS`` (added to every request). ``/health`` and ``/metrics`` never fail,
so a bad version still starts and its error rate shows up in its metrics;
``HEALTH=fail`` makes ``/health`` answer 503 (a version that never gets ready).

HTTP/1.1 with keep-alive, as a service behind a proxy should speak it. On
SIGTERM the server stops accepting, lets the requests in progress finish
(up to 10 s) and exits: that is what makes a rolling stop lose no request.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pheme_api import __version__
from pheme_api.metrics import Metrics


class Config:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        self.version = env.get("APP_VERSION", __version__)
        self.error_rate = min(max(float(env.get("ERROR_RATE", "0") or 0), 0.0), 1.0)
        self.latency_ms = max(float(env.get("LATENCY_MS", "0") or 0), 0.0)
        self.healthy = env.get("HEALTH", "ok").lower() != "fail"


class _Active:
    """Requests in progress, so a graceful stop can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def __enter__(self) -> None:
        with self.cond:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self.count -= 1
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count == 0, timeout)


ACTIVE = _Active()


def make_handler(config: Config, metrics: Metrics, rng: random.Random | None = None) -> type[BaseHTTPRequestHandler]:
    chooser = rng or random.Random()

    class Handler(BaseHTTPRequestHandler):
        server_version = f"pheme-api/{config.version}"
        protocol_version = "HTTP/1.1"  # keep-alive: every response has a Content-Length
        timeout = 120  # an idle keep-alive connection is closed after this

        def log_message(self, format: str, *args: object) -> None:  # quiet by default
            if os.environ.get("ACCESS_LOG"):
                super().log_message(format, *args)

        def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with ACTIVE:
                self._get()

        def _get(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.render(), "text/plain; version=0.0.4")
                return
            started = time.perf_counter()
            if config.latency_ms:
                time.sleep(config.latency_ms / 1000)
            if path == "/health":
                status, body = (200, {"status": "ok"}) if config.healthy else (503, {"status": "failing"})
            elif path == "/version":
                status, body = 200, {"version": config.version}
            elif path == "/":
                if config.error_rate and chooser.random() < config.error_rate:
                    status, body = 500, {"error": "injected failure"}
                else:
                    status, body = 200, {"message": "hello from pheme-api", "version": config.version}
            else:
                status, body = 404, {"error": "not found"}
            self._send(status, json.dumps(body))
            metrics.observe(status, time.perf_counter() - started)

    return Handler


def serve(host: str = "127.0.0.1", port: int = 8000, config: Config | None = None) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0 picks a free one); call ``serve_forever``."""
    return ThreadingHTTPServer((host, port), make_handler(config or Config(), Metrics()))


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    server = serve(host, port)
    print(f"pheme-api {Config().version} listening on http://{host}:{server.server_address[1]}", flush=True)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever to return, so it must run in another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        ACTIVE.wait_idle(10.0)
