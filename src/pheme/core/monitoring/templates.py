"""Analysis templates: the immutable model and its YAML loader.

A template names the metrics that decide whether a version is healthy. Each
metric has a provider (``prometheus``: a PromQL query against a real server;
``scrape``: Pheme scrapes the version's ``/metrics`` itself), a schedule
(``interval``, ``count``, ``initialDelay``), conditions over ``result`` and the
limits that turn measurements into a verdict. Schedule and limits can be set
once at the top of the template and overridden per metric::

    name: success-rate
    interval: 5s
    count: 3
    metrics:
      - name: success-rate
        provider:
          scrape: {signal: success-rate}
        successCondition: result >= 0.95
        failureCondition: result < 0.90
        minSamples: 20
        compare: {baseline: stable, alpha: 0.01}

Why strict loading: a typo in a template must fail when the template is
loaded (``file:line:col: message``), not when a canary is already taking
traffic. Unknown keys, unknown placeholders in queries and conditions over
unknown names are all load-time errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from pheme.core.monitoring.conditions import Condition, ConditionError, parse_condition
from pheme.core.yamlpos import BOOL, FLOAT, INT, MAP, NULL, SEQ, STR, Node, YamlError, compose
from pheme.errors import Problem, WorkflowError

__all__ = [
    "PLACEHOLDERS",
    "SIGNALS",
    "AnalysisTemplate",
    "Comparison",
    "MetricSpec",
    "PrometheusProvider",
    "ScrapeProvider",
    "Signal",
    "format_duration",
    "load_template",
    "parse_duration",
    "render_query",
]

Signal = Literal["success-rate", "error-rate", "request-rate", "latency"]
SIGNALS: tuple[Signal, ...] = ("success-rate", "error-rate", "request-rate", "latency")

#: Placeholders a query may use: ``{{ service }}``, ``{{ args.NAME }}``...
PLACEHOLDERS = ("service", "version", "track", "env", "interval")

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float) -> float:
    """Seconds from ``"5s"``, ``"1m30s"``, ``"500ms"``, ``"2h"`` or a plain number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0 or math.isnan(value):
            raise ValueError(f"duration must be zero or more, got {value}")
        return float(value)
    text = str(value).strip()
    if not text:
        raise ValueError("empty duration")
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 5m, 1h30m, 500ms)")
    return total


def format_duration(seconds: float) -> str:
    """A Prometheus duration: ``5s``, ``90s``, ``5m``, ``1500ms``."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    if s and s % 3600 == 0:
        return f"{s // 3600}h"
    if s and s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


@dataclass(frozen=True, slots=True)
class PrometheusProvider:
    """A PromQL query against a Prometheus server's HTTP API.

    ``sample_query`` gives the number of requests behind ``query`` in the window
    (for the minimum-sample gate). ``address`` is optional: the server given to
    the runner is used when it is empty. ``step`` is the resolution of the range
    query used for the canary-versus-baseline comparison.
    """

    query: str
    sample_query: str | None = None
    address: str | None = None
    step: float = 1.0

    @property
    def kind(self) -> str:
        return "prometheus"


@dataclass(frozen=True, slots=True)
class ScrapeProvider:
    """Pheme scrapes each version's ``/metrics`` and computes ``signal`` over the window."""

    signal: Signal
    quantile: float = 0.99
    requests_metric: str = "http_requests_total"
    histogram: str = "http_request_duration_seconds"
    status_label: str = "status"
    error_status: str = "5.."
    path: str = "/metrics"

    @property
    def kind(self) -> str:
        return "scrape"


Provider = PrometheusProvider | ScrapeProvider


@dataclass(frozen=True, slots=True)
class Comparison:
    """Canary versus baseline with a Mann–Whitney U test (Kayenta's judge).

    The canary fails when it is significantly worse (one-sided ``p < alpha``)
    *and* worse by more than ``tolerance`` (in the metric's own units), so a
    statistically real but negligible difference does not roll back.
    ``worse`` says which direction is bad: ``lower`` for a success rate,
    ``higher`` for latency or an error rate.
    """

    baseline: str = "stable"
    alpha: float = 0.01
    worse: Literal["higher", "lower"] = "lower"
    tolerance: float = 0.0


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    provider: Provider
    interval: float = 60.0
    count: int = 3
    initial_delay: float = 0.0
    success: Condition | None = None
    failure: Condition | None = None
    failure_limit: int = 0
    consecutive_error_limit: int = 4
    inconclusive_limit: int = 2
    on_inconclusive: Literal["inconclusive", "fail"] = "inconclusive"
    on_error: Literal["fail", "inconclusive"] = "fail"
    min_samples: int = 0
    compare: Comparison | None = None

    @property
    def max_measurements(self) -> int:
        """An upper bound on measurements before a verdict is certain (for timeouts and tests)."""
        return (
            self.count
            + self.inconclusive_limit
            + 1
            + (self.consecutive_error_limit + 1) * (self.count + self.inconclusive_limit + 1)
        )


@dataclass(frozen=True, slots=True)
class AnalysisTemplate:
    name: str
    metrics: tuple[MetricSpec, ...]
    description: str = ""
    source: str = "<builtin>"
    args: Mapping[str, str] = field(default_factory=dict)

    def metric(self, name: str) -> MetricSpec:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def with_schedule(
        self, *, interval: float | None = None, count: int | None = None, initial_delay: float | None = None
    ) -> AnalysisTemplate:
        """The template with every metric's schedule overridden (a deployment step's ``interval: 5s``)."""
        changes: dict[str, float | int] = {}
        if interval is not None:
            changes["interval"] = interval
        if count is not None:
            changes["count"] = count
        if initial_delay is not None:
            changes["initial_delay"] = initial_delay
        if not changes:
            return self
        return replace(self, metrics=tuple(replace(m, **changes) for m in self.metrics))  # type: ignore[arg-type]

    def with_args(self, args: Mapping[str, str]) -> AnalysisTemplate:
        """The template with argument values bound (unknown names are refused by :func:`render_query`)."""
        merged = {**self.args, **args}
        return replace(self, args=merged)


def _promql_string(value: str) -> str:
    """Escape for use inside a double-quoted PromQL label value."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_query(
    query: str,
    *,
    service: str,
    version: str,
    track: str,
    interval: float,
    env: str = "",
    args: Mapping[str, str] | None = None,
) -> str:
    """Fill ``{{ service }}``, ``{{ version }}``, ``{{ track }}``, ``{{ env }}``, ``{{ interval }}``, ``{{ args.X }}``.

    Values are escaped for PromQL double-quoted strings, so a version such as
    ``1.0"}`` cannot change the query's meaning. Unknown placeholders raise
    ``KeyError`` (the loader checks queries up front, so this is a bug guard).
    """
    values = {
        "service": _promql_string(service),
        "version": _promql_string(version),
        "track": _promql_string(track),
        "env": _promql_string(env),
        "interval": format_duration(interval),
    }
    for k, v in (args or {}).items():
        values[f"args.{k}"] = _promql_string(v)

    def sub(m: re.Match[str]) -> str:
        return values[m.group(1)]

    return _PLACEHOLDER.sub(sub, query)


# --- loader ------------------------------------------------------------------


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, node: Node | None, message: str) -> None:
        line, col = (node.line, node.col) if node is not None else (1, 1)
        self.items.append(Problem(self.file, line, col, message))


_KINDS = {
    STR: "a string",
    INT: "a number",
    FLOAT: "a number",
    BOOL: "true/false",
    NULL: "null",
    MAP: "a mapping",
    SEQ: "a list",
}

_SCHEDULE_KEYS = {
    "interval",
    "count",
    "initialDelay",
    "failureLimit",
    "consecutiveErrorLimit",
    "inconclusiveLimit",
    "onInconclusive",
    "onError",
    "minSamples",
}
_TOP_KEYS = {"apiVersion", "kind", "name", "description", "args", "metrics", *_SCHEDULE_KEYS}
_METRIC_KEYS = {"name", "provider", "successCondition", "failureCondition", "compare", *_SCHEDULE_KEYS}


def _mapping(node: Node, p: _Problems, where: str) -> dict[str, Node]:
    if node.kind != MAP:
        p.add(node, f"{where} must be a mapping, not {_KINDS.get(node.kind, 'this')}")
        return {}
    out: dict[str, Node] = {}
    for k, v in node.value:
        out[str(k.value)] = v
    return out


def _check_keys(keys: Mapping[str, Node], allowed: set[str], p: _Problems, where: str) -> None:
    for key, node in keys.items():
        if key not in allowed:
            p.add(node, f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})")


def _key_nodes(node: Node) -> dict[str, Node]:
    return {str(k.value): k for k, _ in node.value} if node.kind == MAP else {}


def _str(node: Node, p: _Problems, where: str) -> str | None:
    if node.kind not in (STR, INT, FLOAT) or isinstance(node.value, bool):
        p.add(node, f"{where} must be a string")
        return None
    return str(node.value).strip()


def _int(node: Node, p: _Problems, where: str, minimum: int = 0) -> int | None:
    if node.kind != INT or isinstance(node.value, bool):
        p.add(node, f"{where} must be a whole number")
        return None
    if int(node.value) < minimum:
        p.add(node, f"{where} must be at least {minimum}")
        return None
    return int(node.value)


def _float(node: Node, p: _Problems, where: str) -> float | None:
    if node.kind not in (INT, FLOAT) or isinstance(node.value, bool):
        p.add(node, f"{where} must be a number")
        return None
    return float(node.value)


def _duration(node: Node, p: _Problems, where: str) -> float | None:
    if node.kind not in (STR, INT, FLOAT):
        p.add(node, f"{where} must be a duration such as 30s or 5m")
        return None
    try:
        return parse_duration(node.value)
    except ValueError as exc:
        p.add(node, f"{where}: {exc}")
        return None


def _schedule(m: dict[str, Node], p: _Problems, where: str) -> dict[str, object]:
    out: dict[str, object] = {}
    if "interval" in m:
        v = _duration(m["interval"], p, f"{where}.interval")
        if v is not None and v <= 0:
            p.add(m["interval"], f"{where}.interval must be more than zero")
        elif v is not None:
            out["interval"] = v
    if "initialDelay" in m:
        v = _duration(m["initialDelay"], p, f"{where}.initialDelay")
        if v is not None:
            out["initial_delay"] = v
    for key, attr, minimum in (
        ("count", "count", 1),
        ("failureLimit", "failure_limit", 0),
        ("consecutiveErrorLimit", "consecutive_error_limit", 0),
        ("inconclusiveLimit", "inconclusive_limit", 0),
        ("minSamples", "min_samples", 0),
    ):
        if key in m:
            iv = _int(m[key], p, f"{where}.{key}", minimum)
            if iv is not None:
                out[attr] = iv
    for key, attr, choices in (
        ("onInconclusive", "on_inconclusive", ("inconclusive", "fail")),
        ("onError", "on_error", ("fail", "inconclusive")),
    ):
        if key in m:
            sv = _str(m[key], p, f"{where}.{key}")
            if sv is not None and sv not in choices:
                p.add(m[key], f"{where}.{key} must be one of: {', '.join(choices)}")
            elif sv is not None:
                out[attr] = sv
    return out


def _check_placeholders(node: Node, text: str, args: Mapping[str, str], p: _Problems, where: str) -> None:
    for m in _PLACEHOLDER.finditer(text):
        name = m.group(1)
        if name in PLACEHOLDERS:
            continue
        if name.startswith("args.") and name[5:] in args:
            continue
        known = ", ".join([*PLACEHOLDERS, *(f"args.{a}" for a in args)])
        p.add(node, f"{where}: unknown placeholder {{{{ {name} }}}} (known: {known})")
    stray = _PLACEHOLDER.sub("", text)
    if "{{" in stray or "}}" in stray:
        p.add(node, f"{where}: unbalanced '{{{{' or '}}}}'")


def _provider(node: Node, args: Mapping[str, str], p: _Problems, where: str) -> Provider | None:
    m = _mapping(node, p, where)
    if len(m) != 1 or next(iter(m)) not in ("prometheus", "scrape"):
        p.add(node, f"{where} must have exactly one of: prometheus, scrape")
        return None
    kind, body = next(iter(m.items()))
    here = f"{where}.{kind}"
    b = _mapping(body, p, here)
    keys = _key_nodes(body)
    if kind == "prometheus":
        _check_keys(keys, {"query", "sampleQuery", "address", "step"}, p, here)
        if "query" not in b:
            p.add(body, f"{here} needs a query")
            return None
        query = _str(b["query"], p, f"{here}.query")
        sample = _str(b["sampleQuery"], p, f"{here}.sampleQuery") if "sampleQuery" in b else None
        address = _str(b["address"], p, f"{here}.address") if "address" in b else None
        step = _duration(b["step"], p, f"{here}.step") if "step" in b else 1.0
        if query is None or step is None:
            return None
        if not query:
            p.add(b["query"], f"{here}.query is empty")
            return None
        _check_placeholders(b["query"], query, args, p, f"{here}.query")
        if sample is not None:
            _check_placeholders(b["sampleQuery"], sample, args, p, f"{here}.sampleQuery")
        if step <= 0:
            p.add(b["step"], f"{here}.step must be more than zero")
        return PrometheusProvider(
            query=query, sample_query=sample or None, address=address or None, step=step
        )
    allowed = {"signal", "quantile", "requestsMetric", "histogram", "statusLabel", "errorStatus", "path"}
    _check_keys(keys, allowed, p, here)
    if "signal" not in b:
        p.add(body, f"{here} needs a signal ({', '.join(SIGNALS)})")
        return None
    signal = _str(b["signal"], p, f"{here}.signal")
    if signal not in SIGNALS:
        p.add(b["signal"], f"{here}.signal must be one of: {', '.join(SIGNALS)}")
        return None
    kw: dict[str, object] = {}
    if "quantile" in b:
        q = _float(b["quantile"], p, f"{here}.quantile")
        if q is not None and not 0 < q < 1:
            p.add(b["quantile"], f"{here}.quantile must be between 0 and 1 (e.g. 0.99)")
        elif q is not None:
            kw["quantile"] = q
    for key, attr in (
        ("requestsMetric", "requests_metric"),
        ("histogram", "histogram"),
        ("statusLabel", "status_label"),
        ("errorStatus", "error_status"),
        ("path", "path"),
    ):
        if key in b:
            sv = _str(b[key], p, f"{here}.{key}")
            if sv:
                kw[attr] = sv
    if "errorStatus" in kw:
        try:
            re.compile(str(kw["errorStatus"]))
        except re.error as exc:
            p.add(b["errorStatus"], f"{here}.errorStatus is not a valid regular expression: {exc}")
    return ScrapeProvider(signal=signal, **kw)  # type: ignore[arg-type]


def _comparison(node: Node, p: _Problems, where: str, default_worse: str) -> Comparison | None:
    if node.kind == BOOL:
        return Comparison(worse=default_worse) if node.value else None  # type: ignore[arg-type]
    m = _mapping(node, p, where)
    _check_keys(_key_nodes(node), {"baseline", "alpha", "worse", "tolerance", "test"}, p, where)
    kw: dict[str, object] = {"worse": default_worse}
    if "test" in m:
        t = _str(m["test"], p, f"{where}.test")
        if t is not None and t != "mann-whitney":
            p.add(m["test"], f"{where}.test must be mann-whitney")
    if "baseline" in m:
        b = _str(m["baseline"], p, f"{where}.baseline")
        if b:
            kw["baseline"] = b
    if "alpha" in m:
        a = _float(m["alpha"], p, f"{where}.alpha")
        if a is not None and not 0 < a < 0.5:
            p.add(m["alpha"], f"{where}.alpha must be between 0 and 0.5 (e.g. 0.01)")
        elif a is not None:
            kw["alpha"] = a
    if "worse" in m:
        w = _str(m["worse"], p, f"{where}.worse")
        if w not in ("higher", "lower"):
            p.add(m["worse"], f"{where}.worse must be higher or lower")
        else:
            kw["worse"] = w
    if "tolerance" in m:
        t2 = _float(m["tolerance"], p, f"{where}.tolerance")
        if t2 is not None and t2 < 0:
            p.add(m["tolerance"], f"{where}.tolerance must be zero or more")
        elif t2 is not None:
            kw["tolerance"] = t2
    return Comparison(**kw)  # type: ignore[arg-type]


def _condition(node: Node, p: _Problems, where: str, names: tuple[str, ...]) -> Condition | None:
    text = _str(node, p, where)
    if text is None:
        return None
    try:
        return parse_condition(text, names)
    except ConditionError as exc:
        p.add(node, f"{where}: {exc}")
        return None


def _default_worse(provider: Provider) -> str:
    if isinstance(provider, ScrapeProvider):
        return "lower" if provider.signal == "success-rate" else "higher"
    return "higher"


def _metric(
    node: Node, defaults: dict[str, object], args: Mapping[str, str], p: _Problems, index: int
) -> MetricSpec | None:
    where = f"metrics[{index}]"
    m = _mapping(node, p, where)
    if not m:
        return None
    _check_keys(_key_nodes(node), _METRIC_KEYS, p, where)
    name = _str(m["name"], p, f"{where}.name") if "name" in m else None
    if not name:
        p.add(node, f"{where} needs a name")
        return None
    where = f"metric {name!r}"
    if "provider" not in m:
        p.add(node, f"{where} needs a provider (prometheus or scrape)")
        return None
    provider = _provider(m["provider"], args, p, f"{where}.provider")
    kw: dict[str, object] = {**defaults, **_schedule(m, p, where)}
    worse = _default_worse(provider) if provider is not None else "higher"
    compare = _comparison(m["compare"], p, f"{where}.compare", worse) if "compare" in m else None
    names = ("result", "baseline") if compare is not None else ("result",)
    success = (
        _condition(m["successCondition"], p, f"{where}.successCondition", names)
        if "successCondition" in m
        else None
    )
    failure = (
        _condition(m["failureCondition"], p, f"{where}.failureCondition", names)
        if "failureCondition" in m
        else None
    )
    if (
        success is None
        and failure is None
        and compare is None
        and "successCondition" not in m
        and "failureCondition" not in m
    ):
        p.add(node, f"{where} needs a successCondition, a failureCondition or a compare")
    if provider is None:
        return None
    min_samples = kw.get("min_samples", 0)
    if isinstance(provider, PrometheusProvider) and provider.sample_query is None and min_samples:
        p.add(
            m.get("minSamples", node),
            f"{where}.minSamples needs provider.prometheus.sampleQuery (how many requests the window had)",
        )
    return MetricSpec(
        name=name,
        provider=provider,
        success=success,
        failure=failure,
        compare=compare,
        **kw,  # type: ignore[arg-type]
    )


def load_template(text: str, file: str = "<template>") -> AnalysisTemplate:
    """Parse one analysis template; :class:`WorkflowError` lists every problem as ``file:line:col``."""
    p = _Problems(file)
    try:
        root = compose(text)
    except YamlError as exc:
        raise WorkflowError([Problem(file, exc.line or 1, exc.col or 1, exc.message)]) from None
    if root is None:
        raise WorkflowError([Problem(file, 1, 1, "empty analysis template")])
    top = _mapping(root, p, "an analysis template")
    if not top:
        raise WorkflowError(p.items or [Problem(file, 1, 1, "empty analysis template")])
    _check_keys(_key_nodes(root), _TOP_KEYS, p, "the template")
    if "kind" in top and _str(top["kind"], p, "kind") not in ("AnalysisTemplate", None):
        p.add(top["kind"], "kind must be AnalysisTemplate")
    name = _str(top["name"], p, "name") if "name" in top else None
    if not name:
        p.add(root, "an analysis template needs a name")
    description = (_str(top["description"], p, "description") or "") if "description" in top else ""
    args: dict[str, str] = {}
    if "args" in top:
        for k, v in _mapping(top["args"], p, "args").items():
            if v.kind == NULL:
                args[k] = ""
            else:
                args[k] = _str(v, p, f"args.{k}") or ""
    defaults = _schedule(top, p, "the template")
    metrics: list[MetricSpec] = []
    if "metrics" not in top:
        p.add(root, "an analysis template needs metrics")
    elif top["metrics"].kind != SEQ or not top["metrics"].value:
        p.add(top["metrics"], "metrics must be a non-empty list")
    else:
        seen: set[str] = set()
        for i, item in enumerate(top["metrics"].value):
            spec = _metric(item, defaults, args, p, i)
            if spec is None:
                continue
            if spec.name in seen:
                p.add(item, f"metric {spec.name!r} is defined twice")
            seen.add(spec.name)
            metrics.append(spec)
    if p.items:
        raise WorkflowError(p.items)
    return AnalysisTemplate(
        name=name or "", metrics=tuple(metrics), description=description, source=file, args=args
    )
