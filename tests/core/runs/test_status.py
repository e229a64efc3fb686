"""The one state machine that every run, job and step status change goes through."""

from __future__ import annotations

import itertools

import pytest

from pheme.core.runs import (
    Conclusion,
    Status,
    TransitionError,
    allowed_sources,
    can_transition,
    check_transition,
)
from pheme.errors import PhemeError

S = Status

LEGAL = {
    (S.QUEUED, S.IN_PROGRESS),
    (S.QUEUED, S.WAITING),
    (S.QUEUED, S.COMPLETED),
    (S.WAITING, S.QUEUED),
    (S.WAITING, S.IN_PROGRESS),
    (S.WAITING, S.COMPLETED),
    (S.IN_PROGRESS, S.WAITING),
    (S.IN_PROGRESS, S.COMPLETED),
}


def test_values_are_githubs_words() -> None:
    assert [s.value for s in Status] == ["queued", "in_progress", "waiting", "completed"]
    assert [c.value for c in Conclusion] == ["success", "failure", "cancelled", "skipped"]


@pytest.mark.parametrize("current,new", sorted(itertools.product(Status, Status)))
def test_every_pair_is_either_allowed_or_refused(current: Status, new: Status) -> None:
    conclusion = Conclusion.SUCCESS if new is S.COMPLETED else None
    if (current, new) in LEGAL:
        assert can_transition(current, new)
        check_transition("job", "build", current, new, conclusion)
    else:
        assert not can_transition(current, new)
        with pytest.raises(TransitionError, match=f"job build: illegal status change {current} -> {new}"):
            check_transition("job", "build", current, new, conclusion)


def test_completed_is_terminal() -> None:
    for new in Status:
        assert not can_transition(S.COMPLETED, new)


def test_sources_match_transitions() -> None:
    for new in Status:
        assert allowed_sources(new) == {cur for cur, tgt in LEGAL if tgt == new}


def test_completion_needs_a_conclusion_and_only_completion_has_one() -> None:
    with pytest.raises(TransitionError, match="completed needs a conclusion"):
        check_transition("run", "7", S.IN_PROGRESS, S.COMPLETED, None)
    with pytest.raises(TransitionError, match="only valid once completed"):
        check_transition("step", "3", S.QUEUED, S.IN_PROGRESS, Conclusion.FAILURE)


def test_transition_error_is_a_one_line_pheme_error() -> None:
    with pytest.raises(PhemeError) as info:
        check_transition("run", "1", S.COMPLETED, S.QUEUED)
    assert "\n" not in str(info.value)


def test_a_steps_outcome_and_conclusion_default_to_each_other_on_completion_only() -> None:
    from pheme.core.runs import step_results

    done = Status.COMPLETED
    assert step_results("1", done, None, Conclusion.SKIPPED) == (Conclusion.SKIPPED, Conclusion.SKIPPED)
    assert step_results("1", done, Conclusion.FAILURE, None) == (Conclusion.FAILURE, Conclusion.FAILURE)
    # continue-on-error: the step failed, the job carries on as if it succeeded
    assert step_results("1", done, Conclusion.FAILURE, Conclusion.SUCCESS) == (Conclusion.FAILURE, Conclusion.SUCCESS)
    assert step_results("1", Status.IN_PROGRESS, None, None) == (None, None)
    with pytest.raises(TransitionError, match="step 2 of job 7: completed needs a conclusion"):
        step_results("2 of job 7", done, None, None)
    with pytest.raises(TransitionError, match="only valid once completed"):
        step_results("2 of job 7", Status.IN_PROGRESS, Conclusion.FAILURE, None)
