"""Read-side use cases for the CLI, the API and the web UI: analyses of a deployment, DORA metrics.

Each function takes an open store (and, for DORA, the repository whose git
history gives commit times) and returns plain JSON-able data or core
records, so the CLI prints it, the API returns it and the UI renders it
without knowing where it came from.

    analyses_for(store, deployment=..., service=..., environment=...) -> [AnalysisRun]
    dora_report(store, service=..., environment=..., window=timedelta(days=30)) -> [DoraMetrics]
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pheme.core.monitoring.dora import CommitInfo, DoraMetrics, dora_by_group, facts_from_deployments
from pheme.core.monitoring.records import AnalysisRun, run_to_json
from pheme.core.runs import utc_now

__all__ = ["analyses_for", "commit_info", "dora_report", "dora_to_json", "parse_window"]

DEPLOYMENT_HISTORY_LIMIT = 100_000


def analyses_for(
    store: Any,
    *,
    deployment: int | str | None = None,
    service: str | None = None,
    environment: str | None = None,
    limit: int = 50,
) -> list[AnalysisRun]:
    """Analysis runs (with their measurements), newest first."""
    from pheme.storage._analysis import AnalysisRepo

    return AnalysisRepo(store).list_runs(
        deployment=str(deployment) if deployment is not None else None,
        service=service,
        environment=environment,
        limit=limit,
    )


def analyses_json(runs: Iterable[AnalysisRun]) -> list[dict[str, Any]]:
    return [run_to_json(r) for r in runs]


def commit_info(repo: Path | None, shas: Iterable[str]) -> dict[str, CommitInfo]:
    """Commit time and subject for each SHA the repository at ``repo`` knows (others are left out)."""
    wanted = sorted({s for s in shas if s})
    if repo is None or not wanted:
        return {}
    out: dict[str, CommitInfo] = {}
    for i in range(0, len(wanted), 200):
        chunk = wanted[i : i + 200]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            proc = subprocess.run(
                ["git", "log", "--no-walk=unsorted", "--ignore-missing", "--format=%H%x00%cI%x00%s", *chunk],
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for line in proc.stdout.splitlines():
                parts = line.split("\x00")
                if len(parts) != 3:
                    continue
                sha, when, subject = parts
                with contextlib.suppress(ValueError):
                    out[sha] = CommitInfo(datetime.fromisoformat(when), subject)
    # Deployments may record an abbreviated SHA: match by prefix.
    for sha in wanted:
        if sha not in out:
            match = next((info for full, info in out.items() if full.startswith(sha)), None)
            if match is not None:
                out[sha] = match
    return out


def parse_window(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m`` → a timedelta (UsageError otherwise)."""
    from pheme.errors import UsageError

    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    value = text.strip().lower()
    try:
        number, unit = float(value[:-1]), value[-1]
        seconds = number * units[unit]
    except (ValueError, KeyError, IndexError):
        raise UsageError(f"invalid window '{text}' (use e.g. 30d, 12h, 2w)") from None
    if seconds <= 0:
        raise UsageError(f"invalid window '{text}': it must be longer than zero")
    return timedelta(seconds=seconds)


def dora_report(
    store: Any,
    *,
    service: str | None = None,
    environment: str | None = None,
    window: timedelta = timedelta(days=30),
    end: datetime | None = None,
    repo: Path | None = None,
) -> list[DoraMetrics]:
    """DORA metrics per service and environment from the store's deployment records.

    ``repo`` is a git checkout used to find commit times and subjects (lead
    time, fixes); without it, lead time is unknown and fixes are not detected.
    """
    from pheme.storage._deployments import DeploymentRepo

    records = DeploymentRepo(store).list(
        service=service, environment=environment, limit=DEPLOYMENT_HISTORY_LIMIT
    )
    commits = commit_info(repo, (r.commit for r in records))
    facts = facts_from_deployments(records, commits)
    return dora_by_group(facts, end=end or utc_now(), window=window, service=service, environment=environment)


def dora_to_json(metrics: Iterable[DoraMetrics], window: timedelta) -> dict[str, Any]:
    return {"window_days": window.total_seconds() / 86400, "groups": [m.to_json() for m in metrics]}
