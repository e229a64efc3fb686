"""Filter patterns beyond act's table: GitHub cheat-sheet rules a user relies on."""

from __future__ import annotations

import pytest

from pheme.core.planning.filters import compile_pattern, filtered, included, skip
from pheme.errors import PlanningError


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("feature/*", "feature/a/b", False),  # * stops at /
        ("feature/**", "feature/a/b", True),
        ("**/README.md", "README.md", True),  # **/ may match nothing
        ("v1.?", "v1.", True),  # ? = zero or one of the preceding char
        ("v1.?", "v1x", False),  # '.' is literal, not regex any-char
        ("v[12].[0-9]+", "v3.1", False),
        ("v[12].[0-9]+", "v1.", False),  # + needs at least one
        ("[a-c]x", "bx", True),
        ("?lead", "?lead", True),  # leading ? is literal
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
    ],
)
def test_glob_rules(pattern: str, value: str, expected: bool) -> None:
    assert included([pattern], value) is expected


def test_later_patterns_override_earlier_ones() -> None:
    patterns = ["releases/**", "!releases/**-alpha", "releases/keep-alpha"]
    assert included(patterns, "releases/10")
    assert not included(patterns, "releases/10-alpha")
    assert included(patterns, "releases/keep-alpha")


def test_paths_run_if_any_file_is_included() -> None:
    assert not skip(["docs/**"], ["src/a.py", "docs/x.md"])
    assert skip(["docs/**"], ["src/a.py"])


def test_paths_ignore_skips_only_if_every_file_is_ignored() -> None:
    assert filtered(["docs/**"], ["docs/a.md", "docs/b/c.md"])
    assert not filtered(["docs/**"], ["docs/a.md", "src/main.py"])


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern("src/**/*.py") is compile_pattern("src/**/*.py")


@pytest.mark.parametrize("bad", ["[]", "[a-", "[!]x", "trailing\\", "[9-0]"])
def test_invalid_patterns_raise_a_clear_error(bad: str) -> None:
    with pytest.raises(PlanningError, match="invalid filter pattern"):
        compile_pattern(bad)
