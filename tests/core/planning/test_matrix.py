"""Matrix expansion: GitHub's documented examples ("Running variations of jobs in a workflow")."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pheme.core.planning.matrix import (
    MAX_COMBINATIONS,
    combination_label,
    describe_matrix_filter,
    expand_matrix,
    matrix_value_text,
    plan_strategy,
    select_combinations,
)
from pheme.core.workflow.model import Strategy
from pheme.errors import PlanningError


def m(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_doc_order_first_key_varies_slowest() -> None:
    got = expand_matrix(m("{version: [10, 12, 14], os: [ubuntu-latest, windows-latest]}"))
    assert got == [
        {"version": 10, "os": "ubuntu-latest"},
        {"version": 10, "os": "windows-latest"},
        {"version": 12, "os": "ubuntu-latest"},
        {"version": 12, "os": "windows-latest"},
        {"version": 14, "os": "ubuntu-latest"},
        {"version": 14, "os": "windows-latest"},
    ]


def test_doc_include_fruit_animal_example() -> None:
    matrix = m(
        """
        fruit: [apple, pear]
        animal: [cat, dog]
        include:
          - color: green
          - color: pink
            animal: cat
          - fruit: apple
            shape: circle
          - fruit: banana
          - fruit: banana
            animal: cat
        """
    )
    assert expand_matrix(matrix) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_doc_expanding_configurations_adds_npm_to_one_job() -> None:
    matrix = m(
        """
        os: [windows-latest, ubuntu-latest]
        node: [14, 16]
        include:
          - os: windows-latest
            node: 16
            npm: 6
        """
    )
    got = expand_matrix(matrix)
    assert len(got) == 4
    assert [c for c in got if "npm" in c] == [{"os": "windows-latest", "node": 16, "npm": 6}]


def test_doc_adding_configurations_makes_ten_jobs() -> None:
    matrix = m(
        """
        os: [macos-latest, windows-latest, ubuntu-latest]
        version: [12, 14, 16]
        include:
          - os: windows-latest
            version: 17
        """
    )
    got = expand_matrix(matrix)
    assert len(got) == 10
    assert got[-1] == {"os": "windows-latest", "version": 17}


def test_doc_include_only_matrix() -> None:
    matrix = m(
        """
        include:
          - site: production
            datacenter: site-a
          - site: staging
            datacenter: site-b
        """
    )
    assert expand_matrix(matrix) == [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]


def test_doc_partial_exclude_runs_nine_jobs() -> None:
    matrix = m(
        """
        os: [macos-latest, windows-latest]
        version: [12, 14, 16]
        environment: [staging, production]
        exclude:
          - os: macos-latest
            version: 12
            environment: production
          - os: windows-latest
            version: 16
        """
    )
    got = expand_matrix(matrix)
    assert len(got) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in got
    assert not [c for c in got if c["os"] == "windows-latest" and c["version"] == 16]


def test_doc_include_can_add_back_an_excluded_combination() -> None:
    matrix = m(
        """
        os: [linux, mac]
        v: [1, 2]
        exclude: [{os: mac, v: 2}]
        include: [{os: mac, v: 2, extra: x}]
        """
    )
    got = expand_matrix(matrix)
    assert got[-1] == {"os": "mac", "v": 2, "extra": "x"}
    assert len(got) == 4


def test_doc_continue_on_error_example() -> None:
    matrix = m(
        """
        version: [6, 7, 8]
        experimental: [false]
        include:
          - version: 9
            experimental: true
        """
    )
    assert expand_matrix(matrix) == [
        {"version": 6, "experimental": False},
        {"version": 7, "experimental": False},
        {"version": 8, "experimental": False},
        {"version": 9, "experimental": True},
    ]


def test_act_strategy_fixture_under_githubs_rules(conformance: Any) -> None:
    """act's planner fixture. GitHub merges the key-less include ``php-version``
    into every remaining combination (act's own test keeps it apart)."""
    path = conformance.path("nektos-act", "pkg", "model", "testdata", "strategy", "push.yml")
    job = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]["strategy-all"]
    plan = plan_strategy(
        Strategy(
            matrix=job["strategy"]["matrix"],
            fail_fast=job["strategy"]["fail-fast"],
            max_parallel=job["strategy"]["max-parallel"],
        )
    )
    assert plan.fail_fast is False
    assert plan.max_parallel == 2
    assert list(plan.combinations) == [
        {"datacenter": "site-c", "node-version": "14.x", "site": "staging", "php-version": 5.4},
        {"datacenter": "site-c", "node-version": "16.x", "site": "staging", "php-version": 5.4},
        {"datacenter": "site-d", "node-version": "16.x", "site": "staging", "php-version": 5.4},
        {"datacenter": "site-a", "node-version": "10.x", "site": "prod"},
        {"datacenter": "site-b", "node-version": "12.x", "site": "dev"},
    ]


def test_object_values_are_compared_deeply() -> None:
    matrix = {
        "cfg": [{"os": "linux", "arch": "x64"}, {"os": "linux", "arch": "arm64"}],
        "exclude": [{"cfg": {"os": "linux", "arch": "arm64"}}],
        "include": [{"cfg": {"os": "linux", "arch": "x64"}, "fast": True}],
    }
    assert expand_matrix(matrix) == [{"cfg": {"os": "linux", "arch": "x64"}, "fast": True}]


def test_true_is_not_one() -> None:
    matrix = {"flag": [True, 1], "exclude": [{"flag": 1}]}
    assert expand_matrix(matrix) == [{"flag": True}]


def test_everything_excluded_and_nothing_included_means_zero_jobs() -> None:
    assert expand_matrix({"os": ["a", "b"], "exclude": [{"os": "a"}, {"os": "b"}]}) == []


def test_combinations_are_independent_copies() -> None:
    shared = {"k": [1]}
    got = expand_matrix({"a": [1, 2], "obj": [shared]})
    got[0]["obj"]["k"].append(2)
    assert got[1]["obj"] == {"k": [1]}


def test_the_256_limit() -> None:
    assert len(expand_matrix({"a": list(range(16)), "b": list(range(16))})) == MAX_COMBINATIONS
    with pytest.raises(PlanningError, match="exceeds 256"):
        expand_matrix({"a": list(range(16)), "b": list(range(16)), "include": [{"a": 99}]})
    with pytest.raises(PlanningError, match="exceeds 256"):
        expand_matrix({f"k{i}": list(range(10)) for i in range(8)})


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({"os": []}, "matrix vector 'os' does not contain any values"),
        ({"os": "ubuntu"}, "matrix vector 'os' must be a list"),
        ({"os": "${{ fromJSON(x) }}"}, "not evaluated"),
        ({}, "at least one vector"),
        ({"include": []}, "at least one vector"),
        ({"os": ["a"], "include": ["x"]}, "include entries must be mappings"),
    ],
)
def test_bad_matrices(matrix: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanningError, match=message):
        expand_matrix(matrix)


def test_no_strategy_or_no_matrix_runs_once() -> None:
    assert plan_strategy(None) == plan_strategy(Strategy()) == plan_strategy(Strategy(matrix=None))
    plan = plan_strategy(None)
    assert plan.combinations == ({},)
    assert plan.fail_fast is True
    assert plan.max_parallel is None


def test_evaluated_strategy_values_are_accepted() -> None:
    plan = plan_strategy(Strategy(matrix={"v": [1]}, fail_fast="false", max_parallel="3"))
    assert (plan.fail_fast, plan.max_parallel) == (False, 3)


@pytest.mark.parametrize(
    "strategy",
    [
        Strategy(matrix="${{ fromJSON(needs.a.outputs.m) }}"),
        Strategy(fail_fast="${{ inputs.ff }}"),
        Strategy(max_parallel=0),
        Strategy(max_parallel="two"),
    ],
)
def test_unevaluated_or_bad_strategy_values(strategy: Strategy) -> None:
    with pytest.raises(PlanningError, match="strategy"):
        plan_strategy(strategy)


def test_combination_label() -> None:
    assert combination_label({"os": "ubuntu", "node": 16.0, "exp": False}) == "(ubuntu, 16, false)"
    assert combination_label({}) == ""


# ------------------------------------------------------------- --matrix filter (act's rule)


def test_matrix_filter_compares_values_as_they_render() -> None:
    combos = expand_matrix(m("{py: [3.10, '3.12'], debug: [true, false]}"))
    # YAML's 3.10 is the number 3.1, and renders (and so is selected) as "3.1"; true as "true".
    assert select_combinations(combos, {"py": ["3.1"], "debug": ["true"]}) == [{"py": 3.1, "debug": True}]
    assert select_combinations(combos, {"py": ["3.10"]}) == []
    assert [matrix_value_text(v) for v in (1.0, None, [1, "a"], {"k": 2})] == ["1", "", '[1,"a"]', '{"k":2}']


def test_matrix_filter_values_of_one_key_are_alternatives_and_unknown_keys_keep_everything() -> None:
    combos = expand_matrix(m("{include: [{os: linux}, {os: mac}, {os: windows}, {extra: x}]}"))
    kept = select_combinations(combos, {"os": ["linux", "windows"]})
    assert kept == [{"os": "linux"}, {"os": "windows"}, {"extra": "x"}]  # {extra: x} has no os: kept
    assert select_combinations(combos, {"arch": ["arm64"]}) == combos
    assert select_combinations(combos, {}) == combos
    assert describe_matrix_filter({"os": ["linux", "mac"], "py": ["3"]}) == "os:linux, os:mac, py:3"
