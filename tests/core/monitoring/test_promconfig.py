"""Generated Prometheus configuration and alerting rules, checked by promtool when it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pheme.core.monitoring.promconfig import (
    ScrapeTarget,
    alert_rules,
    dump_yaml,
    file_sd_groups,
    prometheus_config,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')"
)


def test_seed_shape_global_intervals_and_a_job_per_service() -> None:
    cfg = prometheus_config(
        services=["pheme-api", "pheme-frontend"],
        targets=[
            ScrapeTarget("pheme-api", "127.0.0.1:3000", "production", "1.0", "stable"),
            ScrapeTarget("pheme-api", "127.0.0.1:3001", "production", "1.1", "canary"),
        ],
        pheme_address="127.0.0.1:8080",
    )
    assert cfg["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert list(jobs) == ["pheme", "pheme-api", "pheme-frontend"]
    assert jobs["pheme"]["static_configs"] == [{"targets": ["127.0.0.1:8080"]}]
    assert jobs["pheme-api"]["static_configs"] == [
        {
            "targets": ["127.0.0.1:3001"],
            "labels": {"service": "pheme-api", "env": "production", "version": "1.1", "track": "canary"},
        },
        {
            "targets": ["127.0.0.1:3000"],
            "labels": {"service": "pheme-api", "env": "production", "version": "1.0", "track": "stable"},
        },
    ]


def test_file_sd_groups_share_labels() -> None:
    groups = file_sd_groups([ScrapeTarget("a", "h:1", version="1"), ScrapeTarget("a", "h:2", version="1")])
    assert groups == [{"targets": ["h:1", "h:2"], "labels": {"service": "a", "version": "1"}}]


def test_rollback_label_on_the_error_rate_alert() -> None:
    rules = alert_rules()
    high = rules["groups"][0]["rules"][0]
    assert high["alert"] == "HighErrorRate"
    assert high["labels"]["pheme_rollback"] == "true"
    assert "pheme_rollback" not in alert_rules(rollback_on_errors=False)["groups"][0]["rules"][0]["labels"]


def test_yaml_round_trips() -> None:
    rules = alert_rules()
    assert yaml.safe_load(dump_yaml(rules)) == rules


@needs_promtool
def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(dump_yaml(alert_rules()))
    proc = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 6 rules found" in proc.stdout


@needs_promtool
def test_promtool_accepts_the_config(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(dump_yaml(alert_rules()))
    cfg = prometheus_config(
        services=["pheme-api"],
        targets=[ScrapeTarget("pheme-api", "127.0.0.1:3000", "production", "1.0", "stable")],
        pheme_address="127.0.0.1:8080",
        rule_files=["rules.yml"],
        file_sd_dir=str(tmp_path / "targets"),
        alertmanagers=["127.0.0.1:9093"],
    )
    path = tmp_path / "prometheus.yml"
    path.write_text(dump_yaml(cfg))
    proc = subprocess.run(
        [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
