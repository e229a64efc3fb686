"""The application's assembly: hot commands load only their own module."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from pheme.cli._app import COMMAND_MODULES, HOT_COMMANDS, build_app


def _names(app: typer.Typer) -> set[str]:
    return {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}


@pytest.mark.parametrize("command", sorted(HOT_COMMANDS))
def test_a_hot_command_is_defined_by_its_module_alone(command: str) -> None:
    assert HOT_COMMANDS[command] in COMMAND_MODULES
    assert _names(build_app(command)) == {command}


def test_any_other_first_word_gets_every_command() -> None:
    every = _names(build_app(None))
    assert set(HOT_COMMANDS) <= every
    assert {"logs", "deploy", "rollback", "server"} <= every
    assert _names(build_app("runs")) == every


def test_pheme_run_does_not_load_the_other_command_modules() -> None:
    code = (
        "import sys\n"
        "from pheme.cli._app import build_app\n"
        "build_app('run')\n"
        "print(sorted(m for m in sys.modules if m.startswith('pheme.cli.') and m.endswith('_cmd')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pheme.cli.run_cmd']"


def _exit_freeze_count(code: str) -> int:
    """What gc.get_freeze_count() is when the process exits after ``code``."""
    script = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.__stderr__.write(f'FROZEN={gc.get_freeze_count()}\\n'))\n" + code
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("FROZEN=")]
    assert line, proc.stderr
    return int(line[-1].removeprefix("FROZEN="))


def test_the_pheme_process_skips_its_last_garbage_collection() -> None:
    # As the `pheme` script: the objects left at exit are frozen (no final walk over them).
    assert _exit_freeze_count("sys.argv = ['pheme', 'eval', '1 == 1']\nfrom pheme.cli import main\nmain()") > 0
    # Called with an argv (tests, embedding programs), the process goes on: nothing frozen.
    code = "from pheme.cli import main\ntry:\n    main(['eval', '1 == 1'])\nexcept SystemExit:\n    pass"
    assert _exit_freeze_count(code) == 0
