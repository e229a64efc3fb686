"""``pheme actions list`` and ``pheme actions vendor``: see and provide ``uses:`` for offline runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``pheme actions`` group to ``app``."""
    actions_app = typer.Typer(
        name="actions",
        help="How each 'uses:' resolves offline, and vendoring actions for offline use.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
    )

    @actions_app.command("list")
    def list_command(
        directory: Path = typer.Option(Path("."), "--dir", "-C", help="Repository directory."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """For each 'uses:' in the repository's workflows: local, builtin, vendored or missing."""
        from pheme.execution.actions.inventory import collect_uses

        entries = collect_uses(directory.resolve())
        if as_json:
            typer.echo(json.dumps({"actions": [e.to_json() for e in entries]}, indent=2))
        elif not entries:
            typer.echo("no 'uses:' steps found")
        else:
            width = max(len(e.uses) for e in entries)
            for e in entries:
                typer.echo(f"{e.uses:<{width}}  {e.resolution.kind:<8}  {e.where}  {e.resolution.detail}")
        if any(e.resolution.kind in ("missing", "invalid", "docker") for e in entries):
            raise typer.Exit(1)

    @actions_app.command("vendor")
    def vendor_command(
        spec: str = typer.Argument(..., metavar="OWNER/REPO@REF", help="The action to copy, e.g. actions/labeler@v5."),
        to: Path | None = typer.Option(
            None, "--to", help="Root directory (default: first PHEME_ACTIONS_PATH entry, else $PHEME_HOME/actions)."
        ),
        source: str | None = typer.Option(None, "--from", help="Git URL or path to clone from (e.g. a mirror)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing copy."),
    ) -> None:
        """Clone OWNER/REPO at REF into the actions directory (needs the network or --from)."""
        from pheme.execution.actions.vendor import vendor_action

        dest = vendor_action(spec, root=to, source=source, force=force)
        typer.echo(f"vendored {spec} into {dest}")

    app.add_typer(actions_app, name="actions")
