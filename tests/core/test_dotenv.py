"""The secrets file parser: what users write in .secrets files, and clear errors without values."""

from __future__ import annotations

import pytest

from pheme.core.dotenv import parse_dotenv
from pheme.errors import ConfigError


def test_plain_export_comments_and_blank_lines() -> None:
    text = "# my secrets\n\nTOKEN=abc123\nexport API_KEY=xyz\n  SPACED = padded value  \nEMPTY=\n"
    assert parse_dotenv(text) == {"TOKEN": "abc123", "API_KEY": "xyz", "SPACED": "padded value", "EMPTY": ""}


def test_inline_comment_after_unquoted_value_is_dropped_but_hash_inside_is_kept() -> None:
    assert parse_dotenv("A=value # note\nB=pa#ss\n") == {"A": "value", "B": "pa#ss"}


def test_single_quotes_are_literal() -> None:
    assert parse_dotenv("A='it\\n is $raw # not a comment'\n") == {"A": "it\\n is $raw # not a comment"}


def test_double_quotes_understand_escapes() -> None:
    assert parse_dotenv('A="line1\\nline2\\t\\"q\\" \\\\"\n') == {"A": 'line1\nline2\t"q" \\'}


def test_multiline_double_quoted_value_and_line_numbers_continue_after_it() -> None:
    text = 'KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----"\nNEXT=1\n'
    assert parse_dotenv(text) == {"KEY": "-----BEGIN KEY-----\nabc\n-----END KEY-----", "NEXT": "1"}
    with pytest.raises(ConfigError) as err:
        parse_dotenv(text + "broken line\n", "s.env")
    assert str(err.value).startswith("s.env:5:1:")


def test_comment_after_closing_quote_is_allowed_and_crlf_is_accepted() -> None:
    assert parse_dotenv('A="x y" # c\r\nB=2\r\n') == {"A": "x y", "B": "2"}


def test_later_key_wins() -> None:
    assert parse_dotenv("A=1\nA=2\n") == {"A": "2"}


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("OK=1\nthis-is-hunter2\n", 2, "no '=' found"),
        ("OK=1\n\n=hunter2\n", 3, "expected KEY=VALUE"),
        ("my-token=hunter2\n", 1, "only letters, digits and _"),
        ('A="hunter2\nB=2\n', 1, "unterminated double-quoted value for A"),
        ("A='hunter2\n", 1, "unterminated single-quoted value for A"),
        ('A="x"hunter2\n', 1, "unexpected text after the closing quote of A"),
    ],
)
def test_malformed_line_names_file_and_line_but_never_the_value(text: str, line: int, what: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_dotenv(text, ".secrets")
    message = str(err.value)
    assert message.startswith(f".secrets:{line}:")
    assert what in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_dashed_keys_only_when_asked_for_input_names() -> None:
    assert parse_dotenv("dry-run=true\n", "in.env", dashes=True) == {"dry-run": "true"}
    with pytest.raises(ConfigError) as err:
        parse_dotenv("dry-run=true\n", "vars.env")
    assert str(err.value) == "vars.env:1:1: expected KEY=VALUE (a key has only letters, digits and _)"
