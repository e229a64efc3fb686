"""Matrix expansion and the rest of ``jobs.<id>.strategy``.

GitHub's rules (docs: "Running variations of jobs in a workflow"):

1. The cartesian product of the matrix vectors (every key but ``include`` and
   ``exclude``), in the order the keys are written: the first key varies
   slowest.
2. ``exclude`` removes every combination that matches *all* the key/values
   of an entry (a partial entry removes every combination it matches).
3. Then each ``include`` entry, in order, is merged into every *original*
   combination whose original-key values it agrees with. Original values are
   never overwritten (agreement guarantees it), but keys added by an earlier
   include are. An entry that agrees with no original combination becomes a
   new combination of its own; later includes never merge into those.
4. At most 256 combinations.

The strategy may come from an expression (``${{ fromJSON(...) }}``): the
runner evaluates it first and hands plain values here, so this module only
reports (as PlanningError) a value that is still an unevaluated string.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pheme.core.expr import to_string
from pheme.core.workflow.model import Strategy
from pheme.errors import PlanningError

__all__ = [
    "MAX_COMBINATIONS",
    "StrategyPlan",
    "combination_label",
    "describe_matrix_filter",
    "expand_matrix",
    "filtered_out_reason",
    "matrix_value_text",
    "plan_strategy",
    "select_combinations",
]

MAX_COMBINATIONS = 256
# Refuse to even enumerate absurd products (excludes could only shrink them so far).
_MAX_PRODUCT = 65536

_RESERVED = ("include", "exclude")


def _same(a: Any, b: Any) -> bool:
    """Deep equality that, unlike Python's, keeps ``true`` apart from ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _unevaluated(value: Any) -> bool:
    return isinstance(value, str) and "${{" in value


def _entries(value: Any, key: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if _unevaluated(value):
        raise PlanningError(f"matrix {key} is an expression that was not evaluated: {value}")
    if not isinstance(value, list | tuple):
        raise PlanningError(f"matrix {key} must be a list of mappings")
    entries: list[Mapping[str, Any]] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise PlanningError(f"matrix {key} entries must be mappings, not {type(item).__name__}")
        entries.append(item)
    return entries


def _vectors(matrix: Mapping[str, Any]) -> list[tuple[str, Sequence[Any]]]:
    vectors: list[tuple[str, Sequence[Any]]] = []
    for key, value in matrix.items():
        if key in _RESERVED:
            continue
        if _unevaluated(value):
            raise PlanningError(f"matrix vector '{key}' is an expression that was not evaluated: {value}")
        if not isinstance(value, list | tuple):
            raise PlanningError(f"matrix vector '{key}' must be a list, not {type(value).__name__}")
        if not value:
            raise PlanningError(f"matrix vector '{key}' does not contain any values")
        vectors.append((key, value))
    return vectors


def _too_many(count: int) -> PlanningError:
    return PlanningError(
        f"the matrix expands to {count} combinations, which exceeds {MAX_COMBINATIONS} (GitHub's limit)"
    )


def expand_matrix(matrix: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of ``matrix`` after exclude and include, in GitHub's order.

    Returns an empty list when ``exclude`` removed everything and nothing was
    included: the job then runs zero times.
    """
    if _unevaluated(matrix):
        raise PlanningError(f"the matrix is an expression that was not evaluated: {matrix}")
    if not isinstance(matrix, Mapping):
        raise PlanningError(f"the matrix must be a mapping, not {type(matrix).__name__}")
    vectors = _vectors(matrix)
    includes = _entries(matrix.get("include"), "include")
    excludes = _entries(matrix.get("exclude"), "exclude")
    if not vectors and not includes:
        raise PlanningError("the matrix must define at least one vector")

    product_size = math.prod(len(values) for _, values in vectors) if vectors else 0
    if product_size > _MAX_PRODUCT:
        raise _too_many(product_size)
    keys = [key for key, _ in vectors]
    originals: list[dict[str, Any]] = []
    if vectors:
        for values in itertools.product(*(vals for _, vals in vectors)):
            combo = dict(zip(keys, values, strict=True))
            if not any(_matches(combo, entry) for entry in excludes):
                originals.append(combo)

    original_keys = set(keys)
    added: list[dict[str, Any]] = []
    for entry in includes:
        merged = False
        for combo in originals:
            if all(_same(combo[k], v) for k, v in entry.items() if k in original_keys):
                combo.update(entry)
                merged = True
        if not merged:
            added.append(dict(entry))

    result = originals + added
    if len(result) > MAX_COMBINATIONS:
        raise _too_many(len(result))
    # Combinations share YAML values; hand out independent copies.
    return [copy.deepcopy(combo) for combo in result]


def _matches(combo: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    """An exclude entry matches when every one of its keys is in ``combo`` with an equal value."""
    return all(k in combo and _same(combo[k], v) for k, v in entry.items())


@dataclass(frozen=True, slots=True)
class StrategyPlan:
    """What the scheduler needs from ``strategy``: one job per combination.

    ``combinations`` is ``({},)`` for a job without a matrix (it runs once,
    with an empty ``matrix`` context) and may be empty when everything was
    excluded. ``max_parallel`` ``None`` means no limit.
    """

    combinations: tuple[dict[str, Any], ...]
    fail_fast: bool = True
    max_parallel: int | None = None


def _as_bool(value: bool | str, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise PlanningError(f"strategy.{what} must be true or false, not {value!r}")


def _as_max_parallel(value: int | str | None) -> int | None:
    if value is None:
        return None
    number: int
    if isinstance(value, bool):
        raise PlanningError(f"strategy.max-parallel must be a positive number, not {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise PlanningError(f"strategy.max-parallel must be a positive number, not {value!r}")
    if number < 1:
        raise PlanningError(f"strategy.max-parallel must be at least 1, not {number}")
    return number


def plan_strategy(strategy: Strategy | None) -> StrategyPlan:
    """Expand a job's (already evaluated) strategy."""
    if strategy is None:
        return StrategyPlan(combinations=({},))
    fail_fast = _as_bool(strategy.fail_fast, "fail-fast")
    max_parallel = _as_max_parallel(strategy.max_parallel)
    if strategy.matrix is None:
        return StrategyPlan(({},), fail_fast, max_parallel)
    if isinstance(strategy.matrix, str):
        raise PlanningError(f"strategy.matrix is an expression that was not evaluated: {strategy.matrix}")
    return StrategyPlan(tuple(expand_matrix(strategy.matrix)), fail_fast, max_parallel)


def _label_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return ", ".join(_label_value(v) for v in value.values())
    if isinstance(value, list | tuple):
        return ", ".join(_label_value(v) for v in value)
    return "" if value is None else str(value)


def combination_label(combination: Mapping[str, Any]) -> str:
    """The part GitHub appends to a matrix job's name: ``(ubuntu-latest, 16)``; ``""`` for ``{}``."""
    if not combination:
        return ""
    return "(" + ", ".join(_label_value(v) for v in combination.values()) + ")"


def matrix_value_text(value: Any) -> str:
    """A matrix value as ``${{ matrix.x }}`` renders it: ``3.10`` (a YAML number) is
    ``3.1``, ``true`` is ``true``, null is ``""``; a list or mapping is its compact JSON."""
    if isinstance(value, Mapping | list | tuple):
        import json

        return json.dumps(value, separators=(",", ":"), default=str)
    return to_string(value)


def select_combinations(
    combinations: Sequence[Mapping[str, Any]], wanted: Mapping[str, Sequence[str]]
) -> list[Mapping[str, Any]]:
    """The combinations that ``wanted`` (act's ``--matrix KEY:VALUE``) keeps, in order.

    ``wanted`` maps a key to the values allowed for it (several values for one
    key: any of them). A combination is kept when, for every key it has that
    ``wanted`` names, its value's text (:func:`matrix_value_text`) is allowed;
    keys it does not have do not filter it (act's rule), so a filter on keys a
    job's matrix lacks keeps every combination.
    """
    if not wanted:
        return list(combinations)
    return [
        combo
        for combo in combinations
        if all(matrix_value_text(value) in wanted[key] for key, value in combo.items() if key in wanted)
    ]


def describe_matrix_filter(wanted: Mapping[str, Sequence[str]]) -> str:
    """``os:linux, py:3.12`` (the filter as ``--matrix`` spells it)."""
    return ", ".join(f"{key}:{value}" for key, values in wanted.items() for value in values)


def filtered_out_reason(wanted: Mapping[str, Sequence[str]], total: int) -> str:
    """Why a job with ``total`` combinations is skipped when ``wanted`` keeps none of them."""
    return f"the matrix filter {describe_matrix_filter(wanted)} matches none of its {total} combinations"
