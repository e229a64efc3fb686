"""Built-in analysis templates for the two signals every Pheme-deployed service exposes.

The seed service (examples/pheme-api) exports ``http_requests_total{status}``
and the ``http_request_duration_seconds`` histogram; so do most HTTP services
instrumented with a Prometheus client. The built-ins judge:

- ``success-rate``: the share of requests not answered 5xx, at least 95 %, and
  not significantly lower than the stable version's (Mann–Whitney);
- ``latency-p99``: the p99 latency from the histogram, at most 500 ms, and not
  significantly higher than stable's by more than 25 ms;
- ``http``: both.

Each comes in two flavours: the default uses the embedded ``scrape`` provider
(no Prometheus needed); ``prometheus/<name>`` runs the same judgement as PromQL
against a Prometheus server, selecting series by the ``service`` and
``version`` target labels that ``pheme monitoring config --prometheus`` adds.

They are written as YAML and loaded with the ordinary loader, so they obey the
same rules as user templates.
"""

from __future__ import annotations

from functools import cache

from pheme.core.monitoring.templates import AnalysisTemplate, load_template

__all__ = ["BUILTIN_NAMES", "builtin_template", "builtin_templates"]

_SEL = 'service="{{ service }}",version="{{ version }}"'

_SUCCESS_SCRAPE = """
  - name: success-rate
    provider:
      scrape: {signal: success-rate}
    successCondition: result >= 0.95
    minSamples: 20
    compare: {baseline: stable, alpha: 0.005, worse: lower, tolerance: 0.0}
"""

_LATENCY_SCRAPE = """
  - name: latency-p99
    provider:
      scrape: {signal: latency, quantile: 0.99}
    successCondition: result <= 0.5
    minSamples: 20
    compare: {baseline: stable, alpha: 0.005, worse: higher, tolerance: 0.025}
"""

_SUCCESS_PROM = f"""
  - name: success-rate
    provider:
      prometheus:
        query: >-
          1 - (sum(rate(http_requests_total{{{_SEL},status=~"5.."}}[{{{{ interval }}}}])) or vector(0))
          / sum(rate(http_requests_total{{{_SEL}}}[{{{{ interval }}}}]))
        sampleQuery: sum(increase(http_requests_total{{{_SEL}}}[{{{{ interval }}}}]))
    successCondition: result >= 0.95
    minSamples: 20
    compare: {{baseline: stable, alpha: 0.005, worse: lower, tolerance: 0.0}}
"""

_LATENCY_PROM = f"""
  - name: latency-p99
    provider:
      prometheus:
        query: >-
          histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{_SEL}}}[{{{{ interval }}}}])))
        sampleQuery: sum(increase(http_request_duration_seconds_count{{{_SEL}}}[{{{{ interval }}}}]))
    successCondition: result <= 0.5
    minSamples: 20
    compare: {{baseline: stable, alpha: 0.005, worse: higher, tolerance: 0.025}}
"""

_HEADER = """
name: {name}
description: {description}
interval: 10s
count: 3
failureLimit: 0
inconclusiveLimit: 2
consecutiveErrorLimit: 2
metrics:
"""

_DEFS: dict[str, tuple[str, tuple[str, ...]]] = {
    "success-rate": ("Share of requests not answered 5xx, canary versus stable.", (_SUCCESS_SCRAPE,)),
    "latency-p99": ("p99 request latency from the histogram, canary versus stable.", (_LATENCY_SCRAPE,)),
    "http": ("Success rate and p99 latency.", (_SUCCESS_SCRAPE, _LATENCY_SCRAPE)),
    "prometheus/success-rate": ("Success rate from a Prometheus server.", (_SUCCESS_PROM,)),
    "prometheus/latency-p99": ("p99 latency from a Prometheus server.", (_LATENCY_PROM,)),
    "prometheus/http": (
        "Success rate and p99 latency from a Prometheus server.",
        (_SUCCESS_PROM, _LATENCY_PROM),
    ),
}

BUILTIN_NAMES: tuple[str, ...] = tuple(_DEFS)


@cache
def builtin_template(name: str) -> AnalysisTemplate:
    """A built-in template by name; ``KeyError`` if there is none."""
    description, metrics = _DEFS[name]
    text = _HEADER.format(name=name, description=description) + "".join(metrics)
    return load_template(text, f"<builtin:{name}>")


def builtin_templates() -> dict[str, AnalysisTemplate]:
    return {name: builtin_template(name) for name in BUILTIN_NAMES}
