"""act's 64 filter-pattern cases (nektos/act TestMatchPattern), read from the shared data.

``skip`` is the answer for positive filters (branches/tags/paths), ``filter``
the answer for ignore filters (``*-ignore``); both say "do not run".
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pheme.core.planning.filters import filtered, skip

CASE_COUNT = 64


def _load(conformance: Any) -> dict[str, Any]:
    path = conformance.path("nektos-act", "derived", "workflowpattern-cases.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_case_file_has_the_expected_count(conformance: Any) -> None:
    data = _load(conformance)
    assert data["count"] == len(data["cases"]) == CASE_COUNT


@pytest.mark.parametrize("index", range(CASE_COUNT))
def test_case(conformance: Any, index: int) -> None:
    case = _load(conformance)["cases"][index]
    where = f"patterns={case['patterns']} inputs={case['inputs']}"
    assert skip(case["patterns"], case["inputs"]) is case["skip"], where
    assert filtered(case["patterns"], case["inputs"]) is case["filter"], where
