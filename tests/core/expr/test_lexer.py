"""The lexer's fast path (one findall, no positions) must agree with the exact lexer."""

from __future__ import annotations

import json

import pytest
from tests.conftest import conformance_path

from pheme.core.expr._lexer import fast_tokenize, tokenize
from pheme.errors import ExpressionError

TRICKY = [
    "foo.bar.1",
    "foo.bar .baz.qux",
    "foo .true",
    "foo.*.bar[*].baz",
    "a.b*",
    "b@r",
    "1-1",
    "-1 == +1",
    ".5 < 0x10",
    "'it''s' == 'x'",
    "'unterminated",
    "x = 1",
    "null.foo",
    "format('{0}', 1e3)",
    "github.event_name=='push'&&!cancelled()",
    "é",
    "foo['a'].b-c._d",
]


def _corpus() -> list[str]:
    texts = list(TRICKY)
    base = conformance_path("actions-languageservices", "expressions", "testdata")
    for path in sorted(base.glob("*.json")):
        for cases in json.loads(path.read_text(encoding="utf-8")).values():
            texts.extend(case["expr"] for case in cases)
    bench = conformance_path("rhysd-actionlint", "testdata", "bench", "expressions.txt")
    texts.extend(line for line in bench.read_text(encoding="utf-8").splitlines() if line.strip())
    return texts


def test_fast_path_agrees_with_the_exact_lexer() -> None:
    used = 0
    for text in _corpus():
        fast = fast_tokenize(text)
        if fast is None:
            continue
        used += 1
        try:
            types, tokens = tokenize(text)
        except ExpressionError:
            pytest.fail(f"fast path accepted what the exact lexer rejects: {text!r}")
        assert fast == (types, [t[1] for t in tokens]), text
    assert used > 2000  # the fast path really is the common path


def test_tokens_carry_positions_for_errors() -> None:
    _types, tokens = tokenize("a.b == 'x'")
    assert [t[2] for t in tokens] == [0, 4, 7, 10]
