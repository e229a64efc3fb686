"""Deployment, analysis and DORA pages, with data made through the real repositories on a temp PHEME_HOME."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.web.conftest import GIT_ID, ROLES, make_repo, seed_canary

from pheme.storage._analysis import AnalysisRepo
from pheme.storage._deployments import DeploymentRepo
from pheme.storage.server import NewRun


def _body(html: str) -> str:
    return html.split("</head>", 1)[1]


def _canary(ui: Any, *, commit: str = "c" * 40, triggered_by: str = "user ada") -> tuple[Any, Any, Any]:
    return seed_canary(ui.server.store, commit=commit, triggered_by=triggered_by)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_a_deployment_with_its_steps_and_analyses(ui: Any, role: str) -> None:
    d, bad, ok = _canary(ui)
    page = ui.as_(role).get(f"/deployments/{d.id}")
    assert page.status_code == 200, page.text
    html = page.text
    steps = dict(re.findall(r'<tr data-step="(\d+)">(.*?)</tr>', html, re.S))
    assert list(steps) == ["1", "2", "3", "4"]
    assert "s-succeeded" in steps["1"] and "StartVersion" in steps["1"] and "pid 4242 ready" in steps["1"]
    assert "s-failed" in steps["3"] and "error rate 12% &gt; 5%" in steps["3"]
    assert "s-cancelled" in steps["4"] and "superseded" in steps["4"]
    assert "analysis success-rate failed: error rate 12% &gt; 5%" in html  # the deployment's reason
    assert "(from 1)" in html and "v2.0" in html and "canary" in html
    rows = dict(re.findall(r'<tr data-analysis-id="(\d+)">(.*?)</tr>', html, re.S))
    assert list(rows) == [str(ok.id), str(bad.id)]  # in the order they ran
    assert f'href="/analyses/{bad.id}"' in rows[str(bad.id)] and "s-fail" in rows[str(bad.id)]
    assert "error-rate failed 1 time" in rows[str(bad.id)]
    assert "s-pass" in rows[str(ok.id)] and "vs v1.0" in rows[str(ok.id)]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_every_measurement_of_an_analysis(ui: Any, role: str) -> None:
    d, bad, _ = _canary(ui)
    page = ui.as_(role).get(f"/analyses/{bad.id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "success-rate" in html and f'href="/deployments/{d.id}"' in html
    verdict = re.search(r'<section class="verdict v-fail">(.*?)</section>', html, re.S)
    assert verdict and "error-rate failed 1 time (limit 0): error rate 0.12 &gt; 0.05" in verdict.group(1)
    metrics = dict(re.findall(r'<section class="metric" data-metric="([^"]+)">(.*?)</section>', html, re.S))
    assert list(metrics) == ["error-rate", "saturation"]
    error_rate = metrics["error-rate"]
    assert "1 failed, 1 inconclusive" in error_rate
    first, second = re.findall(r'<tr class="measurement" data-measurement="\d+">(.*?)<tr class="measurement-detail">(.*?)</tr>',
                               error_rate, re.S)  # fmt: skip
    # The NaN the query returned is shown as such, with the reason it was judged inconclusive.
    assert "s-inconclusive" in first[0] and '<code class="value">NaN</code>' in first[0]
    assert "no data: the result is NaN" in first[0]
    assert "sum(rate(errors[1m])) / sum(rate(requests[1m]))" in first[1] and "&#34;NaN&#34;" in first[1]
    # The failing one: value, samples, baseline, p-value, time, resolved query, raw values, reason.
    assert "s-failed" in second[0] and '<code class="value">0.12</code>' in second[0]
    assert all(x in second[0] for x in ("900", "0.01", "0.0004", "2030-01-02 03:04:35 UTC", "2030-01-02 03:05:05 UTC"))
    assert "error rate 0.12 &gt; 0.05 &lt;b&gt;bold&lt;/b&gt;" in second[0]
    assert "version=&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in second[1]
    assert "&#34;version&#34;: &#34;&lt;script&gt;&#34;" in second[1]  # the raw values, escaped
    assert "<script>" not in _body(html) and "<b>" not in html
    assert "s-error" in metrics["saturation"] and "error: connection refused" in metrics["saturation"]
    assert "No raw values recorded." in metrics["saturation"]


def test_a_running_analysis_without_measurements_says_so(ui: Any) -> None:
    run = AnalysisRepo(ui.server.store).start_run(service="api", environment="staging", version="v3", track="preview",
                                                  template="smoke")  # fmt: skip
    html = ui.as_("viewer").get(f"/analyses/{run.id}").text
    assert "s-running" in html and "still measuring" in html and "No measurement recorded yet." in html


@pytest.mark.parametrize("path", ["/deployments/999", "/analyses/999", "/deployments/99999999999999999999",
                                  "/analyses/4611686018427387904"])  # fmt: skip
def test_unknown_deployments_and_analyses_are_404_pages(ui: Any, path: str) -> None:
    missing = ui.as_("viewer").get(path)
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text


def test_the_pages_need_a_login(ui: Any) -> None:
    d, bad, _ = _canary(ui)
    for path in (f"/deployments/{d.id}", f"/analyses/{bad.id}"):
        response = ui.as_(None).get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=%2F"), path


def test_the_deployments_list_links_each_deployment(ui: Any) -> None:
    d, _, _ = _canary(ui)
    html = ui.as_("viewer").get("/deployments").text
    row = re.search(rf'<tr data-deployment-id="{d.id}">(.*?)</tr>', html, re.S)
    assert row and f'<a href="/deployments/{d.id}">#{d.id}</a>' in row.group(1)


def test_a_deployment_from_a_workflow_job_links_to_its_run_and_back(ui: Any, tmp_path: Path) -> None:
    repo = ui.server.add_repo("acme/ship", str(tmp_path), webhook_secret="s")
    sha = "ab" * 20
    [run_id] = ui.server.enqueue([NewRun(repo_id=repo.id, workflow="Ship", file=".github/workflows/ship.yml",
                                         event="push", ref="refs/heads/main", sha=sha, actor="bob",
                                         payload={})]).run_ids  # fmt: skip
    number = ui.server.store.get_run(run_id).number
    d, _, _ = _canary(ui, commit=sha, triggered_by=f"workflow Ship #{number} job deploy")
    # Same workflow and number, other commit: not this run's.
    other = DeploymentRepo(ui.server.store).create(service="web", environment="staging", kind="deploy", revision=1,
                                                   version="v9", strategy="recreate", commit="ff" * 20,
                                                   triggered_by=f"workflow Ship #{number} job deploy")  # fmt: skip
    page = ui.as_("viewer").get(f"/deployments/{d.id}").text
    assert f'<a href="/runs/{run_id}" class="run-link">workflow Ship #{number} job deploy</a>' in page
    assert 'class="run-link"' not in ui.as_("viewer").get(f"/deployments/{other.id}").text
    run_page = ui.as_("viewer").get(f"/runs/{run_id}").text
    linked = re.findall(r'<li data-deployment-id="(\d+)">(.*?)</li>', run_page, re.S)
    assert [i for i, _ in linked] == [str(d.id)]
    assert f'href="/deployments/{d.id}"' in linked[0][1] and "from job deploy" in linked[0][1]


def _dated_repo(root: Path, age: timedelta) -> str:
    """A git repository whose HEAD was committed ``age`` ago; its SHA."""
    make_repo(root, {"README": "x"})
    when = (datetime.now(UTC) - age).isoformat()
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    (root / "README").write_text("y")
    subprocess.run(["git", *GIT_ID, "commit", "-q", "-am", "feat: faster"], cwd=root, env=env, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def _succeeded(ui: Any, service: str, environment: str, version: str, commit: str = "") -> Any:
    repo = DeploymentRepo(ui.server.store)
    record = repo.create(service=service, environment=environment, kind="deploy",
                         revision=repo.next_revision(service, environment), version=version, strategy="rolling",
                         commit=commit)  # fmt: skip
    repo.set_status(record.id, "succeeded")
    return record


def _dora_row(html: str, group: str) -> dict[str, str]:
    row = re.search(rf'<tr data-group="{re.escape(group)}">(.*?)</tr>', html, re.S)
    assert row, html
    cells = re.findall(r'<td class="([a-z-]+)">(.*?)</td>', row.group(1), re.S)
    return {name: " ".join(text.split()) for name, text in cells}


def test_dora_shows_the_four_metrics_with_units_and_why_lead_time_is_unknown(ui: Any) -> None:
    _canary(ui)  # a failed change of api/production, commit recorded but in no registered repository
    _succeeded(ui, "api", "production", "v2.1", commit="d" * 40)
    _succeeded(ui, "worker", "staging", "w1")  # no commit recorded
    html = ui.as_("viewer").get("/dora?days=7").text
    api = _dora_row(html, "api/production")
    assert api["frequency"].startswith("1 successful deployment") and "0.14 per day" in api["frequency"]
    assert "1.0 per week" in api["frequency"]
    assert api["lead-time"].startswith("unknown") and "no registered repository holds commit dddddddddddd" in api["lead-time"]
    assert api["failure-rate"].startswith("50%") and "1 failed of 2 finished" in api["failure-rate"]
    # The failed canary was recovered when its traffic went back (the deployment's end): seconds.
    assert re.fullmatch(r"\d+s median <br><span class=\"muted\">\d+s mean</span>", api["recovery"])
    worker = _dora_row(html, "worker/staging")
    assert "its deployments record no commit" in worker["lead-time"]
    assert worker["failure-rate"].startswith("0%") and "no failed change in this window" in worker["recovery"]


def test_dora_lead_time_comes_from_the_registered_repository_holding_the_commit(ui: Any, tmp_path: Path) -> None:
    sha = _dated_repo(tmp_path / "svc", timedelta(hours=3))
    repo = ui.server.add_repo("acme/svc", str(tmp_path / "svc"), webhook_secret="s")
    ui.server.mirrors.get(repo.id, repo.source).fetch()
    _succeeded(ui, "svc", "production", "v1", commit=sha)
    html = ui.as_("viewer").get("/dora").text
    lead = _dora_row(html, "svc/production")["lead-time"]
    assert lead.startswith("3h 00m median") and "commit times from acme/svc" in lead


def test_dora_filters_by_service_and_environment(ui: Any) -> None:
    _succeeded(ui, "api", "production", "v1")
    _succeeded(ui, "api", "staging", "v1")
    _succeeded(ui, "web", "production", "v1")
    groups = lambda q: re.findall(r'<tr data-group="([^"]+)">', ui.as_("viewer").get("/dora" + q).text)  # noqa: E731
    assert groups("") == ["api/production", "api/staging", "web/production"]
    assert groups("?service=api") == ["api/production", "api/staging"]
    assert groups("?service=api&environment=staging&days=90") == ["api/staging"]
    assert groups("?service=nobody") == []
    assert "No deployments match these filters" in ui.as_("viewer").get("/dora?service=nobody").text
    assert groups("?service=<script>") == ["api/production", "api/staging", "web/production"]  # ignored, not echoed
