"""GitHub's own workflow-parser cases (actions/languageservices testdata/reader).

Every expected error must be reported, with GitHub's message, at the same line;
every case GitHub accepts must load without any problem. The pass rate is
printed; a few cases are known exceptions, each with its reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.conftest import conformance_path

sys.path.insert(0, str(Path(__file__).parent))
from _conformance import Case, load_case

READER = ("actions-languageservices", "workflow-parser", "testdata", "reader")

# Cases we knowingly do not match, and why.
KNOWN_ERROR_EXCEPTIONS = {
    "errors-anchor-tag.yml": "GitHub has accepted YAML anchors since September 2025 (actionlint's ok/anchors.yaml); "
    "this case records the earlier refusal, which LoadOptions(allow_anchors=False) still reproduces",
    "errors-max-result-size.yml": "GitHub's 'max-result-size' is a byte budget of its internal token objects; "
    "Pheme does not model that memory accounting",
    "errors-reusable-workflow-max-result-size.yml": "same 'max-result-size' budget, across a called workflow",
    "events-single-invalid.yml": "contradicts on-workflow_dispatch-unknown-keys-ignored.yml (GitHub's TypeScript "
    "parser vs. its canonical C# one); Pheme follows the canonical parser and ignores unknown keys "
    "directly under workflow_dispatch",
}
KNOWN_SUCCESS_EXCEPTIONS = {
    "events-mapping-all.yml": "schedules '* * * * 5' and '* * * * 6' fire every minute; GitHub accepts them and "
    "silently throttles to every 5 minutes, Pheme refuses schedules more frequent than every 5 minutes",
}


def _cases() -> list[Case]:
    return [load_case(p) for p in sorted(conformance_path(*READER).glob("*.yml"))]


def test_reader_error_cases_report_githubs_messages_at_the_same_lines() -> None:
    cases = [c for c in _cases() if c.errors is not None]
    assert len(cases) == 87
    failures = {}
    for case in cases:
        missing = case.missing(case.run())
        if missing:
            failures[case.name] = missing
    passed = len(cases) - len(failures)
    rate = passed / len(cases)
    print(f"\nreader error cases: {passed}/{len(cases)} = {rate:.1%}")
    unexpected = {name: m for name, m in failures.items() if name not in KNOWN_ERROR_EXCEPTIONS}
    assert not unexpected, f"new failures: {unexpected}"
    assert rate >= 0.90


def test_reader_success_cases_load_without_problems() -> None:
    cases = [c for c in _cases() if c.errors is None]
    assert len(cases) == 195 - 87
    failures = {}
    for case in cases:
        problems = case.run()
        if problems:
            failures[case.name] = [str(p) for p in problems]
    print(f"\nreader success cases: {len(cases) - len(failures)}/{len(cases)}")
    unexpected = {name: p for name, p in failures.items() if name not in KNOWN_SUCCESS_EXCEPTIONS}
    assert not unexpected


@pytest.mark.parametrize("name", sorted({**KNOWN_ERROR_EXCEPTIONS, **KNOWN_SUCCESS_EXCEPTIONS}))
def test_known_exceptions_still_exist(name: str) -> None:
    """A listed exception that starts passing must be removed from the list."""
    case = load_case(conformance_path(*READER, name))
    problems = case.run()
    if case.errors is None:
        assert problems
    else:
        assert case.missing(problems)
