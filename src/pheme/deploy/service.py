"""Deployment use cases for the CLI, the workflow action and the server.

Commands that change something go to the local deploy agent (which runs
rollouts and owns the processes); listings read the store directly, so
``pheme deployments`` and the web UI work without an agent.

    deploy(service, environment, version, ...) -> DeploymentRecord
    rollout_status(service, environment) -> dict
    promote(service, environment) / abort(service, environment)
    rollback(service, environment, to=None) -> DeploymentRecord
    list_deployments(store=None, service=..., environment=..., limit=...) -> [DeploymentRecord]
    get_deployment(deployment_id, store=None) -> DeploymentRecord   (with steps)
    stop_agent(keep_services=False)
"""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pheme.core.deploy.records import DeploymentRecord, record_from_json
from pheme.errors import DeployError, UsageError

__all__ = [
    "DEFAULT_FILE",
    "abort",
    "deploy",
    "get_deployment",
    "list_deployments",
    "promote",
    "read_deploy_file",
    "rollback",
    "rollout_status",
    "stop_agent",
    "who",
]

DEFAULT_FILE = ".pheme/deploy.yml"


def _home() -> Path:
    from pheme.storage import pheme_home

    return pheme_home(create=True)


def _client() -> Any:
    from pheme.deploy.client import ensure_agent

    return ensure_agent(_home())


def who() -> str:
    """Who triggered this: a workflow run (from GITHUB_* variables) or the local user."""
    workflow = os.environ.get("GITHUB_WORKFLOW")
    if workflow and os.environ.get("GITHUB_RUN_NUMBER"):
        job = os.environ.get("GITHUB_JOB", "")
        return f"workflow {workflow} #{os.environ['GITHUB_RUN_NUMBER']}" + (f" job {job}" if job else "")
    try:
        return f"user {getpass.getuser()}"
    except (KeyError, OSError):
        return "user"


def _commit(workdir: Path) -> str:
    sha = os.environ.get("GITHUB_SHA", "")
    if sha:
        return sha
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, timeout=5, check=False
        )
        if out.returncode == 0:
            return out.stdout.strip()
    return ""


def read_deploy_file(workdir: Path, file: str | None = None) -> tuple[str, str]:
    """``(text, shown_path)`` of the deploy file, validated (WorkflowError with file:line:col)."""
    from pheme.core.deploy import parse_deploy

    rel = file or DEFAULT_FILE
    path = Path(rel) if Path(rel).is_absolute() else workdir / rel
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no deploy file: {rel} not found in {workdir}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {rel}: {exc.strerror or exc}") from None
    parse_deploy(text, rel)
    return text, rel


def deploy(
    service: str,
    environment: str,
    version: str,
    *,
    strategy: str | None = None,
    workdir: Path | None = None,
    file: str | None = None,
    commit: str | None = None,
    triggered_by: str | None = None,
    wait: bool = True,
    on_step: Callable[[DeploymentRecord], None] | None = None,
) -> DeploymentRecord:
    """Start a deployment through the agent; with ``wait``, follow it until it ends or pauses indefinitely."""
    from pheme.core.deploy import canonical_strategy, parse_deploy

    workdir = (workdir or Path.cwd()).resolve()
    text, shown = read_deploy_file(workdir, file)
    config = parse_deploy(text, shown)
    config.environment(environment)
    config.service(service)
    if strategy:
        canonical_strategy(strategy)
    if not version.strip():
        raise UsageError("a version is required (--version)")
    client = _client()
    data = client.call(
        "POST",
        "/deploy",
        {
            "config": text,
            "path": shown,
            "workdir": str(workdir),
            "service": service,
            "environment": environment,
            "version": version,
            "strategy": strategy,
            "commit": commit if commit is not None else _commit(workdir),
            "triggered_by": triggered_by or who(),
        },
    )
    record = record_from_json(data)
    if on_step is not None:
        on_step(record)
    if not wait:
        return record
    return follow(client, record, on_step)


def follow(client: Any, record: DeploymentRecord, on_step: Callable[[DeploymentRecord], None] | None) -> DeploymentRecord:
    """Long-poll the agent until the deployment ends, or pauses with no end in sight."""
    while not record.done:
        finished = sum(1 for s in record.steps if s.outcome != "running")
        data = client.call(
            "GET",
            f"/deployments/{record.id}?wait=25&steps={len(record.steps)}&finished={finished}&status={record.status}",
            timeout=40,
        )
        record = record_from_json(data)
        if on_step is not None:
            on_step(record)
        if record.status == "paused" and record.steps and "until promoted" in record.steps[-1].description:
            return record
        if record.status == "paused" and "inconclusive" in record.reason:
            return record
    return record


def rollout_status(service: str, environment: str) -> dict[str, Any]:
    data: dict[str, Any] = _client().call("GET", f"/status?service={service}&environment={environment}")
    return data


def promote(service: str, environment: str) -> dict[str, Any]:
    data: dict[str, Any] = _client().call("POST", "/promote", {"service": service, "environment": environment})
    return data


def abort(service: str, environment: str) -> DeploymentRecord:
    data = _client().call("POST", "/abort", {"service": service, "environment": environment})
    return record_from_json(data)


def rollback(
    service: str, environment: str, *, to: int | None = None, triggered_by: str | None = None
) -> DeploymentRecord:
    """Put the previous (or ``to``) revision back in service; returns when traffic is on it."""
    from pheme.deploy.client import AgentClient

    home = _home()
    client = AgentClient(home)
    if not client.ping():
        from pheme.deploy.client import ensure_agent

        client = ensure_agent(home)
    data = client.call(
        "POST",
        "/rollback",
        {"service": service, "environment": environment, "to": to, "triggered_by": triggered_by or who()},
        timeout=900,
    )
    return record_from_json(data)


def stop_agent(*, keep_services: bool = False, timeout: float = 60.0) -> bool:
    """Stop the agent of this home (and, unless ``keep_services``, what it runs). False if none ran."""
    from pheme.deploy.client import AgentClient
    from pheme.deploy.supervisor import process_alive

    client = AgentClient(_home())
    if not client.ping():
        return False
    pid = int(client.call("GET", "/ping")["pid"])
    client.call("POST", "/shutdown", {"keep": keep_services})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.05)
    if process_alive(pid):
        raise DeployError(f"the deploy agent (pid {pid}) did not stop within {timeout:g}s")
    return True


def list_deployments(
    store: Any = None,
    *,
    service: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[DeploymentRecord]:
    """Recorded deployments, newest first (without steps). ``store`` defaults to the home's store."""
    from pheme.storage._deployments import DeploymentRepo

    if store is None:
        from pheme.storage import open_store

        with open_store() as own:
            return DeploymentRepo(own).list(service=service, environment=environment, status=status, limit=limit)
    return DeploymentRepo(store).list(service=service, environment=environment, status=status, limit=limit)


def get_deployment(deployment_id: int, store: Any = None) -> DeploymentRecord:
    """One deployment with its steps (NotFoundError if there is none)."""
    from pheme.storage._deployments import DeploymentRepo

    if store is None:
        from pheme.storage import open_store

        with open_store() as own:
            return DeploymentRepo(own).get(deployment_id)
    return DeploymentRepo(store).get(deployment_id)
