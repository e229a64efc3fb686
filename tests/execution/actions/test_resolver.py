"""uses: resolves in GitHub's order, and says how to fix what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pheme.core.workflow.model import Step
from pheme.errors import ActionError
from pheme.execution.actions.resolver import Resolver, parse_uses

from .conftest import run_workflow, write

STEP = Step(index=0)


def test_parse_uses_forms() -> None:
    r = parse_uses("owner/repo/sub/dir@v1.2")
    assert (r.kind, r.repository, r.path, r.ref, r.name) == ("remote", "owner/repo", "sub/dir", "v1.2", "owner/repo/sub/dir")
    assert parse_uses("./.github/actions/x").kind == "local"
    assert parse_uses("docker://alpine:3").kind == "docker"
    with pytest.raises(ActionError, match="Expected format"):
        parse_uses("Foo/Bar")


def test_builtins_win_over_vendored_and_vendored_over_missing(tmp_path: Path) -> None:
    vendored = write(tmp_path / "vendor", {"acme/tool@v2/action.yml": "runs:\n  using: composite\n  steps: []\n"})
    resolver = Resolver(search=[vendored])
    assert resolver.describe("actions/checkout@v4", tmp_path).kind == "builtin"
    assert resolver.describe("snyk/actions/node@master", tmp_path).kind == "builtin"
    assert resolver.describe("acme/tool@v2", tmp_path).kind == "vendored"
    missing = resolver.describe("acme/other@v1", tmp_path)
    assert missing.kind == "missing" and "pheme actions vendor acme/other@v1" in missing.detail
    assert resolver.describe("docker://alpine", tmp_path).kind == "docker"


def test_sub_path_actions_are_found_inside_the_vendored_repository(tmp_path: Path) -> None:
    vendored = write(tmp_path / "v", {"acme/mono@main/tools/lint/action.yaml": "runs:\n  using: composite\n  steps: []\n"})
    assert Resolver(search=[vendored]).vendored(parse_uses("acme/mono/tools/lint@main")) is not None


def test_missing_action_error_says_how_to_provide_it(tmp_path: Path) -> None:
    with pytest.raises(ActionError) as info:
        Resolver(search=[]).resolve("acme/thing@v3", STEP)
    text = str(info.value)
    assert "acme/thing@v3" in text and "pheme actions vendor acme/thing@v3" in text and "PHEME_ACTIONS_PATH" in text


def test_docker_actions_need_a_container_engine(tmp_path: Path) -> None:
    vendored = write(tmp_path / "v", {"acme/d@v1/action.yml": "runs:\n  using: docker\n  image: Dockerfile\n"})
    for uses in ("docker://alpine:3", "acme/d@v1"):
        with pytest.raises(ActionError, match="container engine"):
            Resolver(search=[vendored]).resolve(uses, STEP)


def test_missing_and_invalid_local_actions_fail_their_step(tmp_path: Path) -> None:
    write(tmp_path, {"bad/action.yml": "runs:\n  using: composite\n  steps:\n    - run: echo\n"})
    out = run_workflow(
        """
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - uses: ./path/to/non-existent-action
          b:
            runs-on: ubuntu-latest
            steps:
              - uses: ./bad
        """,
        tmp_path,
    )
    assert out.result.job("a").conclusion == "failure"
    assert out.result.job("b").conclusion == "failure"
    assert "Can't find 'action.yml'" in out.log
    assert "bad/action.yml:4:7: Required property is missing: shell" in out.log


def test_vendored_composite_runs(tmp_path: Path) -> None:
    vendored = write(
        tmp_path / "vendor",
        {
            "acme/greet@v1/action.yml": """
                inputs:
                  who: {default: World}
                outputs:
                  said: {value: "${{ steps.s.outputs.text }}"}
                runs:
                  using: composite
                  steps:
                    - id: s
                      run: echo "text=hello ${{ inputs.who }} from $GITHUB_ACTION_PATH" >> "$GITHUB_OUTPUT"
                      shell: bash
            """
        },
    )
    ws = tmp_path / "ws"
    ws.mkdir()
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: g
                uses: acme/greet@v1
                with: {who: Mona}
              - run: test "${{ steps.g.outputs.said }}" = "hello Mona from ${{ github.workspace }}/../vendor/acme/greet@v1" || echo "${{ steps.g.outputs.said }}"
        """,
        ws,
        search=[vendored],
    )
    assert out.result.conclusion == "success", out.log
    said = out.step_outputs("j", 1)["said"]
    assert said.startswith("hello Mona from ") and said.endswith("acme/greet@v1")
