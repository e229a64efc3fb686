"""Prometheus text format in, rates and histogram quantiles out — for the embedded ``scrape`` provider.

Why: without a Prometheus server, Pheme scrapes each version's ``/metrics``
itself. Two scrapes, ``interval`` apart, give the window's increase of every
counter; from that we compute what PromQL would: ``increase`` (with counter
resets handled as Prometheus does), success/error rates and
``histogram_quantile`` with the same linear interpolation inside a bucket.

Parsing uses prometheus_client's parser (pure text processing: no I/O).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "Sample",
    "Snapshot",
    "WindowCounts",
    "histogram_quantile",
    "increase",
    "parse_exposition",
    "window_counts",
]

LabelSet = frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All samples of one scrape, keyed by ``(sample name, label set)``."""

    samples: Mapping[tuple[str, LabelSet], float] = field(default_factory=dict)

    def series(self, name: str) -> list[Sample]:
        return [Sample(n, dict(labels), v) for (n, labels), v in self.samples.items() if n == name]


def parse_exposition(text: str) -> Snapshot:
    """Parse the Prometheus text exposition format. Raises ``ValueError`` on malformed input."""
    samples: dict[tuple[str, LabelSet], float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, frozenset(s.labels.items()))] = float(s.value)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"malformed metrics text: {exc}") from None
    return Snapshot(samples)


def increase(before: Snapshot | None, after: Snapshot) -> Snapshot:
    """Per-series increase from ``before`` to ``after``.

    A series absent before counts from zero (a new version's first requests);
    a value that went down means the process restarted, so the whole ``after``
    value is the increase — Prometheus' counter-reset rule.
    """
    out: dict[tuple[str, LabelSet], float] = {}
    prev = before.samples if before is not None else {}
    for key, value in after.samples.items():
        old = prev.get(key, 0.0)
        out[key] = value - old if value >= old else value
    return Snapshot(out)


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """What a window's increase says about requests: totals, errors and the latency histogram.

    ``buckets`` are ``(upper bound, cumulative count)`` pairs sorted by bound,
    the last one ``+Inf`` when the histogram has it.
    """

    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...]

    @property
    def success_rate(self) -> float:
        return (self.requests - self.errors) / self.requests if self.requests > 0 else math.nan

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests > 0 else math.nan

    def bucket_counts(self) -> list[float]:
        """Non-cumulative counts per bucket, lowest first (for the Mann–Whitney test)."""
        counts: list[float] = []
        below = 0.0
        for _, cumulative in self.buckets:
            counts.append(max(cumulative - below, 0.0))
            below = max(cumulative, below)
        return counts


def window_counts(
    window: Snapshot,
    *,
    requests_metric: str = "http_requests_total",
    status_label: str = "status",
    error_status: str = "5..",
    histogram: str = "http_request_duration_seconds",
    selector: Mapping[str, str] | None = None,
) -> WindowCounts:
    """Sum a window's increase into request, error and bucket counts.

    ``error_status`` is a regular expression over the status label, anchored
    like PromQL's ``=~``. ``selector`` restricts to series carrying those labels.
    """
    sel = selector or {}
    pattern = re.compile(f"(?:{error_status})")
    requests = errors = 0.0
    for s in window.series(requests_metric):
        if not _matches(s.labels, sel):
            continue
        requests += s.value
        if pattern.fullmatch(s.labels.get(status_label, "")):
            errors += s.value
    by_bound: dict[float, float] = {}
    for s in window.series(histogram + "_bucket"):
        if not _matches(s.labels, sel) or "le" not in s.labels:
            continue
        bound = float(s.labels["le"])
        by_bound[bound] = by_bound.get(bound, 0.0) + s.value
    return WindowCounts(requests, errors, tuple(sorted(by_bound.items())))


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding rank ``q*total``.

    Same edge cases as PromQL: NaN without an ``+Inf`` bucket or observations,
    the highest finite bound when the rank falls into ``+Inf``, the lower bound
    0 for the first bucket (if its bound is positive), ``-Inf``/``+Inf`` for
    ``q`` below 0 / above 1.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    bs = sorted(buckets)
    if len(bs) < 2 or not math.isinf(bs[-1][0]):
        return math.nan
    # Cumulative counts must not decrease (they can, slightly, after rate() over racing scrapes).
    fixed: list[tuple[float, float]] = []
    top = 0.0
    for bound, count in bs:
        top = max(top, count)
        fixed.append((bound, top))
    total = fixed[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    i = next(k for k, (_, c) in enumerate(fixed) if c >= rank)
    if i == len(fixed) - 1:
        return fixed[-2][0]
    bucket_end, count = fixed[i]
    if i == 0 and bucket_end <= 0:
        return bucket_end
    bucket_start, below = (0.0, 0.0) if i == 0 else fixed[i - 1]
    in_bucket = count - below
    if in_bucket == 0:
        return bucket_end
    return bucket_start + (bucket_end - bucket_start) * ((rank - below) / in_bucket)
