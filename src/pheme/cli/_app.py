"""Builds the Typer application and turns PhemeError into one clear line."""

from __future__ import annotations

import importlib
import sys

import typer

from pheme import __version__
from pheme.errors import PhemeError

# One module per command group; each defines ``register(app: typer.Typer)``.
COMMAND_MODULES = (
    "validate",
    "list_cmd",
    "eval_cmd",
    "run_cmd",
    "runs_cmd",
    "actions_cmd",
    "artifacts_cmd",
    "server_cmd",
    "env_cmd",
    "deploy_cmd",
    "monitoring_cmd",
)

# The modules of the commands whose start-up time users feel (``pheme run`` before
# its first step): only that module is registered when one of them is invoked.
# tests/cli/test_app.py checks each really defines its command.
HOT_COMMANDS = {"run": "run_cmd", "validate": "validate", "list": "list_cmd", "eval": "eval_cmd"}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pheme {__version__}")
        raise typer.Exit(0)


def build_app(command: str | None = None) -> typer.Typer:
    """The application; with ``command`` one of :data:`HOT_COMMANDS`, only its module."""
    from pheme.cli._typer_fast import install

    install()  # no pydantic for parameters that need no conversion (see _typer_fast)
    app = typer.Typer(
        name="pheme",
        help="Self-hosted CI/CD: run GitHub Actions workflows on your own machines.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", "-V", help="Print the version and exit.", callback=_version_callback, is_eager=True
        ),
    ) -> None:
        """Pheme: run your GitHub Actions pipeline locally, deploy it and watch it."""

    hot = HOT_COMMANDS.get(command or "")
    for name in (hot,) if hot else COMMAND_MODULES:
        module = importlib.import_module(f"pheme.cli.{name}")
        module.register(app)
    return app


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit. The only way commands report errors."""
    sys.stderr.write(f"pheme: {message}\n")
    raise SystemExit(code)


def run(args: list[str]) -> None:
    app = build_app(args[0] if args else None)
    try:
        app(args=args, prog_name="pheme", standalone_mode=True)
    except PhemeError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
