"""Job graph: readiness scheduling (a job starts when its own needs are done)."""

from __future__ import annotations

import pytest

from pheme.core.planning.graph import JobGraph, JobState
from pheme.core.runs.status import Conclusion
from pheme.core.workflow.model import Job, Workflow
from pheme.errors import PlanningError


def diamond_with_a_slow_stranger() -> JobGraph:
    #   a -> b -> d
    #   a -> c -> d        slow (no needs, unrelated)
    return JobGraph.from_needs({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "slow": []})


def test_jobs_without_needs_are_ready_at_once() -> None:
    assert diamond_with_a_slow_stranger().ready() == ["a", "slow"]


def test_a_job_starts_as_soon_as_its_own_needs_finish_while_unrelated_jobs_run() -> None:
    """act issue #2492: stage planning made `d` wait for `slow`."""
    g = diamond_with_a_slow_stranger()
    g.mark_started("a")
    g.mark_started("slow")
    g.mark_finished("a", "success")
    assert g.ready() == ["b", "c"]
    g.mark_started("b")
    g.mark_started("c")
    g.mark_finished("b", "success")
    assert g.ready() == []  # d still needs c
    g.mark_finished("c", Conclusion.SUCCESS)
    assert g.ready() == ["d"]
    assert g.state("slow") is JobState.RUNNING
    g.mark_started("d")
    g.mark_finished("d", "success")
    assert not g.done
    g.mark_finished("slow", "success")
    assert g.done


def test_chain_next_to_long_job() -> None:
    g = JobGraph.from_needs({"long": [], "build": [], "test": ["build"], "deploy": ["test"]})
    for job in g.ready():
        g.mark_started(job)
    g.mark_finished("build", "success")
    g.mark_started("test")
    g.mark_finished("test", "success")
    assert g.ready() == ["deploy"]
    assert g.running() == ["long"]


def test_a_job_whose_need_failed_is_ready_and_sees_the_results() -> None:
    g = JobGraph.from_needs({"a": [], "b": [], "c": ["a", "b"]})
    g.mark_started("a")
    g.mark_started("b")
    g.mark_finished("a", "failure")
    assert g.ready() == []
    g.mark_finished("b", "success")
    assert g.ready() == ["c"]
    assert g.needs_results("c") == {"a": Conclusion.FAILURE, "b": Conclusion.SUCCESS}
    assert not g.needs_succeeded("c")
    g.mark_finished("c", "skipped")  # default if: success() -> skipped without starting
    assert g.results == {"a": "failure", "b": "success", "c": "skipped"}
    assert g.done


def test_skips_propagate_only_through_the_scheduler_decision() -> None:
    g = JobGraph.from_needs({"a": [], "b": ["a"], "c": ["b"]})
    g.mark_finished("a", "cancelled")
    g.mark_finished("b", "skipped")
    assert g.ready() == ["c"]
    assert g.needs_results("c") == {"b": Conclusion.SKIPPED}


def test_from_workflow_keeps_file_order() -> None:
    wf = Workflow(
        path="w.yml",
        on={},
        jobs={"z": Job("z"), "y": Job("y", needs=("z",)), "x": Job("x")},
    )
    g = JobGraph.from_workflow(wf)
    assert g.jobs == ("z", "y", "x")
    assert g.ready() == ["z", "x"]
    assert g.dependents("z") == ("y",)
    assert g.topological_order() == ["z", "y", "x"]


def test_structure_queries() -> None:
    g = diamond_with_a_slow_stranger()
    assert g.ancestors("d") == {"a", "b", "c"}
    order = g.topological_order()
    assert order.index("a") < order.index("b") < order.index("d")
    assert order.index("c") < order.index("d")


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        ({"a": ["ghost"]}, "job 'a' needs unknown job 'ghost'"),
        ({"a": ["a"]}, "cycle: a -> a"),
        ({"a": ["c"], "b": ["a"], "c": ["b"]}, "cycle: a -> c -> b -> a"),
    ],
)
def test_bad_graphs_raise_instead_of_hanging(needs: dict[str, list[str]], message: str) -> None:
    with pytest.raises(PlanningError, match=message):
        JobGraph.from_needs(needs)


def test_misuse_is_reported() -> None:
    g = JobGraph.from_needs({"a": [], "b": ["a"]})
    with pytest.raises(PlanningError, match="waiting for a"):
        g.mark_started("b")
    with pytest.raises(PlanningError, match="waiting for a"):
        g.mark_finished("b", "skipped")
    g.mark_started("a")
    with pytest.raises(PlanningError, match="already running"):
        g.mark_started("a")
    with pytest.raises(PlanningError, match="not one of"):
        g.mark_finished("a", "great")
    g.mark_finished("a", "success")
    with pytest.raises(PlanningError, match="already finished"):
        g.mark_finished("a", "success")
    with pytest.raises(PlanningError, match="unknown job 'zz'"):
        g.state("zz")


def test_large_chain_does_not_recurse() -> None:
    n = 5000
    g = JobGraph.from_needs({f"j{i}": ([f"j{i - 1}"] if i else []) for i in range(n)})
    assert g.ready() == ["j0"]
    assert len(g.ancestors(f"j{n - 1}")) == n - 1
