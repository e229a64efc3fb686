"""Metric providers: where an analysis gets its numbers.

A provider opens a :class:`Probe` per metric; the runner calls
``probe.open()`` once when the analysis window starts and ``probe.measure()``
at the end of every interval. Each ``measure`` covers the time since the
previous one, so consecutive measurements judge disjoint windows (which the
Mann–Whitney alpha split relies on).

- :class:`ScrapeProvider`: Pheme scrapes each version's ``/metrics`` itself
  (the embedded default: no Prometheus needed). Counters are diffed between
  scrapes; histograms give quantiles by Prometheus' own interpolation.
- :class:`PrometheusProvider`: instant queries against a Prometheus server's
  HTTP API, with ``{{ service }}``/``{{ version }}``/... filled in, plus range
  queries of the canary and the baseline for the comparison.

Both return :class:`~pheme.core.monitoring.verdict.Observation`; they never
judge. Any failure to fetch becomes ``Observation(error=...)`` — a provider
never raises into the runner.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from pheme.core.monitoring import templates as tpl
from pheme.core.monitoring.promtext import (
    Snapshot,
    WindowCounts,
    histogram_quantile,
    increase,
    parse_exposition,
    window_counts,
)
from pheme.core.monitoring.verdict import Baseline, Observation

__all__ = [
    "AnalysisContext",
    "Probe",
    "PrometheusError",
    "PrometheusProbe",
    "ScrapeProbe",
    "open_probe",
    "prometheus_query",
    "prometheus_query_range",
]


@dataclass(frozen=True, slots=True)
class AnalysisContext:
    """What is being analysed, and where to find it.

    ``endpoints`` are base URLs of the version's replicas (``http://127.0.0.1:41234``);
    ``baseline_endpoints`` / ``baseline_version`` the same for the version it is
    compared with (usually the stable one), when there is one.
    """

    service: str
    environment: str
    version: str
    track: str
    endpoints: tuple[str, ...] = ()
    baseline_version: str | None = None
    baseline_track: str = "stable"
    baseline_endpoints: tuple[str, ...] = ()
    prometheus_url: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)


class Probe(Protocol):
    async def open(self) -> None: ...

    async def measure(self) -> Observation: ...


def _json_number(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v


# ----------------------------------------------------------------- scrape


class _Scraper:
    """Scrapes a set of endpoints and keeps the previous snapshot of each."""

    def __init__(self, client: httpx.AsyncClient, endpoints: Sequence[str], path: str) -> None:
        self.client = client
        self.urls = [e.rstrip("/") + path for e in endpoints]
        self.last: dict[str, Snapshot] = {}

    async def _scrape(self, url: str) -> Snapshot:
        response = await self.client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        try:
            return parse_exposition(response.text)
        except ValueError as exc:
            raise RuntimeError(f"{url}: {exc}") from None

    async def open(self) -> None:
        for url in self.urls:
            try:
                self.last[url] = await self._scrape(url)
            except (httpx.HTTPError, RuntimeError):
                # A replica that cannot be scraped yet counts from zero at the next scrape.
                self.last.pop(url, None)

    async def window(self, provider: tpl.ScrapeProvider) -> tuple[WindowCounts, dict[str, Any]]:
        """The increase since the previous call, summed over every endpoint."""
        if not self.urls:
            raise RuntimeError("no endpoint to scrape")
        requests = errors = 0.0
        buckets: dict[float, float] = {}
        per_endpoint: dict[str, Any] = {}
        failures: list[str] = []
        for url in self.urls:
            try:
                snap = await self._scrape(url)
            except httpx.HTTPError as exc:
                failures.append(f"scrape of {url} failed: {type(exc).__name__}: {exc}".rstrip(": "))
                continue
            except RuntimeError as exc:
                failures.append(str(exc))
                continue
            counts = window_counts(
                increase(self.last.get(url), snap),
                requests_metric=provider.requests_metric,
                status_label=provider.status_label,
                error_status=provider.error_status,
                histogram=provider.histogram,
            )
            self.last[url] = snap
            requests += counts.requests
            errors += counts.errors
            for bound, count in counts.buckets:
                buckets[bound] = buckets.get(bound, 0.0) + count
            per_endpoint[url] = {"requests": counts.requests, "errors": counts.errors}
        if failures and len(failures) == len(self.urls):
            raise RuntimeError("; ".join(failures))
        raw = {
            "endpoints": per_endpoint,
            "requests": requests,
            "errors": errors,
            "buckets": [[_json_number(b), c] for b, c in sorted(buckets.items())],
        }
        if failures:
            raw["failures"] = failures
        return WindowCounts(requests, errors, tuple(sorted(buckets.items()))), raw


def _signal(
    provider: tpl.ScrapeProvider, counts: WindowCounts, seconds: float
) -> tuple[float, float, tuple[float, ...] | None]:
    """(value, samples, grouped counts for the comparison, lowest category first)."""
    signal = provider.signal
    ok = counts.requests - counts.errors
    if signal == "success-rate":
        return counts.success_rate, counts.requests, (counts.errors, ok)
    if signal == "error-rate":
        return counts.error_rate, counts.requests, (ok, counts.errors)
    if signal == "request-rate":
        return (counts.requests / seconds if seconds > 0 else math.nan), counts.requests, None
    total = counts.buckets[-1][1] if counts.buckets else 0.0
    return histogram_quantile(provider.quantile, counts.buckets), total, tuple(counts.bucket_counts())


def _describe_scrape(provider: tpl.ScrapeProvider, ctx: AnalysisContext, seconds: float) -> str:
    what = {
        "success-rate": f'1 - increase({provider.requests_metric}{{{provider.status_label}=~"{provider.error_status}"}})'
        f" / increase({provider.requests_metric})",
        "error-rate": f'increase({provider.requests_metric}{{{provider.status_label}=~"{provider.error_status}"}})'
        f" / increase({provider.requests_metric})",
        "request-rate": f"increase({provider.requests_metric}) / seconds",
        "latency": f"histogram_quantile({provider.quantile:g}, increase({provider.histogram}_bucket))",
    }[provider.signal]
    where = ", ".join(e.rstrip("/") + provider.path for e in ctx.endpoints) or "(no endpoint)"
    return f"scrape {what} over {seconds:.1f}s of {ctx.service} {ctx.version} ({ctx.track}) from {where}"


class ScrapeProbe:
    def __init__(self, spec: tpl.MetricSpec, ctx: AnalysisContext, client: httpx.AsyncClient) -> None:
        assert isinstance(spec.provider, tpl.ScrapeProvider)
        self.provider: tpl.ScrapeProvider = spec.provider
        self.spec = spec
        self.ctx = ctx
        self.canary = _Scraper(client, ctx.endpoints, self.provider.path)
        self.baseline = (
            _Scraper(client, ctx.baseline_endpoints, self.provider.path) if ctx.baseline_endpoints else None
        )
        self.since = time.monotonic()

    async def open(self) -> None:
        await self.canary.open()
        if self.baseline is not None:
            await self.baseline.open()
        self.since = time.monotonic()

    async def measure(self) -> Observation:
        now = time.monotonic()
        seconds = now - self.since
        self.since = now
        query = _describe_scrape(self.provider, self.ctx, seconds)
        try:
            counts, raw = await self.canary.window(self.provider)
        except RuntimeError as exc:
            return Observation(query=query, error=str(exc))
        value, samples, grouped = _signal(self.provider, counts, seconds)
        raw = {"canary": raw, "seconds": round(seconds, 3)}
        baseline: Baseline | None = None
        if self.baseline is not None:
            try:
                b_counts, b_raw = await self.baseline.window(self.provider)
            except RuntimeError as exc:
                raw["baseline_error"] = str(exc)
            else:
                b_value, b_samples, b_grouped = _signal(self.provider, b_counts, seconds)
                baseline = Baseline(value=b_value, samples=b_samples, grouped=b_grouped)
                raw["baseline"] = b_raw
        return Observation(
            query=query,
            value=value,
            samples=samples,
            raw=raw,
            baseline=baseline,
            canary_grouped=grouped,
        )


# ------------------------------------------------------------- prometheus


class PrometheusError(RuntimeError):
    pass


def _check(response: httpx.Response, url: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise PrometheusError(f"{url} answered {response.status_code} with no JSON") from None
    if body.get("status") != "success":
        kind = body.get("errorType", "error")
        raise PrometheusError(f"Prometheus {kind}: {body.get('error', response.status_code)}")
    return body["data"]


async def prometheus_query(client: httpx.AsyncClient, base: str, query: str, at: float | None = None) -> Any:
    """``/api/v1/query``: the ``data`` object (``resultType``, ``result``). Raises :class:`PrometheusError`."""
    url = base.rstrip("/") + "/api/v1/query"
    params = {"query": query}
    if at is not None:
        params["time"] = f"{at:.3f}"
    try:
        response = await client.post(url, data=params)
    except httpx.HTTPError as exc:
        raise PrometheusError(
            f"Prometheus at {base} is unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
        ) from None
    return _check(response, url)


async def prometheus_query_range(
    client: httpx.AsyncClient, base: str, query: str, start: float, end: float, step: float
) -> Any:
    url = base.rstrip("/") + "/api/v1/query_range"
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    try:
        response = await client.post(url, data=params)
    except httpx.HTTPError as exc:
        raise PrometheusError(
            f"Prometheus at {base} is unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
        ) from None
    return _check(response, url)


def _float(text: Any) -> float:
    # Prometheus sends sample values as strings: "0.5", "NaN", "+Inf".
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _instant_value(data: Any) -> float | list[float] | None:
    """A scalar, one series' value, a list for several series, or ``None`` for an empty vector."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return _float(result[1])
    if kind == "vector":
        values = [_float(s["value"][1]) for s in result]
        if not values:
            return None
        return values[0] if len(values) == 1 else values
    raise PrometheusError(f"the query returned a {kind}, not a vector or scalar")


def _range_points(data: Any) -> tuple[float, ...]:
    if data.get("resultType") != "matrix":
        return ()
    return tuple(
        v
        for s in data.get("result", [])
        for _, text in s.get("values", [])
        if not math.isnan(v := _float(text))
    )


class PrometheusProbe:
    def __init__(self, spec: tpl.MetricSpec, ctx: AnalysisContext, client: httpx.AsyncClient) -> None:
        assert isinstance(spec.provider, tpl.PrometheusProvider)
        self.provider: tpl.PrometheusProvider = spec.provider
        self.spec = spec
        self.ctx = ctx
        self.client = client
        self.base = self.provider.address or ctx.prometheus_url or ""
        self.since = time.time()

    def _render(self, query: str, *, baseline: bool = False) -> str:
        ctx = self.ctx
        return tpl.render_query(
            query,
            service=ctx.service,
            version=(ctx.baseline_version or "") if baseline else ctx.version,
            track=ctx.baseline_track if baseline else ctx.track,
            interval=self.spec.interval,
            env=ctx.environment,
            args=ctx.args,
        )

    async def open(self) -> None:
        self.since = time.time()

    async def _side(
        self, *, baseline: bool, at: float, start: float
    ) -> tuple[str, Any, float | list[float] | None, float | None, tuple[float, ...]]:
        query = self._render(self.provider.query, baseline=baseline)
        data = await prometheus_query(self.client, self.base, query, at)
        value = _instant_value(data)
        samples: float | None = None
        if self.provider.sample_query:
            sample_data = await prometheus_query(
                self.client, self.base, self._render(self.provider.sample_query, baseline=baseline), at
            )
            s = _instant_value(sample_data)
            # No series at all: nothing was requested in the window.
            samples = 0.0 if s is None else (math.fsum(s) if isinstance(s, list) else s)
        points: tuple[float, ...] = ()
        if self.spec.compare is not None:
            step = min(self.provider.step, max(self.spec.interval / 2, 0.001))
            points = _range_points(
                await prometheus_query_range(self.client, self.base, query, start, at, step)
            )
        return query, data.get("result"), value, samples, points

    async def measure(self) -> Observation:
        at = time.time()
        start, self.since = self.since, at
        query = self._render(self.provider.query)
        if not self.base:
            return Observation(
                query=query,
                error="no Prometheus address (set provider.prometheus.address or PHEME_PROMETHEUS_URL)",
            )
        try:
            query, result, value, samples, points = await self._side(baseline=False, at=at, start=start)
        except PrometheusError as exc:
            return Observation(query=query, error=str(exc))
        raw: dict[str, Any] = {
            "result": result,
            "samples": samples,
            "time": round(at, 3),
            "prometheus": self.base,
        }
        baseline: Baseline | None = None
        if self.ctx.baseline_version is not None:
            try:
                b_query, b_result, b_value, b_samples, b_points = await self._side(
                    baseline=True, at=at, start=start
                )
            except PrometheusError as exc:
                raw["baseline_error"] = str(exc)
            else:
                b_single = b_value if isinstance(b_value, float) else None
                baseline = Baseline(value=b_single, samples=b_samples, series=b_points or None, query=b_query)
                raw["baseline"] = {"query": b_query, "result": b_result, "samples": b_samples}
        return Observation(
            query=query,
            value=value,
            samples=samples,
            raw=raw,
            baseline=baseline,
            canary_series=points or None,
        )


def open_probe(spec: tpl.MetricSpec, ctx: AnalysisContext, client: httpx.AsyncClient) -> Probe:
    if isinstance(spec.provider, tpl.ScrapeProvider):
        return ScrapeProbe(spec, ctx, client)
    return PrometheusProbe(spec, ctx, client)
