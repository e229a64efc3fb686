"""Planning, before anything runs: triggers, filter patterns, matrices, the job graph.

Pure functions and small objects over the workflow model; no I/O.
Import from here: ``from pheme.core.planning import Event, match_event, JobGraph``.
"""

from pheme.core.planning.filters import compile_pattern, filtered, included, skip
from pheme.core.planning.graph import JobGraph, JobState
from pheme.core.planning.matrix import (
    MAX_COMBINATIONS,
    StrategyPlan,
    combination_label,
    describe_matrix_filter,
    expand_matrix,
    filtered_out_reason,
    matrix_value_text,
    plan_strategy,
    select_combinations,
)
from pheme.core.planning.triggers import (
    Event,
    InputValue,
    TriggerDecision,
    known_events,
    match_event,
    normalize_ref,
    resolve_dispatch_inputs,
)

__all__ = [
    "MAX_COMBINATIONS",
    "Event",
    "InputValue",
    "JobGraph",
    "JobState",
    "StrategyPlan",
    "TriggerDecision",
    "combination_label",
    "compile_pattern",
    "describe_matrix_filter",
    "expand_matrix",
    "filtered",
    "filtered_out_reason",
    "included",
    "known_events",
    "match_event",
    "matrix_value_text",
    "normalize_ref",
    "plan_strategy",
    "resolve_dispatch_inputs",
    "select_combinations",
    "skip",
]
