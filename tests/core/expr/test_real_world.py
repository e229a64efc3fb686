"""Real-world expression bodies (actionlint's benchmark corpus) must all lex and parse."""

from __future__ import annotations

from tests.conftest import conformance_path

from pheme.core.expr import STATUS_FUNCTIONS, parse
from pheme.errors import ExpressionError


def test_every_real_world_expression_parses() -> None:
    path = conformance_path("rhysd-actionlint", "testdata", "bench", "expressions.txt")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == 1858
    failures = []
    for number, line in enumerate(lines, 1):
        try:
            parse(line, functions={*STATUS_FUNCTIONS, "hashFiles"})
        except ExpressionError as exc:
            failures.append(f"line {number}: {exc.full_message()}")
    assert failures == []
