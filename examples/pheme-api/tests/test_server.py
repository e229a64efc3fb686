"""Runs the service on a free loopback port and checks what a client sees."""

from __future__ import annotations

import json
import random
import threading
import unittest
import urllib.error
import urllib.request

from pheme_api.metrics import Metrics
from pheme_api.server import Config, ThreadingHTTPServer, make_handler


class ServerTest(unittest.TestCase):
    def start(self, env: dict[str, str]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Config(env), Metrics(), random.Random(1)))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def get(self, url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def test_health_and_version(self) -> None:
        base = self.start({"APP_VERSION": "2.0.0"})
        self.assertEqual(self.get(base + "/health"), (200, '{"status": "ok"}'))
        status, body = self.get(base + "/version")
        self.assertEqual((status, json.loads(body)), (200, {"version": "2.0.0"}))

    def test_metrics_count_requests_by_status(self) -> None:
        base = self.start({})
        self.get(base + "/")
        self.get(base + "/missing")
        _, text = self.get(base + "/metrics")
        self.assertIn('http_requests_total{status="200"} 1', text)
        self.assertIn('http_requests_total{status="404"} 1', text)
        self.assertIn('http_request_duration_seconds_bucket{le="+Inf"} 2', text)
        self.assertIn("http_request_duration_seconds_count 2", text)

    def test_error_rate_injects_failures_but_health_stays_up(self) -> None:
        base = self.start({"ERROR_RATE": "1"})
        self.assertEqual(self.get(base + "/")[0], 500)
        self.assertEqual(self.get(base + "/health")[0], 200)
        _, text = self.get(base + "/metrics")
        self.assertIn('http_requests_total{status="500"} 1', text)

    def test_latency_is_added(self) -> None:
        base = self.start({"LATENCY_MS": "60"})
        self.get(base + "/")
        _, text = self.get(base + "/metrics")
        self.assertIn('http_request_duration_seconds_bucket{le="0.05"} 0', text)
        self.assertIn('http_request_duration_seconds_bucket{le="0.1"} 1', text)


if __name__ == "__main__":
    unittest.main()
