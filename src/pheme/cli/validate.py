"""``pheme validate [PATH…]``: check workflow files as GitHub would, without running anything.

Thin by design: find the files, read them (the only I/O), hand the text to
:func:`pheme.core.workflow.validate_workflow`, print each problem as
``file:line:col: message``. Exit 1 when any problem is found.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

__all__ = ["collect_files", "register", "validate_paths"]

WORKFLOWS_DIR = Path(".github") / "workflows"
_SUFFIXES = (".yml", ".yaml")


def _repo_root(start: Path) -> Path | None:
    """The git top-level containing ``start`` (a ``.git`` dir, or file for worktrees)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _shown(path: Path, cwd: Path) -> str:
    """Relative to the current directory (``../../.github/workflows/x.yml`` from deeper down)."""
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # another drive on Windows
        return str(path)


def collect_files(paths: list[str], cwd: Path) -> tuple[list[tuple[str, Path]], list[str], Path]:
    """``([(shown name, path)], [missing paths], base directory)``.

    Without ``paths``: the ``.github/workflows`` of the repository containing
    ``cwd`` (or of ``cwd`` when not in a repository).
    """
    if not paths:
        base = _repo_root(cwd) or cwd
        folder = base / WORKFLOWS_DIR
        files = (
            sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())
            if folder.is_dir()
            else []
        )
        return [(_shown(p, cwd), p) for p in files], [], base
    found: list[tuple[str, Path]] = []
    missing: list[str] = []
    for given in paths:
        p = Path(given)
        full = p if p.is_absolute() else cwd / p
        if full.is_dir():
            for child in sorted(full.iterdir()):
                if child.suffix in _SUFFIXES and child.is_file():
                    found.append((str(p / child.name), child))
        elif full.is_file():
            found.append((given, full))
        else:
            missing.append(given)
    return found, missing, _repo_root(cwd) or cwd


def _local_resolver(base: Path) -> Callable[[str], str | None]:
    """Called workflows in this repository (``uses: ./.github/workflows/x.yml``)."""

    def resolve(ref: str) -> str | None:
        if not ref.startswith("./"):
            return None
        target = (base / ref).resolve()
        try:
            target.relative_to(base.resolve())
            return target.read_text(encoding="utf-8")
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    return resolve


def validate_paths(paths: list[str], cwd: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """``(results, missing)``: one result per workflow file: file, valid, problems."""
    from pheme.core.workflow import LoadOptions, validate_workflow

    files, missing, base = collect_files(paths, cwd)
    options = LoadOptions(resolve_workflow=_local_resolver(base))
    results: list[dict[str, Any]] = []
    for shown, path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems = [
                {"file": shown, "line": 1, "col": 1, "message": f"cannot read file: not UTF-8 ({exc.reason})"}
            ]
        except OSError as exc:
            problems = [
                {"file": shown, "line": 1, "col": 1, "message": f"cannot read file: {exc.strerror or exc}"}
            ]
        else:
            _wf, found = validate_workflow(text, shown, options=options)
            problems = [{"file": p.file, "line": p.line, "col": p.col, "message": p.message} for p in found]
        results.append({"file": shown, "valid": not problems, "problems": problems})
    return results, missing


def register(app: typer.Typer) -> None:
    """Add ``pheme validate``."""

    @app.command("validate")
    def validate(
        paths: list[str] = typer.Argument(
            None,
            metavar="[PATH]...",
            help="Workflow files or directories (default: the repo's .github/workflows).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    ) -> None:
        """Check workflow files the way GitHub does; print every problem as file:line:col: message."""
        cwd = Path.cwd()
        results, missing = validate_paths(list(paths or []), cwd)
        for given in missing:
            results.append(
                {
                    "file": given,
                    "valid": False,
                    "problems": [
                        {"file": given, "line": 1, "col": 1, "message": "no such file or directory"}
                    ],
                }
            )
        if not results:
            where = cwd if paths else (_repo_root(cwd) or cwd) / WORKFLOWS_DIR
            sys.stderr.write(f"pheme: no workflow files (*.yml, *.yaml) found in {where}\n")
            raise typer.Exit(1)
        total = sum(len(r["problems"]) for r in results)
        if as_json:
            out = []
            for r in results:
                problems = []
                for p in r["problems"]:
                    entry = {"line": p["line"], "col": p["col"], "message": p["message"]}
                    if p["file"] != r["file"]:
                        entry["file"] = p["file"]
                    problems.append(entry)
                out.append({"file": r["file"], "valid": r["valid"], "problems": problems})
            sys.stdout.write(json.dumps({"workflows": out}, indent=2) + "\n")
        else:
            lines = [
                f"{p['file']}:{p['line']}:{p['col']}: {p['message']}" for r in results for p in r["problems"]
            ]
            if lines:
                sys.stdout.write("\n".join(lines) + "\n")
        n = len(results)
        sys.stderr.write(f"{n} workflow{'s' if n != 1 else ''}, {total} problem{'s' if total != 1 else ''}\n")
        raise typer.Exit(1 if total else 0)
