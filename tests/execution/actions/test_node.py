"""JavaScript actions run with node: inputs, outputs, state, pre/post."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import run_workflow, write

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

ACTION = {
    "act/action.yml": """
        name: js
        inputs:
          who-to-greet: {required: true, default: World}
          with space: {default: d}
          fail: {default: "false"}
        outputs:
          greeting: {description: g}
        runs:
          using: node20
          pre: pre.js
          main: main.js
          post: post.js
          post-if: always()
    """,
    "act/pre.js": """
        const fs = require('fs');
        fs.appendFileSync(process.env.GITHUB_STATE, 'from_pre=yes\\n');
        console.log('pre ran');
    """,
    "act/main.js": """
        const fs = require('fs');
        const who = process.env['INPUT_WHO-TO-GREET'];
        console.log(`Hello ${who} / ${process.env['INPUT_WITH_SPACE']} / pre state ${process.env.STATE_from_pre}`);
        fs.appendFileSync(process.env.GITHUB_OUTPUT, `greeting=Hello ${who}\\n`);
        fs.appendFileSync(process.env.GITHUB_STATE, 'token=abc\\n');
        fs.appendFileSync(process.env.GITHUB_ENV, 'FROM_JS=1\\n');
        if (process.env.INPUT_FAIL === 'true') { console.log('::error::asked to fail'); process.exit(3); }
    """,
    "act/post.js": """
        console.log(`post sees state ${process.env.STATE_token} and ${process.env.STATE_from_pre}`);
    """,
}


def test_vendored_js_action_with_pre_main_post(tmp_path: Path) -> None:
    vendor = write(tmp_path / "vendor", {f"acme/js@v1/{k.split('/', 1)[1]}": v for k, v in ACTION.items()})
    ws = tmp_path / "ws"
    ws.mkdir()
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: a
                uses: acme/js@v1
                with: {who-to-greet: Mona}
              - run: echo "env=$FROM_JS out=${{ steps.a.outputs.greeting }}"
        """,
        ws,
        search=[vendor],
    )
    assert out.result.conclusion == "success", out.log
    log = out.log
    assert "pre ran" in log
    assert "Hello Mona / d / pre state yes" in log
    assert "env=1 out=Hello Mona" in log
    assert "post sees state abc and yes" in log
    assert log.index("env=1") < log.index("post sees state")


def test_local_js_action_runs_main_and_post_but_not_pre(tmp_path: Path) -> None:
    write(tmp_path, ACTION)
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: ./act
        """,
        tmp_path,
    )
    assert out.result.conclusion == "success", out.log
    assert "pre ran" not in out.log
    assert "Hello World / d / pre state undefined" in out.log
    assert "post sees state abc" in out.log


def test_failing_js_action_fails_the_step_and_post_if_is_honoured(tmp_path: Path) -> None:
    files = dict(ACTION)
    files["act/action.yml"] = files["act/action.yml"].replace("post-if: always()", "post-if: success()")
    write(tmp_path, files)
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: ./act
                with: {fail: "true"}
        """,
        tmp_path,
    )
    assert out.result.conclusion == "failure"
    assert "asked to fail" in out.log and "exit code 3" in out.log
    assert "post sees state" not in out.log


def test_missing_node_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, ACTION)
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: ./act
                env: {PATH: /nonexistent}
        """,
        tmp_path,
    )
    assert out.result.conclusion == "failure"
    assert "needs Node.js (node20), but no 'node' was found on PATH" in out.log


def test_missing_entry_point_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, {"act/action.yml": "runs:\n  using: node16\n  main: dist/index.js\n"})
    out = run_workflow(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./act\n", tmp_path
    )
    assert out.result.conclusion == "failure"
    assert "runs.main file not found" in out.log and "dist/index.js" in out.log
