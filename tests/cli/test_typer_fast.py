"""The Typer shim: the same parsed values as Typer's pydantic coercion, without importing pydantic."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CAPTURE = textwrap.dedent(
    """
    import json, sys
    if sys.argv[1] == "plain":
        import typer.core
        typer.core._TyperParameter.get_runtime_param._pheme_light = True  # install() then patches nothing
    import pheme.services.local_run as lr

    def capture(options, **kwargs):
        fields = {k: v if isinstance(v, (str, int, bool, type(None))) else repr(v) for k, v in vars(options).items()}
        print(json.dumps({"options": fields, "pydantic": "pydantic" in sys.modules}))
        raise SystemExit(0)

    lr.trigger_local_runs = capture
    from pheme.cli import main
    main(sys.argv[2:])
    """
)


def _parse(mode: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CAPTURE, mode, *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    "args",
    [
        ["run"],
        ["run", "push", "--workflow", ".github/workflows/a.yml", "-W", "b.yml", "--quiet"],
        ["run", "--event", "workflow_dispatch", "--input", "k=v", "--secret", "S=1", "--var", "V=2", "--env", "E=3",
         "--job", "build", "--event-file", "e.json", "--secrets-file", ".secrets", "-C", "sub", "--ref", "main",
         "--before", "HEAD~1", "--working-tree", "--json"],
        ["run", "--jobs", "3"],
    ],
)  # fmt: skip
def test_run_options_parse_to_the_same_values_as_with_plain_typer(args: list[str], tmp_path: Path) -> None:
    (tmp_path / ".secrets").write_text("FROM_FILE=x\n")
    light, plain = _parse("light", args, tmp_path), _parse("plain", args, tmp_path)
    assert light.returncode == plain.returncode == 0, light.stderr + plain.stderr
    assert light.stdout.splitlines()[-1].split('"pydantic"')[0] == plain.stdout.splitlines()[-1].split('"pydantic"')[0]


def test_pydantic_is_not_imported_unless_a_value_needs_it(tmp_path: Path) -> None:
    assert '"pydantic": false' in _parse("light", ["run", "-W", "a.yml", "--secret", "A=b", "-q"], tmp_path).stdout
    assert '"pydantic": true' in _parse("light", ["run", "--jobs", "2"], tmp_path).stdout


@pytest.mark.parametrize("value", ["0", "x"])
def test_invalid_numbers_are_refused_as_before(value: str, tmp_path: Path) -> None:
    light, plain = _parse("light", ["run", "--jobs", value], tmp_path), _parse("plain", ["run", "--jobs", value], tmp_path)
    assert light.returncode == plain.returncode == 2
    assert light.stderr == plain.stderr and "Invalid value for '--jobs'" in light.stderr
