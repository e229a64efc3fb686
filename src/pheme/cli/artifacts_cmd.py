"""``pheme artifacts RUN``: list a run's artifacts, or download one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``pheme artifacts`` to ``app``."""

    @app.command("artifacts")
    def artifacts_command(
        run: str = typer.Argument(..., help="Run id."),
        download: str | None = typer.Option(None, "--download", "-d", metavar="NAME", help="Download this artifact."),
        to: Path = typer.Option(Path("."), "--to", help="Directory to download into."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """List the artifacts a run uploaded; --download NAME --to DIR extracts one."""
        from pheme.storage.objectstore import open_default_store
        from pheme.storage.objectstore.artifacts import ArtifactStore

        store = ArtifactStore(open_default_store())
        if download is not None:
            files = store.download(run, download, to)
            if as_json:
                typer.echo(json.dumps({"artifact": download, "to": str(to), "files": [str(f) for f in files]}))
            else:
                typer.echo(f"downloaded {download} ({len(files)} file(s)) into {to}")
            return
        records = store.list(run)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "run": run,
                        "artifacts": [
                            {
                                "name": r.name,
                                "id": r.id,
                                "size": r.size,
                                "files": r.files,
                                "digest": f"sha256:{r.digest}",
                                "created_at": _iso(r.created_at),
                                "retention_days": r.retention_days,
                                "expires_at": _iso(r.expires_at),
                            }
                            for r in records
                        ],
                    },
                    indent=2,
                )
            )
            return
        if not records:
            typer.echo(f"run {run} has no artifacts")
            return
        width = max(len(r.name) for r in records)
        for r in records:
            typer.echo(f"{r.name:<{width}}  {r.size:>10} B  {r.files:>5} file(s)  expires {_iso(r.expires_at)[:10]}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
