"""`pheme analysis`, `pheme dora` and `pheme monitoring config` on a real store and a real git history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from pheme.cli import main
from pheme.core.monitoring.verdict import Measurement, Phase, Verdict
from pheme.storage import open_store
from pheme.storage._analysis import AnalysisRepo
from pheme.storage._deployments import DeploymentRepo, deployments


def pheme(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def t(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


def test_analysis_show_prints_query_values_verdict_and_reason(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store() as store:
        repo = AnalysisRepo(store)
        run = repo.start_run(
            service="api", environment="production", version="2.0.0", track="canary", template="success-rate",
            deployment="5", revision=2, baseline_version="1.0.0",
        )  # fmt: skip
        repo.add_measurement(
            run.id,
            Measurement(
                metric="success-rate",
                phase=Phase.FAILED,
                reason="successCondition 'result >= 0.95' does not hold (result = 0.52, baseline = 1)",
                query='1 - increase(http_requests_total{status=~"5.."}) / increase(http_requests_total)',
                value=0.52,
                samples=170.0,
                baseline=1.0,
                p_value=1e-40,
                raw={"canary": {"requests": 170, "errors": 82}},
                finished_at=t(5, 12),
            ),
        )
        repo.finish_run(
            run.id, Verdict.FAIL, "success-rate: 1 failed measurement(s), more than failureLimit 0"
        )
    code, out, _ = pheme(capsys, "analysis", "show", "5")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        f"✗ analysis #{run.id} 'success-rate': api 2.0.0 (canary vs 1.0.0) in production: fail in "
    )
    assert lines[1] == "  success-rate: 1 failed measurement(s), more than failureLimit 0"
    assert "success-rate: value 0.52, requests 170, baseline 1, p 1e-40" in lines[2]
    assert lines[3].strip().startswith("successCondition 'result >= 0.95' does not hold")
    assert (
        lines[4].strip()
        == 'query: 1 - increase(http_requests_total{status=~"5.."}) / increase(http_requests_total)'
    )
    code, out, _ = pheme(capsys, "analysis", "show", "5", "--json")
    doc = json.loads(out)
    (analysis,) = doc["analyses"]
    assert analysis["verdict"] == "fail"
    assert analysis["measurements"][0]["raw"] == {"canary": {"requests": 170, "errors": 82}}
    code, out, _ = pheme(capsys, "analysis", "list", "--json")
    assert [a["id"] for a in json.loads(out)["analyses"]] == [run.id]
    code, out, err = pheme(capsys, "analysis", "show", "9")
    assert (code, err) == (2, "pheme: deployment #9 has no recorded analysis\n")


def test_analysis_templates_lists_repository_and_builtin_ones(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / ".pheme" / "analysis").mkdir(parents=True)
    (home / ".pheme" / "analysis" / "mine.yml").write_text(
        "name: mine\ninterval: 5s\ncount: 4\nmetrics:\n  - name: errors\n    provider: {scrape: {signal: error-rate}}\n"
        "    successCondition: result < 0.01\n"
    )
    code, out, _ = pheme(capsys, "analysis", "templates", "--json")
    names = {t["name"]: t for t in json.loads(out)["templates"]}
    assert names["mine"]["source"] == ".pheme/analysis/mine.yml"
    assert names["mine"]["metrics"] == [
        {"name": "errors", "provider": "scrape", "interval_s": 5.0, "count": 4}
    ]
    assert {"success-rate", "latency-p99", "http", "prometheus/success-rate"} <= set(names)
    (home / ".pheme" / "analysis" / "bad.yml").write_text("name: bad\nmetrics: 3\n")
    code, _, err = pheme(capsys, "analysis", "templates")
    assert (code, err) == (1, "pheme: .pheme/analysis/bad.yml:2:10: metrics must be a non-empty list\n")


def git(cwd: Path, *args: str, when: str | None = None) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="A",
        GIT_AUTHOR_EMAIL="a@x",
        GIT_COMMITTER_NAME="A",
        GIT_COMMITTER_EMAIL="a@x",
    )
    if when:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_dora_from_deployments_and_git_history(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(home, "init", "-q", "-b", "main")
    shas = []
    for i, (when, subject) in enumerate(
        [("2025-01-02T08:00:00+00:00", "feat: one"), ("2025-01-03T09:00:00+00:00", "feat: two"),
         ("2025-01-03T11:00:00+00:00", "fix: two was broken")]
    ):  # fmt: skip
        (home / f"f{i}").write_text(str(i))
        git(home, "add", "-A")
        git(home, "commit", "-q", "-m", subject, when=when)
        shas.append(git(home, "rev-parse", "HEAD"))
    with open_store() as store:
        repo = DeploymentRepo(store)
        # (commit, status, created, finished)
        plan = [
            (shas[0], "succeeded", t(2, 10), t(2, 10, 10)),  # lead 2 h 10 min = 7,800 s
            (shas[1], "succeeded", t(3, 10), t(3, 10, 5)),  # lead 1 h 5 min = 3,900 s; followed by a fix
            (shas[2], "succeeded", t(3, 12), t(3, 12, 5)),  # lead 1 h 5 min = 3,900 s
            (shas[2], "failed", t(4, 9), t(4, 9, 1)),  # a failed (rolled back) deployment: recovered in 60 s
        ]
        for i, (sha, status, created, finished) in enumerate(plan, start=1):
            rec = repo.create(service="api", environment="production", kind="deploy", revision=i, version=f"1.{i}",
                              strategy="canary", commit=sha)  # fmt: skip
            with store._conn(write=True) as conn:
                conn.execute(
                    update(deployments)
                    .where(deployments.c.id == rec.id)
                    .values(status=status, created_at=created, finished_at=finished)
                )
    code, out, _ = pheme(capsys, "dora", "--window", "3650d", "--json")
    assert code == 0
    (group,) = json.loads(out)["groups"]
    assert group["deployment_frequency"]["count"] == 3
    assert group["deployment_frequency"]["per_day"] == pytest.approx(3 / 3650)
    assert group["lead_time_for_changes"]["median_s"] == 3900
    assert group["lead_time_for_changes"]["mean_s"] == pytest.approx((7800 + 3900 + 3900) / 3)
    # Failed changes: #2 (followed by the fix #3) and #4 (failed): 2 of 4.
    assert group["change_failure_rate"] == {"rate": 0.5, "failed": 2, "finished": 4}
    # Recovery: #2 from 10:00 to the fix's end 12:05 = 7,500 s; #4 60 s.
    assert group["failed_deployment_recovery_time"]["median_s"] == pytest.approx((7500 + 60) / 2)
    code, out, _ = pheme(capsys, "dora", "--window", "3650d", "--service", "api", "--env", "production")
    header, row = out.splitlines()
    assert header.split() == [
        "SERVICE",
        "ENVIRONMENT",
        "DEPLOYS/DAY",
        "LEAD",
        "TIME",
        "CHANGE",
        "FAILURE",
        "RECOVERY",
    ]
    assert row.split()[:2] == ["api", "production"] and "50% (2/4)" in row
    code, _, err = pheme(capsys, "dora", "--window", "soon")
    assert (code, err) == (2, "pheme: invalid window 'soon' (use e.g. 30d, 12h, 2w)\n")


def test_monitoring_config_outputs(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / ".pheme").mkdir()
    (home / ".pheme" / "deploy.yml").write_text(
        "services:\n  api:\n    command: python3 -m app\n  web:\n    command: python3 -m web\n"
        "environments:\n  production:\n    target: local\n"
    )
    code, out, _ = pheme(
        capsys,
        "monitoring",
        "config",
        "--prometheus",
        "--pheme",
        "127.0.0.1:8080",
        "--target",
        "api=127.0.0.1:3000",
    )
    assert code == 0
    cfg = yaml.safe_load(out)
    assert cfg["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    assert [j["job_name"] for j in cfg["scrape_configs"]] == ["pheme", "api", "web"]
    code, out, _ = pheme(
        capsys, "monitoring", "config", "--prometheus", "--rules", "--dashboards", "--out", "mon"
    )
    assert code == 0
    written = sorted(str(p.relative_to(home / "mon")) for p in (home / "mon").rglob("*") if p.is_file())
    assert written == [
        "dashboards/pheme-deployments.json",
        "dashboards/pheme-pipelines.json",
        "dashboards/pheme-services.json",
        "pheme-rules.yml",
        "prometheus.yml",
        "targets/api.json",
        "targets/web.json",
    ]
    cfg = yaml.safe_load((home / "mon" / "prometheus.yml").read_text())
    assert cfg["rule_files"] == ["pheme-rules.yml"]
    assert cfg["scrape_configs"][0]["file_sd_configs"] == [
        {"files": [str(home / "mon" / "targets" / "api.json")]}
    ]
    promtool = shutil.which("promtool")
    if promtool:
        proc = subprocess.run(
            [promtool, "check", "config", str(home / "mon" / "prometheus.yml")],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    code, _, err = pheme(capsys, "monitoring", "config")
    assert (code, err) == (2, "pheme: choose what to generate: --prometheus, --rules and/or --dashboards\n")
    code, _, err = pheme(capsys, "monitoring", "config", "--rules", "--dashboards")
    assert (code, err) == (2, "pheme: several kinds of output need --out DIR\n")
