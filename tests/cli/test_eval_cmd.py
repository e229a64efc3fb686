"""`pheme eval`: one expression from the command line, or many as JSON lines on stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pheme.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["eval", *args])
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


def test_prints_kind_and_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["0x10 == 16 && format('{0}-{1}', 1.50, null)"], capsys)
    assert code == 0
    assert json.loads(out) == {"kind": "String", "value": "1.5-"}


def test_accepts_the_braces(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["${{ fromJSON('[1, {\"a\": true}]') }}"], capsys)
    assert json.loads(out) == {"kind": "Array", "value": [1, {"a": True}]}


def test_literal_text_around_braces_makes_a_string(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["v${{ 2 }}.x"], capsys)
    assert json.loads(out) == {"kind": "String", "value": "v2.x"}


def test_contexts_file_and_event_payload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contexts = tmp_path / "contexts.json"
    contexts.write_text(json.dumps({"github": {"ref": "refs/heads/main"}, "matrix": {"os": "linux"}}))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"labels": [{"name": "bug"}, {"name": "ci"}]}}))
    code, out, _ = run(
        [
            "format('{0} {1} {2} {3}', github.ref, matrix.OS, github.event_name, "
            "join(github.event.pull_request.labels.*.name))",
            "--contexts",
            str(contexts),
            "--event",
            str(event),
        ],
        capsys,
    )
    assert code == 0
    assert json.loads(out)["value"] == "refs/heads/main linux push bug,ci"


def test_expression_error_is_json_on_stdout_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["nosuch.context"], capsys)
    assert code == 1
    error = json.loads(out)["error"]
    assert error["kind"] == "parsing"
    assert error["message"] == (
        "Unrecognized named-value: 'nosuch'. Located at position 1 within expression: nosuch.context"
    )
    assert err == ""


def test_evaluation_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["format('{0}')"], capsys)
    assert code == 1
    assert json.loads(out)["error"]["kind"] == "evaluation"


def test_status_functions_are_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["success() && !failure() && !cancelled() && always()"], capsys)
    assert json.loads(out) == {"kind": "Boolean", "value": True}


def test_bad_contexts_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"github": ')
    code, out, err = run(["1", "--contexts", str(bad)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "bad.json" in err and "not valid JSON" in err
    code, _, err = run(["1", "--contexts", str(tmp_path / "missing.json")], capsys)
    assert code == 2
    assert "missing.json" in err


def test_contexts_must_be_an_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1]")
    code, _, err = run(["1", "--contexts", str(path)], capsys)
    assert code == 2
    assert "JSON object" in err


def _pheme() -> list[str]:
    return [str(Path(sys.executable).with_name("pheme")), "eval", "--jsonl"]


def run_jsonl(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_pheme(), input=text, capture_output=True, text=True, check=False, timeout=60)


def test_jsonl_one_result_per_line_in_order() -> None:
    lines = [
        {"expr": "a.b", "contexts": {"a": {"B": [1, 2]}}},
        {"expr": "fromjson(a,b "},  # no contexts: no named value is allowed
        "this is not json",
        {"expr": "'abc' == 'ABC'"},
        {"contexts": {}},
        {"expr": "toJSON(x)", "contexts": {"x": {"k": 1.5}}},
    ]
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    proc = run_jsonl(text)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(lines)
    assert results[0] == {"kind": "Array", "value": [1, 2]}
    assert results[1]["error"]["kind"] == "parsing"
    assert "Unrecognized named-value: 'a'. Located at position 10" in results[1]["error"]["message"]
    assert "error" in results[2]
    assert results[3] == {"kind": "Boolean", "value": True}
    assert "error" in results[4]
    assert results[5] == {"kind": "String", "value": '{\n  "k": 1.5\n}'}


def test_jsonl_handles_many_distinct_expressions_in_order() -> None:
    """40,000 distinct lines come back one result per line, in order, without errors.

    Throughput (>= 20,000/s) is measured by bench/validate.py, not asserted here:
    a timed assertion in the suite would be flaky on a loaded machine."""
    exprs = [
        "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')",
        "contains(github.event.pull_request.labels.*.name, 'ci')",
        "format('{0}-{1}', matrix.os, matrix.node)",
        "steps.build.outputs.version != '' || env.FALLBACK",
    ]
    contexts = {
        "github": {"event_name": "push", "ref": "refs/tags/v1", "event": {"pull_request": {"labels": []}}},
        "matrix": {"os": "linux", "node": 20},
        "steps": {"build": {"outputs": {"version": "1.0"}}},
        "env": {"FALLBACK": "x"},
    }
    count = 40_000
    text = "".join(
        json.dumps({"expr": f"({exprs[i % 4]}) && {i} >= 0", "contexts": contexts}) + "\n" for i in range(count)
    )
    proc = run_jsonl(text)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == count
    # The labels list is empty, so only the contains(...) lines (every 4th, offset 1) are false.
    assert results == [{"kind": "Boolean", "value": i % 4 != 1} for i in range(count)]
