"""``pheme deploy``, ``pheme rollout``, ``pheme rollback``, ``pheme deployments``, ``pheme agent``.

Thin: parse flags, call :mod:`pheme.deploy.service`, print. The work happens
in the local deploy agent, which these commands start when it is not running.

``pheme rollback`` has a fast path (:func:`fast_rollback`, called by
``pheme.cli.main`` before Typer is imported): a rollback promises all traffic
on the previous revision within a second *including the command's start*, and
importing Typer and every command module costs a third of that on its own.
This module therefore imports Typer only inside :func:`register`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from pheme.core.deploy.records import DeploymentRecord

__all__ = ["fast_rollback", "register"]

_MARK = {"succeeded": "✓", "failed": "✗", "cancelled": "⊘", "running": "…"}


class _StepPrinter:
    """Prints each step once when it starts and once when it ends."""

    def __init__(self) -> None:
        self.started: set[int] = set()
        self.finished: set[int] = set()
        self.header = False

    def __call__(self, record: DeploymentRecord) -> None:
        out = sys.stdout
        if not self.header:
            self.header = True
            out.write(
                f"deployment #{record.id}: {record.service} {record.version} to {record.environment} "
                f"as revision {record.revision} ({record.strategy})\n"
            )
        for step in record.steps:
            if step.number not in self.started:
                self.started.add(step.number)
                if step.outcome == "running" and step.action in ("Pause", "WaitReady", "RunAnalysis"):
                    out.write(f"  … {step.description}\n")
            if step.outcome != "running" and step.number not in self.finished:
                self.finished.add(step.number)
                detail = f": {step.detail}" if step.detail and step.outcome != "succeeded" else ""
                out.write(f"  {_MARK.get(step.outcome, '?')} {step.description}{detail}\n")
        out.flush()


def _when(record: DeploymentRecord) -> str:
    return record.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if record.created_at else ""


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _finish(record: DeploymentRecord, *, url: str | None = None) -> None:
    """Print the outcome; exit 1 unless it succeeded (or is paused, waiting for promotion)."""
    if record.status == "succeeded":
        sys.stdout.write(f"✓ {record.service} {record.version} (revision {record.revision}) serves {record.environment}")
        sys.stdout.write(f" at {url}\n" if url else "\n")
        return
    if record.status == "paused":
        sys.stdout.write(
            f"⏸ paused: {record.reason or 'waiting'}; continue with 'pheme rollout promote {record.service} "
            f"--env {record.environment}' or stop with 'pheme rollout abort {record.service} --env {record.environment}'\n"
        )
        return
    sys.stderr.write(f"pheme: deployment #{record.id} {record.status}: {record.reason}\n")
    raise SystemExit(1)


def _github_outputs(record: DeploymentRecord, url: str | None) -> None:
    """Inside a workflow step (``pheme/deploy@v1``), leave the step's outputs in ``GITHUB_OUTPUT``."""
    import os

    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"deployment={record.id}\nrevision={record.revision}\nstatus={record.status}\nurl={url or ''}\n")


def _url(service: str, environment: str) -> str | None:
    from pheme.deploy import service as svc

    try:
        status = svc.rollout_status(service, environment)
    except Exception:
        return None
    for item in status.get("services", []):
        url: str | None = item["state"].get("url")
        return url
    return None


def _rollback(service: str, env: str, to: int | None) -> None:
    from pheme.deploy import service as svc

    record = svc.rollback(service, env, to=to)
    printer = _StepPrinter()
    printer.header = True
    printer(record)
    if record.status != "succeeded":
        sys.stderr.write(f"pheme: rollback failed: {record.reason}\n")
        raise SystemExit(1)
    sys.stdout.write(f"✓ {service} in {env} is back on revision {record.revision} ({record.version})\n")


def fast_rollback(args: list[str]) -> None:
    """``pheme rollback SERVICE --env ENV [--to N]`` without Typer; returns if ``args`` need the full parser."""
    service: str | None = None
    env: str | None = None
    to: int | None = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--env", "-e") and rest:
            env = rest.pop(0)
        elif arg.startswith("--env="):
            env = arg.split("=", 1)[1]
        elif arg == "--to" and rest and rest[0].isdigit():
            to = int(rest.pop(0))
        elif arg.startswith("--to=") and arg[5:].isdigit():
            to = int(arg[5:])
        elif not arg.startswith("-") and service is None:
            service = arg
        else:
            return  # --help, a typo, ...: let Typer explain
    if service is None or env is None:
        return
    from pheme.errors import PhemeError

    try:
        _rollback(service, env, to)
    except PhemeError as exc:
        sys.stderr.write(f"pheme: {exc}\n")
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(0)


def register(app: typer.Typer) -> None:
    """Add the deployment commands to ``app``."""
    import typer

    @app.command("deploy")
    def deploy(
        service: str = typer.Argument(..., help="Service name from .pheme/deploy.yml."),
        env: str = typer.Option(..., "--env", "-e", help="Environment from .pheme/deploy.yml."),
        version: str = typer.Option(..., "--version", "-v", help="Version to deploy (fills {version})."),
        strategy: str | None = typer.Option(
            None, "--strategy", "-s", help="recreate, rolling, blue-green or canary (default: the environment's)."
        ),
        file: str | None = typer.Option(None, "--file", "-f", help="Deploy file (default .pheme/deploy.yml)."),
        directory: Path | None = typer.Option(None, "--dir", "-C", help="Repository directory (default: here)."),
        commit: str | None = typer.Option(None, "--commit", help="Commit being deployed (default: GITHUB_SHA or git HEAD)."),
        triggered_by: str | None = typer.Option(None, "--triggered-by", help="Who or what triggers it (recorded)."),
        detach: bool = typer.Option(False, "--detach", "-d", help="Return once the deployment has started."),
    ) -> None:
        """Deploy VERSION of SERVICE to an environment with its strategy; follow it to the end."""
        from pheme.deploy import service as svc

        printer = _StepPrinter()
        record = svc.deploy(
            service, env, version, strategy=strategy, workdir=directory, file=file, commit=commit,
            triggered_by=triggered_by, wait=not detach, on_step=printer,
        )
        url = _url(service, env)
        _github_outputs(record, url)
        if detach and not record.done:
            sys.stdout.write(f"deployment #{record.id} started; follow it with 'pheme rollout status {service} --env {env}'\n")
            return
        _finish(record, url=url if record.status == "succeeded" else None)

    rollout_app = typer.Typer(
        name="rollout", help="Watch or steer a rollout in progress.", no_args_is_help=True,
        add_completion=False, rich_markup_mode=None,
    )

    @rollout_app.command("status")
    def status(
        service: str = typer.Argument(...),
        env: str = typer.Option(..., "--env", "-e"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Revisions, traffic weights, the rollout in progress and the serving version's last log lines."""
        from pheme.deploy import service as svc

        data = svc.rollout_status(service, env)
        if as_json:
            sys.stdout.write(json.dumps(data) + "\n")
            return
        for item in data["services"]:
            _print_status(item)

    @rollout_app.command("promote")
    def promote(service: str = typer.Argument(...), env: str = typer.Option(..., "--env", "-e")) -> None:
        """End the current pause of a rollout (the next step runs)."""
        from pheme.deploy import service as svc

        data = svc.promote(service, env)
        sys.stdout.write(f"deployment #{data['deployment']} promoted\n")

    @rollout_app.command("abort")
    def abort(service: str = typer.Argument(...), env: str = typer.Option(..., "--env", "-e")) -> None:
        """Stop a rollout: all traffic back to the stable revision at once, the new one removed."""
        from pheme.deploy import service as svc

        record = svc.abort(service, env)
        sys.stdout.write(f"deployment #{record.id} {record.status}: {record.reason}\n")

    app.add_typer(rollout_app)

    @app.command("rollback")
    def rollback_cmd(
        service: str = typer.Argument(...),
        env: str = typer.Option(..., "--env", "-e"),
        to: int | None = typer.Option(None, "--to", help="Revision to restore (default: the previous one)."),
    ) -> None:
        """Put all traffic back on the previous revision (instant while it is still warm)."""
        _rollback(service, env, to)

    @app.command("deployments")
    def deployments(
        env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
        service: str | None = typer.Option(None, "--service", help="Only this service."),
        limit: int = typer.Option(20, "--limit", "-n", min=1),
        deployment_id: int | None = typer.Option(None, "--id", help="Show one deployment with its steps."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Recorded deployments and rollbacks, newest first."""
        from pheme.deploy import service as svc

        if deployment_id is not None:
            record = svc.get_deployment(deployment_id)
            if as_json:
                sys.stdout.write(json.dumps(record.to_json()) + "\n")
                return
            printer = _StepPrinter()
            printer(record)
            sys.stdout.write(f"{record.status}" + (f": {record.reason}" if record.reason else "") + "\n")
            return
        found = svc.list_deployments(service=service, environment=env, limit=limit)
        if as_json:
            sys.stdout.write(json.dumps({"deployments": [r.to_json() for r in found]}) + "\n")
            return
        if not found:
            sys.stdout.write("no deployments recorded yet (pheme deploy records one)\n")
            return
        rows = [
            [str(r.id), r.service, r.environment, r.kind, str(r.revision), r.version, r.strategy, r.status,
             r.commit[:7], r.triggered_by, _when(r)]
            for r in found
        ]
        header = ["ID", "SERVICE", "ENV", "KIND", "REV", "VERSION", "STRATEGY", "STATUS", "COMMIT", "BY", "STARTED"]
        sys.stdout.write(_table(rows, header) + "\n")

    agent_app = typer.Typer(
        name="agent", help="The local deploy agent (runs rollouts, owns local services).", no_args_is_help=True,
        add_completion=False, rich_markup_mode=None,
    )

    @agent_app.command("start")
    def agent_start() -> None:
        """Start the agent of this PHEME_HOME (deploy commands do it on demand)."""
        from pheme.deploy.client import ensure_agent
        from pheme.storage import pheme_home

        client = ensure_agent(pheme_home(create=True))
        info = client.call("GET", "/ping")
        sys.stdout.write(f"deploy agent {info['pid']} serving {client.socket}\n")

    @agent_app.command("stop")
    def agent_stop(
        keep: bool = typer.Option(False, "--keep-services", help="Leave services and routers running for the next agent."),
    ) -> None:
        """Stop the agent and, unless --keep-services, every local service and router it runs."""
        from pheme.deploy import service as svc

        if svc.stop_agent(keep_services=keep):
            sys.stdout.write("deploy agent stopped" + (" (services left running)" if keep else "") + "\n")
        else:
            sys.stdout.write("no deploy agent is running\n")

    @agent_app.command("status")
    def agent_status() -> None:
        """Whether the agent runs, and what it serves."""
        from pheme.deploy.client import AgentClient
        from pheme.storage import pheme_home

        client = AgentClient(pheme_home(create=True))
        if not client.ping():
            sys.stdout.write("no deploy agent is running\n")
            return
        info = client.call("GET", "/ping")
        sys.stdout.write(f"deploy agent {info['pid']} serving {client.socket}\n")
        for item in client.call("GET", "/status")["services"]:
            _print_status(item)

    app.add_typer(agent_app)


def _print_status(item: dict[str, Any]) -> None:
    state = item["state"]
    out = [f"{item['key']}: {state['url'] or '(no router yet)'}  [{state['kind']}/{state['router']}]"]
    stable = item.get("stable")
    if stable:
        out.append(f"  stable: revision {stable['revision']} ({stable['version']})")
    active = item.get("active")
    if active:
        paused = f", paused: {active['paused']}" if active.get("paused") else ""
        out.append(
            f"  rollout: deployment #{active['deployment']} → revision {active['revision']} ({active['version']}, "
            f"{active['strategy']}){paused}"
        )
    weights = state.get("weights") or {}
    for rev in state["revisions"]:
        share = weights.get(str(rev["revision"]), 0)
        removal = " (removal scheduled)" if rev.get("remove_at") else ""
        out.append(
            f"  revision {rev['revision']} {rev['version']:<12} {rev['role']:<8} {share:>3}%  "
            f"{rev['ready']}/{rev['replicas']} ready{removal}"
        )
    for rev, lines in (item.get("logs") or {}).items():
        if lines:
            out.append(f"  last log lines of revision {rev}:")
            out += [f"    {ln}" for ln in lines[-5:]]
    sys.stdout.write("\n".join(out) + "\n")
