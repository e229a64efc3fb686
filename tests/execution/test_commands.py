"""Workflow commands on stdout and file commands, with GitHub's formats."""

from __future__ import annotations

import pytest

from pheme.errors import ExecutionError
from pheme.execution._commands import parse_command, parse_key_value_file
from pheme.execution.events import Annotation


def test_command_properties_and_data_are_unescaped_like_github():
    name, props, data = parse_command("  ::error file=a%3Ab.py,line=3,title=x%2Cy%250A::100%25 done%0Anext")
    assert name == "error"
    assert props == {"file": "a:b.py", "line": "3", "title": "x,y%0A"}
    assert data == "100% done\nnext"


def test_lines_that_are_not_commands_are_left_alone():
    assert parse_command("echo ::error::x") is None
    assert parse_command("::no-closing") is None


def test_key_value_file_with_heredocs():
    text = "a=1\nb=x=y\n\nlong<<EOF\nline 1\n\nline 3\nEOF\nc<<END_\nEND_\n"
    assert parse_key_value_file(text, "set_output") == {
        "a": "1",
        "b": "x=y",
        "long": "line 1\n\nline 3",
        "c": "",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x<<EOF\nno end\n", "matching delimiter not found 'EOF'"),
        ("just a line\n", "invalid format"),
        ("=value\n", "invalid format"),
    ],
)
def test_bad_key_value_files_are_one_line_errors(text, message):
    with pytest.raises(ExecutionError, match=message):
        parse_key_value_file(text, "set_env")


def test_annotations_groups_and_logged_lines(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "::group::My group"
          echo inside
          echo "::endgroup::"
          echo "::error file=src/app.py,line=10,col=4,title=Bad thing::it broke%0Asecond line"
          echo "::warning::careful"
          echo "::notice title=FYI::note this"
          echo "::debug::hidden unless debugging"
          echo "::unknown-command::stays as is"
"""
    )
    assert result.conclusion == "success"
    assert col.output("j", 1) == [
        "##[group]My group",
        "inside",
        "##[endgroup]",
        "##[error]it broke",
        "second line",
        "##[warning]careful",
        "##[notice]note this",
        "::unknown-command::stays as is",
    ]
    annotations = col.of(Annotation)
    assert annotations[0] == Annotation(
        job=annotations[0].job,
        level="error",
        message="it broke\nsecond line",
        file="src/app.py",
        line=10,
        col=4,
        title="Bad thing",
    )
    assert [(a.level, a.message, a.title) for a in annotations[1:]] == [
        ("warning", "careful", None),
        ("notice", "note this", "FYI"),
    ]


def test_debug_messages_show_with_step_debug_enabled(engine):
    _, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "::debug::now visible"
""",
        secrets={"ACTIONS_STEP_DEBUG": "true"},
    )
    assert col.output("j", 1) == ["##[debug]now visible"]


def test_stop_commands_turns_processing_off_until_the_token(engine):
    _, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "::stop-commands::pause-123"
          echo "::warning::not a command now"
          echo "::pause-123::"
          echo "::warning::a command again"
"""
    )
    assert col.output("j", 1) == ["::warning::not a command now", "##[warning]a command again"]
    assert [a.message for a in col.of(Annotation)] == ["a command again"]


def test_echo_on_shows_command_lines(engine):
    _, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "::echo::on"
          echo "::group::G"
"""
    )
    assert col.output("j", 1) == ["::group::G", "##[group]G"]


def test_deprecated_set_output_works_with_a_warning_and_set_env_is_disabled(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: out
        run: echo "::set-output name=color::green"
      - run: echo "::set-env name=A::b"
      - if: always()
        run: echo "${{ steps.out.outputs.color }} [$A]"
"""
    )
    job = result.job("j")
    assert job.steps[0].outputs == {"color": "green"}
    assert job.steps[0].outcome == "success"
    assert any("`set-output` command is deprecated" in a.message for a in col.of(Annotation))
    assert job.steps[1].outcome == "failure"
    assert any("`set-env` command is disabled" in line for line in col.lines("j", 2))
    assert col.output("j", 3) == ["green []"]


def test_set_env_and_add_path_work_when_unsecure_commands_are_allowed(engine):
    result, col = engine.run(
        """
on: push
env:
  ACTIONS_ALLOW_UNSECURE_COMMANDS: true
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "::set-env name=A::b"; echo "::add-path::/opt/xyz"
      - run: echo "$A ${PATH%%:*}"
"""
    )
    assert result.conclusion == "success"
    assert col.output("j", 2) == ["b /opt/xyz"]


def test_outputs_multiline_and_state_files(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: s
        run: |
          echo "one=1" >> "$GITHUB_OUTPUT"
          printf 'text<<XYZ\\nfirst\\nsecond\\nXYZ\\n' >> "$GITHUB_OUTPUT"
          echo "saved=yes" >> "$GITHUB_STATE"
      - run: echo "${{ steps.s.outputs.one }}"; echo "${{ steps.s.outputs.text }}"
"""
    )
    assert result.conclusion == "success", col.lines("j")
    assert result.job("j").steps[0].outputs == {"one": "1", "text": "first\nsecond"}
    assert col.output("j", 2) == ["1", "first", "second"]


def test_a_broken_output_file_fails_the_step(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: printf 'x<<EOF\\nnever closed\\n' >> "$GITHUB_OUTPUT"
"""
    )
    assert result.job("j").steps[0].outcome == "failure"
    assert any("matching delimiter not found 'EOF'" in line for line in col.lines("j", 1))


def test_step_summary_is_collected_per_job(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "### Hello" >> "$GITHUB_STEP_SUMMARY"
      - run: echo "- item" >> "$GITHUB_STEP_SUMMARY"
"""
    )
    assert result.summary == {"j": "### Hello\n\n- item\n"}


def test_output_without_final_newline_and_with_crlf_is_split_into_lines(engine):
    _, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: printf 'a\\r\\nb\\r\\nlast'
"""
    )
    assert col.output("j", 1) == ["a", "b", "last"]


def test_large_output_arrives_complete_and_in_order(engine):
    _, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: seq 1 300000; echo "::warning::at the end"
"""
    )
    out = col.output("j", 1)
    assert out[:-1] == [str(i) for i in range(1, 300001)]
    assert out[-1] == "##[warning]at the end"
