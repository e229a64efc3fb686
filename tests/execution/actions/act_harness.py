"""Run one row of act's TestRunEventHostEnvironment table through Pheme's engine.

Mirrors act's harness: every workflow file directly under ``<testdata>/<path>``
that has ``event`` among its triggers is run, with the testdata directory as
the workspace (so ``./local/action`` paths resolve as in act); the row passes
when "some run failed" equals "the row expects an error". The testdata is
copied to a temporary directory first: it is read-only shared data.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from pheme.core.workflow import parse_workflow
from pheme.errors import PhemeError
from pheme.execution.actions.builtins import BuiltinServices
from pheme.execution.actions.resolver import Resolver
from pheme.execution.events import Event, LogLines
from pheme.execution.runner import RunRequest, execute
from pheme.storage.objectstore.memory import MemoryObjectStore


def host_rows(manifest: Path) -> list[dict[str, Any]]:
    data = json.loads(manifest.read_text())
    rows = data["tests"]["TestRunEventHostEnvironment"]
    return [r for r in rows if r["goos"] in ("linux", "all", "non-windows") and not r["commented_out"]]


def run_row(testdata: Path, row: dict[str, Any], tmp: Path) -> tuple[bool, str]:
    """``(failed, log)`` for one row."""
    workspace = tmp / "testdata"
    if not workspace.exists():
        shutil.copytree(testdata, workspace, symlinks=True)
    target = workspace / row["path"]
    files = (
        [target] if target.is_file() else sorted(p for p in target.iterdir() if p.suffix in (".yml", ".yaml"))
    )
    logs: list[str] = []
    failed = False
    for path in files:
        text = path.read_text()
        try:
            workflow = parse_workflow(text, str(path.relative_to(workspace)))
        except PhemeError as exc:
            logs.append(f"invalid workflow: {exc}")
            failed = True
            continue
        if row["event"] not in workflow.on:
            continue
        payload: dict[str, Any] = {}
        event_file = target / "event.json" if target.is_dir() else None
        if event_file is not None and event_file.is_file():
            payload = json.loads(event_file.read_text())
        events: list[Event] = []
        secrets = row["secrets"] if isinstance(row["secrets"], dict) else {}
        request = RunRequest(
            workflow=workflow,
            workspace=workspace,
            event_name=row["event"],
            event_payload=payload,
            ref="refs/heads/main",
            repository="nektos/act",
            actor="nektos/act",
            env={"ACT": "true"},  # act sets ACT=true in every run; its fixtures rely on it
            secrets=secrets,
            action_resolver=Resolver(BuiltinServices(store=MemoryObjectStore()), search=[]),
            temp_dir=tmp / "run",
        )
        try:
            result = asyncio.run(execute(request, events.append))
        except PhemeError as exc:
            logs.append(f"run error: {exc}")
            failed = True
            continue
        logs.extend(line for e in events if isinstance(e, LogLines) for line in e.lines)
        if result.conclusion != "success":
            failed = True
    return failed, "\n".join(logs)
