"""The job graph of a run, laid out on the server as columns by depth (``needs`` edges).

    layout([GraphJob("build", "Build", ()), GraphJob("deploy", "Deploy", ("build",))],
           {"build": [Instance(7, "Build", "success")]})
    -> Layout(width, height, nodes=[Node(... x, y ...)], edges=[Edge(d="M ... C ...")])

Pure: the page renders the result as inline SVG, so the graph needs no script
and looks the same with JavaScript off. A job's column is its longest ``needs``
chain from a root (GitHub's layout); within a column jobs keep the file's
order. A key with several instances (a matrix) is one node listing each of
them; a key with none yet (not started) is one "pending" row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Edge", "GraphJob", "Instance", "Layout", "Node", "Row", "aggregate", "layout"]

NODE_WIDTH = 220
ROW_HEIGHT = 26
TITLE_HEIGHT = 24
PAD = 6
COLUMN_GAP = 64
NODE_GAP = 18
MARGIN = 12
MAX_ROWS = 8


@dataclass(frozen=True, slots=True)
class GraphJob:
    key: str
    label: str
    needs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Instance:
    job_id: int
    name: str
    state: str  # a conclusion (success, failure...) or a status (in_progress, waiting, queued)


@dataclass(frozen=True, slots=True)
class Row:
    y: float
    name: str
    state: str
    job_id: int | None  # None: not started yet, or the "+N more" row


@dataclass(frozen=True, slots=True)
class Node:
    key: str
    label: str
    state: str
    depth: int
    x: float
    y: float
    width: float
    height: float
    title: bool  # a matrix: a title row above its instances
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    d: str  # SVG path
    state: str  # the source's state: an edge out of a failed job is drawn as such


@dataclass(frozen=True, slots=True)
class Layout:
    width: float
    height: float
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


_ORDER = ("failure", "cancelled", "in_progress", "waiting", "queued", "pending", "success", "skipped")


def aggregate(states: Sequence[str]) -> str:
    """One state for a matrix node: the most urgent of its instances (failure first)."""
    if not states:
        return "pending"
    if all(s == "skipped" for s in states):
        return "skipped"
    for state in _ORDER:
        if state in states:
            return state
    return states[0]


def _depths(jobs: Sequence[GraphJob]) -> dict[str, int]:
    known = {j.key: j for j in jobs}
    depth: dict[str, int] = {}

    def visit(key: str, seen: frozenset[str]) -> int:
        if key in depth:
            return depth[key]
        parents = [n for n in known[key].needs if n in known and n not in seen]
        value = 1 + max((visit(p, seen | {key}) for p in parents), default=-1)
        depth[key] = value
        return value

    for job in jobs:
        visit(job.key, frozenset())
    return depth


def layout(jobs: Sequence[GraphJob], instances: Mapping[str, Sequence[Instance]]) -> Layout:
    depth = _depths(jobs)
    columns: dict[int, list[GraphJob]] = {}
    for job in jobs:
        columns.setdefault(depth[job.key], []).append(job)
    nodes: dict[str, Node] = {}
    height = 0.0
    for col, members in sorted(columns.items()):
        x = MARGIN + col * (NODE_WIDTH + COLUMN_GAP)
        y = float(MARGIN)
        for job in members:
            node = _node(job, list(instances.get(job.key, ())), col, x, y)
            nodes[job.key] = node
            y += node.height + NODE_GAP
        height = max(height, y - NODE_GAP + MARGIN)
    edges = []
    for job in jobs:
        target = nodes[job.key]
        for need in job.needs:
            source = nodes.get(need)
            if source is None:
                continue
            x1, y1 = source.x + source.width, source.y + source.height / 2
            x2, y2 = target.x, target.y + target.height / 2
            bend = (x2 - x1) / 2
            d = f"M {x1:g} {y1:g} C {x1 + bend:g} {y1:g}, {x2 - bend:g} {y2:g}, {x2:g} {y2:g}"
            edges.append(Edge(need, job.key, d, source.state))
    width = MARGIN * 2 + (max(columns, default=0) + 1) * NODE_WIDTH + max(columns, default=0) * COLUMN_GAP
    return Layout(float(width), max(height, MARGIN * 2.0), tuple(nodes.values()), tuple(edges))


def _node(job: GraphJob, found: list[Instance], depth: int, x: float, y: float) -> Node:
    matrix = len(found) > 1 or (len(found) == 1 and found[0].name != job.label)
    top = y + PAD + (TITLE_HEIGHT if matrix else 0)
    rows: list[Row] = []
    if not found:
        rows.append(Row(top, job.label, "pending", None))
    for index, inst in enumerate(found[:MAX_ROWS]):
        rows.append(Row(top + index * ROW_HEIGHT, inst.name, inst.state, inst.job_id))
    if len(found) > MAX_ROWS:
        rest = found[MAX_ROWS:]
        rows.append(Row(top + MAX_ROWS * ROW_HEIGHT, f"+{len(rest)} more", aggregate([i.state for i in rest]), None))
    height = PAD * 2 + (TITLE_HEIGHT if matrix else 0) + len(rows) * ROW_HEIGHT
    state = aggregate([i.state for i in found])
    return Node(job.key, job.label, state, depth, float(x), float(y), float(NODE_WIDTH), float(height), matrix, tuple(rows))
