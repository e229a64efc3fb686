"""The job graph's layout: columns by the longest ``needs`` chain, one node per job key."""

from __future__ import annotations

from pheme.web.graph import GraphJob, Instance, aggregate, layout

JOBS = [
    GraphJob("build", "Build"),
    GraphJob("lint", "Lint"),
    GraphJob("test", "Test", ("build",)),
    GraphJob("deploy", "Deploy", ("build", "test")),
]


def test_a_job_sits_one_column_right_of_its_deepest_need() -> None:
    graph = layout(JOBS, {})
    depth = {n.key: n.depth for n in graph.nodes}
    assert depth == {"build": 0, "lint": 0, "test": 1, "deploy": 2}
    x = {n.key: n.x for n in graph.nodes}
    assert x["build"] == x["lint"] < x["test"] < x["deploy"]
    y = {n.key: n.y for n in graph.nodes}
    assert y["build"] < y["lint"]  # the file's order within a column


def test_every_needs_edge_is_drawn_from_the_source_to_the_target() -> None:
    graph = layout(JOBS, {"build": [Instance(1, "Build", "failure")]})
    assert {(e.source, e.target) for e in graph.edges} == {("build", "test"), ("build", "deploy"), ("test", "deploy")}
    nodes = {n.key: n for n in graph.nodes}
    edge = next(e for e in graph.edges if (e.source, e.target) == ("build", "test"))
    assert edge.d.startswith(f"M {nodes['build'].x + nodes['build'].width:g} ")
    assert edge.d.endswith(f"{nodes['test'].x:g} {nodes['test'].y + nodes['test'].height / 2:g}")
    assert edge.state == "failure"
    assert all(n.x + n.width <= graph.width and n.y + n.height <= graph.height for n in graph.nodes)


def test_a_matrix_is_one_node_listing_its_instances_with_the_most_urgent_state() -> None:
    insts = [Instance(i, f"Test ({v})", s) for i, (v, s) in enumerate([("3.11", "success"), ("3.12", "failure")])]
    graph = layout(JOBS, {"test": insts})
    node = next(n for n in graph.nodes if n.key == "test")
    assert node.title and [r.name for r in node.rows] == ["Test (3.11)", "Test (3.12)"]
    assert node.state == "failure"
    pending = next(n for n in graph.nodes if n.key == "deploy")
    assert [(r.name, r.state, r.job_id) for r in pending.rows] == [("Deploy", "pending", None)]


def test_a_large_matrix_is_cut_with_a_count_of_the_rest() -> None:
    insts = [Instance(i, f"shard {i}", "success") for i in range(20)]
    node = layout([GraphJob("t", "T")], {"t": insts}).nodes[0]
    assert node.rows[-1].name == "+12 more" and len(node.rows) == 9


def test_states_aggregate_failures_first_and_all_skipped_as_skipped() -> None:
    assert aggregate(["success", "in_progress"]) == "in_progress"
    assert aggregate(["skipped", "success"]) == "success"
    assert aggregate(["skipped", "skipped"]) == "skipped"
    assert aggregate([]) == "pending"


def test_unknown_needs_and_cycles_do_not_break_the_layout() -> None:
    graph = layout([GraphJob("a", "A", ("b", "ghost")), GraphJob("b", "B", ("a",))], {})
    assert len(graph.nodes) == 2 and {n.depth for n in graph.nodes} <= {0, 1}
