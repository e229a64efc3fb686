"""Prometheus metrics without a client library: one counter and one histogram."""

from __future__ import annotations

import threading

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """``http_requests_total{status}`` and ``http_request_duration_seconds`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[int, int] = {}
        self._bucket_counts = [0] * len(BUCKETS)
        self._count = 0
        self._sum = 0.0

    def observe(self, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[status] = self._requests.get(status, 0) + 1
            self._count += 1
            self._sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._bucket_counts[i] += 1

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            lines = [
                "# HELP http_requests_total HTTP requests served, by status code.",
                "# TYPE http_requests_total counter",
            ]
            for status in sorted(self._requests):
                lines.append(f'http_requests_total{{status="{status}"}} {self._requests[status]}')
            lines += [
                "# HELP http_request_duration_seconds Time spent serving HTTP requests.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for bound, count in zip(BUCKETS, self._bucket_counts, strict=True):
                lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {count}')
            lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self._count}')
            lines.append(f"http_request_duration_seconds_sum {self._sum:.6f}")
            lines.append(f"http_request_duration_seconds_count {self._count}")
        return "\n".join(lines) + "\n"
