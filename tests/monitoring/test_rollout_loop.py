"""The whole loop through the real deploy agent: a bad version is judged by analysis and sent back.

The local target with its builtin router runs examples/pheme-api; versions are
shell wrappers that set ERROR_RATE, so the same app is healthy or broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pheme.errors import DeployError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pheme-api"

DEPLOY = """\
services:
  api:
    artifact: dist/run-{version}.sh
    command: sh {artifact}
    env: {PORT: "{port}", APP_VERSION: "{version}"}
    health: {path: /health, periodSeconds: 0.2}
    replicas: 1
environments:
  production:
    target: {kind: local, router: builtin}
    strategy:
      canary:
        steps:
          - setWeight: 30
          - analysis: {templates: [quick], timeoutSeconds: 60}
        scaleDownDelaySeconds: 0
      blueGreen:
        postPromotionAnalysis: {templates: [quick], timeoutSeconds: 60}
        scaleDownDelaySeconds: 30
    progressDeadlineSeconds: 30
"""

TEMPLATE = """\
name: quick
interval: 1s
count: 2
metrics:
  - name: success-rate
    provider: {scrape: {signal: success-rate}}
    successCondition: result >= 0.95
    minSamples: 10
    compare: {baseline: stable, alpha: 0.005}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from pheme.deploy import service as svc

    root = tmp_path_factory.mktemp("loop")
    mp = pytest.MonkeyPatch()
    mp.setenv("PHEME_HOME", str(root / "home"))
    mp.delenv("PHEME_DATABASE_URL", raising=False)
    for name in ("GITHUB_WORKFLOW", "GITHUB_RUN_NUMBER", "GITHUB_SHA", "PHEME_ANALYSIS_RUNNER"):
        mp.delenv(name, raising=False)
    project = root / "project"
    (project / ".pheme" / "analysis").mkdir(parents=True)
    (project / ".pheme" / "deploy.yml").write_text(DEPLOY)
    (project / ".pheme" / "analysis" / "quick.yml").write_text(TEMPLATE)
    dist = project / "dist"
    dist.mkdir()
    app = dist / "pheme-api.pyz"
    subprocess.run(
        [sys.executable, "-m", "zipapp", str(EXAMPLE / "src"), "-m", "pheme_api.server:main", "-o", str(app)],
        check=True,
    )
    for version, rate in {"1.0.0": 0.0, "1.1.0": 0.0, "6.6.6": 0.6}.items():
        (dist / f"run-{version}.sh").write_text(f'ERROR_RATE={rate} exec "{sys.executable}" "{app}"\n')
    try:
        assert (
            svc.deploy("api", "production", "1.0.0", strategy="recreate", workdir=project).status
            == "succeeded"
        )
        yield project
    finally:
        with contextlib.suppress(DeployError):
            svc.stop_agent(keep_services=False)
        mp.undo()


def _url() -> str:
    from pheme.deploy import service as svc

    (entry,) = svc.rollout_status("api", "production")["services"]
    return str(entry["state"]["url"])


def _deploy_under_load(project: Path, version: str, strategy: str) -> Any:
    from pheme.deploy import service as svc
    from pheme.deploy.loadgen import Load

    host, port = _url().removeprefix("http://").split("/")[0].split(":")

    async def go() -> Any:
        load = Load(host, int(port), path="/", rps=120, connections=4)
        load.start()
        try:
            return await asyncio.to_thread(
                svc.deploy, "api", "production", version, strategy=strategy, workdir=project
            )
        finally:
            await load.stop()

    return asyncio.run(go())


def _serving_version() -> str:
    import httpx

    return str(httpx.get(_url() + "/version", timeout=5).json()["version"])


def test_a_bad_canary_is_rolled_back_by_analysis_and_the_record_says_why(project: Path) -> None:
    from pheme.deploy import service as svc
    from pheme.monitoring.reports import analyses_for
    from pheme.storage import open_store

    record = _deploy_under_load(project, "6.6.6", "canary")
    assert record.status == "failed"
    assert "analysis failed: quick: fail" in record.reason
    assert _serving_version() == "1.0.0"
    full = svc.get_deployment(record.id)
    traffic = [s for s in full.steps if s.action == "SetTraffic"]
    took, back = traffic[0], traffic[-1]
    assert back.description.endswith(" 100%") and f"revision {record.revision} " not in back.description
    assert back.finished_at is not None and took.finished_at is not None
    assert (
        back.finished_at - took.finished_at
    ).total_seconds() < 5.0  # 1 s interval: decided at the first measurement
    with open_store() as store:
        (run,) = analyses_for(store, deployment=record.id)
    assert (run.verdict.value, run.version, run.track, run.baseline_version) == (
        "fail",
        "6.6.6",
        "canary",
        "1.0.0",
    )
    (m,) = run.measurements
    assert m.phase.value == "failed" and m.value is not None and m.value < 0.95  # type: ignore[operator]
    assert m.raw["canary"]["requests"] >= 10


def test_a_healthy_canary_is_promoted_after_passing_analysis(project: Path) -> None:
    record = _deploy_under_load(project, "1.1.0", "canary")
    assert record.status == "succeeded", record.reason
    assert _serving_version() == "1.1.0"


def test_blue_green_post_promotion_analysis_switches_back(project: Path) -> None:
    record = _deploy_under_load(project, "6.6.6", "blueGreen")
    assert record.status == "failed"
    assert "analysis failed" in record.reason
    assert _serving_version() == "1.1.0"
