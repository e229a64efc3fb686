"""action.yml is read with positions; problems come out as file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from pheme.errors import ActionError
from pheme.execution.actions.manifest import load_manifest, parse_manifest


def test_inputs_outputs_and_node_runs(tmp_path: Path) -> None:
    m = parse_manifest(
        """
name: Hello
description: greets
inputs:
  who-to-greet:
    description: who
    required: true
    default: World
  flag:
    default: false
outputs:
  time:
    description: when
runs:
  using: node20
  main: dist/index.js
  post: dist/post.js
  post-if: success()
""",
        "action.yml",
        tmp_path,
    )
    assert m.name == "Hello"
    assert m.inputs["who-to-greet"].required and m.inputs["who-to-greet"].default == "World"
    assert m.inputs["flag"].default is False
    assert list(m.outputs) == ["time"]
    assert (m.runs.using, m.runs.main, m.runs.post, m.runs.post_if) == ("node20", "dist/index.js", "dist/post.js", "success()")


def test_composite_steps_become_workflow_steps(tmp_path: Path) -> None:
    m = parse_manifest(
        """
name: c
runs:
  using: composite
  steps:
    - run: echo hi
      shell: bash
      env:
        A: b
    - id: nested
      uses: ./other
      with:
        x: ${{ inputs.y }}
""",
        "action.yml",
        tmp_path,
    )
    first, second = m.runs.steps
    assert first.run is not None and first.run.strip() == "echo hi"
    assert first.shell == "bash" and first.env == {"A": "b"} and first.pos.line == 6
    assert second.uses == "./other" and second.with_ == {"x": "${{ inputs.y }}"} and second.id == "nested"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("name: x\n", "action.yml:1:1", "'runs' is missing"),
        ("runs:\n  using: node20\n", "action.yml:2:3", "'runs.main' is required"),
        ("runs:\n  using: java\n", "action.yml:2:10", "'using: java' is not supported"),
        ("runs:\n  using: composite\n  steps:\n    - run: echo\n", "action.yml:4:7", "shell"),
        ("runs:\n  using: composite\n  steps:\n    - bogus: 1\n", "action.yml:4:7", "Unexpected value 'bogus'"),
        ("runs: [\n", "action.yml:2:1", "invalid YAML"),
    ],
)
def test_problems_name_file_line_and_column(tmp_path: Path, text: str, where: str, message: str) -> None:
    with pytest.raises(ActionError) as info:
        parse_manifest(text, "action.yml", tmp_path)
    assert str(info.value).startswith(where) and message in str(info.value)


def test_load_prefers_action_yml_then_yaml_and_reports_missing(tmp_path: Path) -> None:
    (tmp_path / "action.yaml").write_text("runs:\n  using: composite\n  steps: []\n")
    assert load_manifest(tmp_path).file.endswith("action.yaml")
    with pytest.raises(ActionError, match=r"Can't find 'action\.yml'"):
        load_manifest(tmp_path / "nope", display="./nope")
