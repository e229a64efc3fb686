"""``pheme analysis``, ``pheme dora`` and ``pheme monitoring``: the monitoring loop, seen from a terminal.

    pheme analysis show DEPLOYMENT      every analysis of a deployment: query, values, verdict, reason
    pheme analysis list                 recent analyses (--service, --env, --json)
    pheme analysis templates            the templates a deployment step can name (built-in + .pheme/analysis)
    pheme dora                          DORA metrics per service and environment (--window 30d, --json)
    pheme monitoring config --prometheus|--rules|--dashboards [--out DIR]

Thin: parse flags, call :mod:`pheme.monitoring.reports` or the pure generators, print.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from pheme.core.monitoring.dora import DoraMetrics
    from pheme.core.monitoring.records import AnalysisRun

__all__ = ["register"]

_MARK = {"pass": "✓", "fail": "✗", "inconclusive": "?", "running": "…"}
_PHASE = {"successful": "✓", "failed": "✗", "inconclusive": "?", "error": "!"}


def _store() -> Any:
    from pheme.storage import open_store

    return open_store()


def _local(moment: Any) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _clock(moment: Any) -> str:
    return moment.astimezone().strftime("%H:%M:%S") if moment is not None else ""


def _fmt(value: Any) -> str:
    from pheme.core.monitoring.verdict import format_value

    return format_value(value)


def _print_run(run: AnalysisRun, out: Any) -> None:
    took = ""
    if run.finished_at is not None:
        took = f" in {(run.finished_at - run.started_at).total_seconds():.1f}s"
    baseline = f" vs {run.baseline_version}" if run.baseline_version else ""
    out.write(
        f"{_MARK.get(run.verdict.value, '?')} analysis #{run.id} '{run.template}': {run.service} {run.version} "
        f"({run.track}{baseline}) in {run.environment}: {run.verdict.value}{took}\n"
    )
    if run.reason:
        out.write(f"  {run.reason}\n")
    for m in run.measurements:
        parts = [f"value {_fmt(m.value)}"]
        if m.samples is not None:
            parts.append(f"requests {_fmt(m.samples)}")
        if m.baseline is not None:
            parts.append(f"baseline {_fmt(m.baseline)}")
        if m.p_value is not None:
            parts.append(f"p {m.p_value:.3g}")
        out.write(
            f"  {_PHASE.get(m.phase.value, '?')} {_clock(m.finished_at)} {m.metric}: {', '.join(parts)}\n"
        )
        out.write(f"      {m.reason}\n")
        out.write(f"      query: {m.query}\n")


def _dora_rows(groups: list[DoraMetrics]) -> str:
    from pheme.cli._view import fmt_duration

    header = ["SERVICE", "ENVIRONMENT", "DEPLOYS/DAY", "LEAD TIME", "CHANGE FAILURE", "RECOVERY"]
    rows = []
    for g in groups:
        cfr = (
            f"{g.change_failure_rate:.0%} ({g.failed}/{g.finished})"
            if g.change_failure_rate is not None
            else "-"
        )
        rec = fmt_duration(g.recovery_median_s) if g.recovery_median_s is not None else "-"
        if g.unrecovered:
            rec += f" ({g.unrecovered} unrecovered)"
        rows.append(
            [
                g.service,
                g.environment,
                f"{g.deployments_per_day:.2f} ({g.deployments})",
                fmt_duration(g.lead_time_median_s) if g.lead_time_median_s is not None else "-",
                cfr,
                rec,
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _deploy_services(workdir: Path) -> list[str]:
    """Service names from ``.pheme/deploy.yml`` when there is one (else none)."""
    path = workdir / ".pheme" / "deploy.yml"
    if not path.is_file():
        return []
    from pheme.core.deploy import parse_deploy

    return sorted(parse_deploy(path.read_text(encoding="utf-8"), ".pheme/deploy.yml").services)


def _agent_targets() -> list[Any]:
    """What the local deploy agent runs now, as scrape targets (nothing when no agent is running)."""
    from pheme.core.monitoring.promconfig import ScrapeTarget

    try:
        from pheme.deploy.client import AgentClient
        from pheme.storage import pheme_home

        client = AgentClient(pheme_home())
        if not client.ping():
            return []
        data = client.call("GET", "/status?service=&environment=")
    except Exception:  # no agent, or an older one: the configuration is still useful without it
        return []
    targets = []
    for entry in data.get("services", []):
        state = entry.get("state", {})
        for rev in state.get("revisions", []):
            for endpoint in rev.get("endpoints", []):
                address = str(endpoint).removeprefix("http://").removeprefix("https://").split("/")[0]
                targets.append(
                    ScrapeTarget(
                        state.get("service", ""),
                        address,
                        state.get("environment", ""),
                        rev.get("version", ""),
                        rev.get("role", ""),
                    )
                )
    return targets


def register(app: typer.Typer) -> None:
    """Add ``pheme analysis``, ``pheme dora`` and ``pheme monitoring``."""
    analysis_app = typer.Typer(
        name="analysis",
        help="Canary analyses: what was measured, the values and the verdict.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
    )

    @analysis_app.command("show")
    def show(
        deployment: int = typer.Argument(..., help="Deployment number (see 'pheme deployments')."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Every analysis of a deployment, with each measurement's query, values and reason."""
        from pheme.core.monitoring.records import run_to_json
        from pheme.errors import UsageError
        from pheme.monitoring.reports import analyses_for

        with _store() as store:
            runs = analyses_for(store, deployment=deployment, limit=1000)
        runs.reverse()  # oldest first: the order they ran in
        if as_json:
            sys.stdout.write(
                json.dumps({"deployment": deployment, "analyses": [run_to_json(r) for r in runs]}) + "\n"
            )
            return
        if not runs:
            raise UsageError(f"deployment #{deployment} has no recorded analysis")
        for run in runs:
            _print_run(run, sys.stdout)

    @analysis_app.command("list")
    def list_(
        service: str | None = typer.Option(None, "--service", "-s", help="Only this service."),
        env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
        limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many analyses to list."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Recent analyses, newest first."""
        from pheme.core.monitoring.records import run_to_json
        from pheme.monitoring.reports import analyses_for

        with _store() as store:
            runs = analyses_for(store, service=service, environment=env, limit=limit)
        if as_json:
            sys.stdout.write(json.dumps({"analyses": [run_to_json(r) for r in runs]}) + "\n")
            return
        if not runs:
            sys.stdout.write("no analyses recorded\n")
            return
        for r in runs:
            dep = f"#{r.deployment}" if r.deployment else "-"
            sys.stdout.write(
                f"{r.id:>5}  {_local(r.started_at)}  {dep:>6}  {r.service} {r.version} ({r.track}) "
                f"{r.environment}  {r.template}  {_MARK.get(r.verdict.value, '?')} {r.verdict.value}\n"
            )

    @analysis_app.command("templates")
    def templates(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Analysis templates a deployment step can name: .pheme/analysis/*.yml first, then the built-ins."""
        from pheme.monitoring.library import TemplateLibrary

        library = TemplateLibrary(Path.cwd())
        found = [library.get(name) for name in library.names()]
        if as_json:
            doc = [
                {
                    "name": t.name,
                    "source": t.source,
                    "description": t.description,
                    "metrics": [
                        {
                            "name": m.name,
                            "provider": m.provider.kind,
                            "interval_s": m.interval,
                            "count": m.count,
                        }
                        for m in t.metrics
                    ],
                }
                for t in found
            ]
            sys.stdout.write(json.dumps({"templates": doc}) + "\n")
            return
        for t in found:
            metrics = ", ".join(f"{m.name} ({m.provider.kind}, {m.count}×{m.interval:g}s)" for m in t.metrics)
            sys.stdout.write(f"{t.name:<26} {t.source:<34} {metrics}\n")

    app.add_typer(analysis_app)

    @app.command("dora")
    def dora(
        service: str | None = typer.Option(None, "--service", "-s", help="Only this service."),
        env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
        window: str = typer.Option("30d", "--window", "-w", help="How far back: 30d, 12h, 2w."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """DORA metrics from Pheme's deployment records (commit times from this repository's git)."""
        from pheme.monitoring.reports import dora_report, dora_to_json, parse_window

        span = parse_window(window)
        with _store() as store:
            groups = dora_report(store, service=service, environment=env, window=span, repo=Path.cwd())
        if as_json:
            sys.stdout.write(json.dumps(dora_to_json(groups, span)) + "\n")
            return
        if not groups:
            sys.stdout.write("no deployments recorded\n")
            return
        sys.stdout.write(_dora_rows(groups) + "\n")

    monitoring_app = typer.Typer(
        name="monitoring",
        help="Configuration for the monitoring stack: Prometheus, alerting rules, Grafana dashboards.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
    )

    @monitoring_app.command("config")
    def config(
        prometheus: bool = typer.Option(
            False, "--prometheus", help="prometheus.yml: Pheme and a job per service."
        ),
        rules: bool = typer.Option(False, "--rules", help="Prometheus alerting rules (pheme-rules.yml)."),
        dashboards: bool = typer.Option(False, "--dashboards", help="Grafana dashboards (JSON)."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Write files into this directory instead of printing."
        ),
        pheme_address: str | None = typer.Option(
            None, "--pheme", help="host:port of the Pheme server to scrape (default: none)."
        ),
        scrape_interval: str = typer.Option(
            "15s", "--scrape-interval", help="Prometheus' global scrape interval."
        ),
        service: list[str] = typer.Option(
            [], "--service", help="A service to scrape (repeatable); default: from .pheme/deploy.yml."
        ),
        target: list[str] = typer.Option(
            [], "--target", help="SERVICE=HOST:PORT to scrape statically (repeatable)."
        ),
    ) -> None:
        """Print (or write with --out) Prometheus configuration, alerting rules and Grafana dashboards."""
        from pheme.core.monitoring.dashboards import dashboards as all_dashboards
        from pheme.core.monitoring.promconfig import (
            ScrapeTarget,
            alert_rules,
            dump_yaml,
            file_sd_groups,
            prometheus_config,
        )
        from pheme.core.monitoring.templates import parse_duration
        from pheme.errors import UsageError

        if not (prometheus or rules or dashboards):
            raise UsageError("choose what to generate: --prometheus, --rules and/or --dashboards")
        if out is None and sum((prometheus, rules, dashboards)) > 1:
            raise UsageError("several kinds of output need --out DIR")
        try:
            interval = parse_duration(scrape_interval)
        except ValueError as exc:
            raise UsageError(f"--scrape-interval: {exc}") from None
        files: dict[str, str] = {}
        if prometheus:
            static: list[ScrapeTarget] = []
            for item in target:
                name, sep, address = item.partition("=")
                if not sep or not name or ":" not in address:
                    raise UsageError(f"--target {item!r}: use SERVICE=HOST:PORT")
                static.append(ScrapeTarget(name, address))
            services = sorted(set(service) | set(_deploy_services(Path.cwd())) | {t.service for t in static})
            dynamic = _agent_targets() if out is not None else []
            services = sorted(set(services) | {t.service for t in dynamic})
            cfg = prometheus_config(
                services=services,
                targets=static,
                pheme_address=pheme_address,
                scrape_interval=interval,
                evaluation_interval=interval,
                rule_files=["pheme-rules.yml"] if rules else [],
                file_sd_dir=str((out / "targets").resolve()) if out is not None else None,
            )
            files["prometheus.yml"] = dump_yaml(cfg)
            if out is not None:
                for name in services:
                    groups = file_sd_groups([t for t in dynamic if t.service == name])
                    files[f"targets/{name}.json"] = json.dumps(groups, indent=2) + "\n"
        if rules:
            files["pheme-rules.yml"] = dump_yaml(alert_rules())
        if dashboards:
            for name, doc in all_dashboards().items():
                files[f"dashboards/{name}"] = json.dumps(doc, indent=2) + "\n"
        if out is None:
            if dashboards:
                doc_list = [json.loads(text) for text in files.values()]
                sys.stdout.write(json.dumps({"dashboards": doc_list}, indent=2) + "\n")
            else:
                sys.stdout.write(next(iter(files.values())))
            return
        for rel, text in files.items():
            path = out / rel
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
            sys.stdout.write(f"wrote {path}\n")

    app.add_typer(monitoring_app)
