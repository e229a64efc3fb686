"""Generated Grafana dashboards, checked against Grafana's documented dashboard JSON model.

The checker below encodes the "JSON fields" table of Grafana's "Dashboard JSON
model" page: the top-level fields and their types, panels with id/type/title/
gridPos (24-column grid)/datasource/targets, templating and annotations lists,
the time range; plus what Grafana needs to load it without complaint (unique
panel ids, non-overlapping panels, unique refIds, variables that the queries use
are defined).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pheme.core.monitoring.dashboards import dashboards, services_dashboard

TOP_LEVEL: dict[str, type | tuple[type, ...]] = {
    "id": (int, type(None)),
    "uid": str,
    "title": str,
    "tags": list,
    "timezone": str,
    "editable": bool,
    "graphTooltip": int,
    "panels": list,
    "time": dict,
    "timepicker": dict,
    "templating": dict,
    "annotations": dict,
    "refresh": (str, bool),
    "schemaVersion": int,
    "version": int,
    "links": list,
}
PANEL_TYPES = {"timeseries", "stat", "graph", "gauge", "table", "bargauge", "text", "row"}
VARIABLE_TYPES = {"query", "custom", "datasource", "interval", "constant", "textbox", "adhoc"}


def check_dashboard(d: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    for key, kind in TOP_LEVEL.items():
        if key not in d:
            errors.append(f"missing {key}")
        elif not isinstance(d[key], kind) or (kind is int and isinstance(d[key], bool)):
            errors.append(f"{key} has type {type(d[key]).__name__}")
    if errors:
        return errors
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"]):
        errors.append("uid must be at most 40 letters, digits, '-' or '_'")
    if d["graphTooltip"] not in (0, 1, 2):
        errors.append("graphTooltip must be 0, 1 or 2")
    if d["schemaVersion"] < 36:
        errors.append("schemaVersion too old for timeseries panels with datasource objects")
    if not all(isinstance(d["time"].get(k), str) for k in ("from", "to")):
        errors.append("time needs from/to strings")
    for section in ("templating", "annotations"):
        if not isinstance(d[section].get("list"), list):
            errors.append(f"{section}.list must be a list")
    variables = set()
    for v in d["templating"]["list"]:
        if not isinstance(v.get("name"), str) or v.get("type") not in VARIABLE_TYPES:
            errors.append(f"bad variable {v!r}")
        variables.add(v["name"])
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for p in d["panels"]:
        pid = p.get("id")
        where = f"panel {pid}"
        if not isinstance(pid, int) or pid in ids:
            errors.append(f"{where}: id must be a unique integer")
        ids.add(pid)
        if p.get("type") not in PANEL_TYPES:
            errors.append(f"{where}: unknown type {p.get('type')!r}")
        if not isinstance(p.get("title"), str) or not p["title"]:
            errors.append(f"{where}: needs a title")
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")):
            errors.append(f"{where}: gridPos needs integer x, y, w, h")
            continue
        if not (1 <= gp["w"] <= 24 and gp["x"] >= 0 and gp["x"] + gp["w"] <= 24 and gp["h"] >= 1):
            errors.append(f"{where}: gridPos outside the 24-column grid")
        for x in range(gp["x"], gp["x"] + gp["w"]):
            for y in range(gp["y"], gp["y"] + gp["h"]):
                if (x, y) in cells:
                    errors.append(f"{where}: overlaps another panel at {x},{y}")
                    break
                cells.add((x, y))
        ds = p.get("datasource")
        if not (isinstance(ds, str) or (isinstance(ds, dict) and {"type", "uid"} <= ds.keys())):
            errors.append(f"{where}: datasource must be a name or a {{type, uid}} object")
        targets = p.get("targets")
        if not isinstance(targets, list) or not targets:
            errors.append(f"{where}: needs targets")
            continue
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(isinstance(r, str) for r in refs):
            errors.append(f"{where}: refIds must be unique strings")
        for t in targets:
            if not isinstance(t.get("expr"), str) or not t["expr"]:
                errors.append(f"{where}: target without expr")
                continue
            for used in re.findall(r"\$(\w+)", t["expr"]):
                if used not in variables and not used.startswith("__"):
                    errors.append(f"{where}: query uses undefined variable ${used}")
    return errors


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_dashboard_follows_the_json_model(name: str) -> None:
    d = dashboards()[name]
    assert check_dashboard(d) == []
    assert json.loads(json.dumps(d)) == d  # plain JSON, nothing Python-only


def test_the_checker_catches_mistakes() -> None:
    d = services_dashboard()
    d["panels"][1]["gridPos"]["x"] = 6  # overlaps panel 1
    d["panels"][0]["targets"][1]["refId"] = "A"
    d["panels"][2]["targets"][0]["expr"] = 'up{job="$nope"}'
    del d["schemaVersion"]
    assert check_dashboard(d) == ["missing schemaVersion"]
    d["schemaVersion"] = 39
    errors = check_dashboard(d)
    assert any("overlaps" in e for e in errors)
    assert any("refIds must be unique" in e for e in errors)
    assert any("undefined variable $nope" in e for e in errors)


def test_the_seed_panels_are_there() -> None:
    d = services_dashboard()
    assert d["title"] == "PHEME System Metrics"
    panels = {p["title"]: p for p in d["panels"]}
    response = [t["expr"] for t in panels["API Response Time"]["targets"]]
    assert all(
        e.startswith("histogram_quantile(") and "http_request_duration_seconds_bucket" in e for e in response
    )
    (error,) = [t["expr"] for t in panels["Error Rate"]["targets"]]
    assert 'rate(http_requests_total{status=~"5..",' in error and "[5m]" in error


def test_pipeline_deployment_and_dora_panels() -> None:
    titles = {p["title"] for d in dashboards().values() for p in d["panels"]}
    assert {"Runs by conclusion", "Run duration", "Queue", "Deployments by outcome"} <= titles
    assert {
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate",
        "Failed deployment recovery time",
    } <= titles
