"""The pages as each role sees them, and the actions behind their buttons."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pheme.storage.server import NewRun


def _approve_forms(html: str) -> list[str]:
    return re.findall(r'action="/approvals/(\d+)"', html)


@pytest.fixture
def waiting(pipeline: Any) -> tuple[Any, int, Any]:
    """A pushed run whose deploy job waits for review (pushed by bob)."""
    [run_id] = pipeline.push()
    approval = pipeline.pending(run_id)
    return pipeline, run_id, approval


def test_the_run_list_shows_runs_with_status_and_filters(waiting: Any) -> None:
    ui, run_id, _ = waiting
    page = ui.as_("viewer").get("/")
    assert page.status_code == 200
    row = re.search(rf'<tr data-run-id="{run_id}">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert "waiting" in row.group(1) and "Release" in row.group(1) and "acme/proj" in row.group(1)
    assert "bob" in row.group(1) and "<code>main</code>" in row.group(1)
    assert f'data-run-id="{run_id}"' in ui.as_("viewer").get("/?status=waiting&branch=main&workflow=release.yml").text
    assert f'data-run-id="{run_id}"' in ui.as_("viewer").get("/?repo=acme/proj").text
    for miss in ("/?status=success", "/?branch=feature", "/?workflow=other.yml", "/?repo=acme/other"):
        assert 'data-run-id="' not in ui.as_("viewer").get(miss).text, miss


def test_the_run_list_pages_by_run_id(ui: Any, tmp_path: Any) -> None:
    from pheme.web.pages import PAGE_SIZE

    repo = ui.server.add_repo("acme/many", str(tmp_path), webhook_secret="s")
    new = [NewRun(repo_id=repo.id, workflow="CI", file=".github/workflows/ci.yml", event="push", ref="refs/heads/main",
                  sha="a" * 40, actor="bob", payload={}) for _ in range(PAGE_SIZE + 3)]  # fmt: skip
    ids = list(ui.server.enqueue(new).run_ids)
    first = ui.as_("viewer").get("/").text
    shown = [int(i) for i in re.findall(r'data-run-id="(\d+)"', first)]
    assert shown == sorted(ids, reverse=True)[:PAGE_SIZE]
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older
    rest = [int(i) for i in re.findall(r'data-run-id="(\d+)"', ui.as_("viewer").get(older.group(1).replace("&amp;", "&")).text)]
    assert rest == sorted(ids, reverse=True)[PAGE_SIZE:]


def test_the_run_page_draws_the_job_graph_with_its_needs_edges(waiting: Any) -> None:
    ui, run_id, _ = waiting
    page = ui.as_("viewer").get(f"/runs/{run_id}").text
    edges = set(re.findall(r'data-edge="([^"]+)"', page))
    assert edges == {"build->test", "build->deploy", "test->deploy"}
    assert re.search(r'<g class="node s-success" data-job-key="build">', page)
    assert re.search(r'<g class="node s-waiting" data-job-key="deploy">', page)


def test_a_log_folds_its_groups_and_shows_text_as_text(waiting: Any) -> None:
    ui, run_id, _ = waiting
    run = ui.server.store.get_run(run_id)
    build = next(j for j in run.jobs if j.key == "build")
    page = ui.as_("viewer").get(f"/runs/{run_id}/jobs/{build.id}").text
    group = re.search(r'<details class="group"><summary><span class="ln">\d+</span>Compile &lt;everything&gt;</summary>(.*?)</details>', page, re.S)
    assert group, page
    assert "cc -o app &lt;main.c&gt;" in group.group(1)
    assert "built &amp; ready" in page and "<main.c>" not in page
    assert "data-stream" not in page  # a finished job is not followed


def test_a_running_jobs_log_is_followed_through_the_api_sse_endpoint(waiting: Any) -> None:
    ui, run_id, _ = waiting
    run = ui.server.store.get_run(run_id)
    deploy = next(j for j in run.jobs if j.key == "deploy")
    page = ui.as_("viewer").get(f"/runs/{run_id}/jobs/{deploy.id}").text
    assert f'data-stream="/api/v1/runs/{run_id}/jobs/{deploy.id}/logs?follow=true&amp;start={deploy.log_lines}"' in page
    assert f'data-state-url="/runs/{run_id}/state"' in page
    state = ui.as_("viewer").get(f"/runs/{run_id}/state").json()["state"]
    assert f'data-state="{state}"' in page


def test_only_deployers_see_and_may_use_the_review_buttons(waiting: Any) -> None:
    ui, run_id, approval = waiting
    for role in ("viewer", "developer"):
        page = ui.as_(role).get(f"/runs/{run_id}").text
        assert _approve_forms(page) == [] and "must approve this job" in page, role
    assert _approve_forms(ui.as_("deployer").get(f"/runs/{run_id}").text) == [str(approval.id)]
    refused = ui.as_("viewer").post(f"/approvals/{approval.id}", {"decision": "approve"})
    assert refused.status_code == 403 and "viewer role may not do this" in refused.text
    assert ui.as_("developer").post(f"/approvals/{approval.id}", {"decision": "approve"}).status_code == 403
    assert ui.server.sstore.get_approval(approval.id).state == "pending"


def test_approving_runs_the_job_and_the_decision_shows_in_the_audit_log(waiting: Any) -> None:
    ui, run_id, approval = waiting
    response = ui.as_("deployer").post(f"/approvals/{approval.id}", {"decision": "approve", "comment": "ship <it>"})
    assert response.status_code == 303 and response.headers["location"] == f"/runs/{run_id}"
    ui.wait_state(run_id, "completed")
    page = ui.as_("viewer").get(f"/runs/{run_id}").text
    assert "approved by deployer-user" in page and "ship &lt;it&gt;" in page
    assert 'data-state-url' not in page  # a completed run is not polled
    audit = ui.as_("viewer").get("/audit?action=approval.approve").text
    row = re.search(r'<tr data-action="approval.approve">(.*?)</tr>', audit, re.S)
    assert row and "deployer-user" in row.group(1) and "ship &lt;it&gt;" in row.group(1)
    assert ui.server.store.get_run(run_id).conclusion.value == "success"


def test_rejecting_fails_the_job(waiting: Any) -> None:
    ui, run_id, approval = waiting
    ui.as_("admin").post(f"/approvals/{approval.id}", {"decision": "reject", "comment": "not today"})
    ui.wait_state(run_id, "completed")
    assert ui.server.store.get_run(run_id).conclusion.value == "failure"
    assert "rejected by admin-user" in ui.as_("viewer").get(f"/runs/{run_id}").text


def test_self_review_is_refused_with_the_services_reason(pipeline: Any) -> None:
    [run_id] = pipeline.push(sender="deployer-user")
    approval = pipeline.pending(run_id)
    response = pipeline.as_("deployer").post(f"/approvals/{approval.id}", {"decision": "approve"})
    assert response.status_code == 403 and "prevents self-review" in response.text
    assert pipeline.server.sstore.get_approval(approval.id).state == "pending"


def test_developers_cancel_and_rerun_viewers_may_not(waiting: Any) -> None:
    ui, run_id, _ = waiting
    assert "Cancel run" not in ui.as_("viewer").get(f"/runs/{run_id}").text
    assert "Cancel run" in ui.as_("developer").get(f"/runs/{run_id}").text
    assert ui.as_("viewer").post(f"/runs/{run_id}/cancel", {}).status_code == 403
    assert ui.as_("developer").post(f"/runs/{run_id}/cancel", {}).status_code == 303
    ui.wait_state(run_id, "completed")
    page = ui.as_("developer").get(f"/runs/{run_id}").text
    assert "Re-run all jobs" in page and "Re-run failed jobs" in page
    assert "Re-run" not in ui.as_("viewer").get(f"/runs/{run_id}").text
    assert ui.as_("viewer").post(f"/runs/{run_id}/rerun", {"failed_only": "true"}).status_code == 403
    again = ui.as_("developer").post(f"/runs/{run_id}/rerun", {"failed_only": "true"})
    assert again.status_code == 303 and again.headers["location"] == f"/runs/{run_id}"  # the same run
    assert ui.server.store.get_run(run_id).attempt == 2
    assert ui.server.sstore.queue_entry(run_id).actor == "developer-user"


def test_a_rerun_shows_as_the_next_attempt_and_earlier_attempts_stay_viewable(waiting: Any) -> None:
    ui, run_id, _ = waiting
    ui.as_("developer").post(f"/runs/{run_id}/cancel", {})
    ui.wait_state(run_id, "completed")
    first = ui.server.store.get_run(run_id)
    ui.as_("developer").post(f"/runs/{run_id}/rerun", {"failed_only": "true"})
    ui.pending(run_id)  # the deploy job of attempt 2 waits for its review again
    latest = ui.server.store.get_run(run_id)
    assert {j.key: (j.reused, j.status.value) for j in latest.jobs} == {
        "build": (True, "completed"), "test": (True, "completed"), "deploy": (False, "waiting")}  # fmt: skip

    page = ui.as_("viewer").get(f"/runs/{run_id}").text
    assert "Attempt 2" in page and f'href="/runs/{run_id}/attempts/1"' in page
    assert 'aria-current="page">#2<' in page

    earlier = ui.as_("viewer").get(f"/runs/{run_id}/attempts/1")
    assert earlier.status_code == 200
    assert "This is attempt 1 of 2" in earlier.text and f'href="/runs/{run_id}">Go to the latest attempt' in earlier.text
    assert re.search(r'<g class="node s-cancelled" data-job-key="deploy">', earlier.text)
    assert "data-state-url" not in earlier.text  # an earlier attempt never changes: not polled
    assert "Re-run" not in ui.as_("developer").get(f"/runs/{run_id}/attempts/1").text

    old_build = next(j for j in first.jobs if j.key == "build")
    old_page = ui.as_("viewer").get(f"/runs/{run_id}/jobs/{old_build.id}").text
    assert "This is attempt 1 of 2" in old_page and "built &amp; ready" in old_page
    carried = next(j for j in latest.jobs if j.key == "build")
    carried_page = ui.as_("viewer").get(f"/runs/{run_id}/jobs/{carried.id}").text
    assert "carried over from an earlier attempt" in carried_page and "built &amp; ready" in carried_page
    assert ui.as_("viewer").get(f"/runs/{run_id}/attempts/3").status_code == 404


def test_a_running_run_cannot_be_rerun_and_the_page_says_why(waiting: Any) -> None:
    ui, run_id, _ = waiting
    response = ui.as_("developer").post(f"/runs/{run_id}/rerun", {})
    assert response.status_code == 409 and "still waiting" in response.text


def test_the_dispatch_form_lists_inputs_and_starts_a_run(pipeline: Any) -> None:
    page = pipeline.as_("developer").get("/dispatch?repo=acme/proj&ref=main").text
    assert "Release" in page and 'name="input.level"' in page and 'name="input.dry"' in page
    assert '<option value="low" selected>' in page
    response = pipeline.as_("developer").post("/dispatch", {"repo": "acme/proj", "ref": "main",
                                                             "workflow": ".github/workflows/release.yml",
                                                             "input.level": "high", "input.dry": "false"})  # fmt: skip
    assert response.status_code == 303
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    run = pipeline.server.store.get_run(run_id)
    assert run.event == "workflow_dispatch" and dict(run.inputs) == {"level": "high", "dry": False}
    assert pipeline.server.sstore.run_context(run_id)[1] == "developer-user"
    assert pipeline.as_("viewer").post("/dispatch", {"repo": "acme/proj", "workflow": "release.yml"}).status_code == 403
    assert "Run workflow" not in pipeline.as_("viewer").get("/").text.split("<main>")[0]
    bad = pipeline.as_("developer").post("/dispatch", {"repo": "acme/proj", "ref": "main", "workflow": "release.yml",
                                                        "input.level": "deafening"})  # fmt: skip
    assert bad.status_code == 409 and "level" in bad.text


def test_environments_show_rules_and_pending_reviews_without_secret_values(waiting: Any) -> None:
    ui, run_id, _ = waiting
    repo = ui.server.sstore.get_repo("acme/proj")
    ui.server.put_secret(ui.server.scope_of(repo, "production"), "DEPLOY_TOKEN", "tok-123456", actor="test")
    page = ui.as_("viewer").get("/environments").text
    assert "production" in page and "deployer, admin" in page and "prevented" in page
    assert "DEPLOY_TOKEN" in page and "tok-123456" not in page
    pending = re.search(r'<ul class="pending">(.*?)</ul>', page, re.S)
    assert pending and f'href="/runs/{run_id}"' in pending.group(1) and "acme/proj" in pending.group(1)


def test_environments_are_listed_per_repository_with_the_server_wide_defaults_apart(ui: Any, tmp_path: Any) -> None:
    from pheme.core.server import EnvironmentRules

    for name, reviewer in (("acme/web", "alice"), ("acme/api", "bob")):
        (tmp_path / name).mkdir(parents=True)
        repo = ui.server.add_repo(name, str(tmp_path / name))
        ui.server.put_environment("production", EnvironmentRules(reviewers=(reviewer,)), None, actor="t", repo=repo)
    ui.server.put_environment("production", EnvironmentRules(wait_timer=7), None, actor="t")
    page = ui.as_("viewer").get("/environments").text
    sections = dict(re.findall(r'<section class="repo-envs" data-repository="([^"]*)">(.*?)</section>', page, re.S))
    assert list(sections) == ["acme/api", "acme/web", ""]
    assert "bob" in sections["acme/api"] and "alice" not in sections["acme/api"]
    assert "alice" in sections["acme/web"] and "bob" not in sections["acme/web"]
    assert "Server-wide defaults" in sections[""] and "7 s" in sections[""]


def test_unknown_runs_and_jobs_are_404_pages(ui: Any) -> None:
    missing = ui.as_("viewer").get("/runs/999")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    assert ui.as_("viewer").post("/approvals/999", {"decision": "approve"}).status_code == 403
    assert ui.as_("deployer").post("/approvals/999", {"decision": "approve"}).status_code == 404


@pytest.mark.parametrize("path", ["/", "/environments", "/audit", "/deployments", "/dora", "/dispatch"])
@pytest.mark.parametrize("role", ["viewer", "developer", "deployer", "admin"])
def test_every_page_renders_for_every_role(ui: Any, role: str, path: str) -> None:
    page = ui.as_(role).get(path)
    assert page.status_code == 200
    assert f"{role}-user" in page.text and page.headers["content-type"].startswith("text/html")


def _deployments(ui: Any) -> Any:
    from pheme.storage._deployments import DeploymentRepo

    repo = DeploymentRepo(ui.server.store)
    good = repo.create(service="api", environment="production", kind="deploy", revision=1, version="v1.0",
                       strategy="blue-green", commit="c" * 40, triggered_by="workflow Ship #1")  # fmt: skip
    repo.set_status(good.id, "succeeded")
    bad = repo.create(service="api", environment="production", kind="deploy", revision=2, version="<v2>",
                      strategy="canary", previous_revision=1)  # fmt: skip
    repo.set_status(bad.id, "failed", "error rate 12% > 5% <script>")
    return good, bad


def test_the_deployments_page_lists_records_newest_first_with_filters(ui: Any) -> None:
    _deployments(ui)
    page = ui.as_("viewer").get("/deployments").text
    assert page.index("&lt;v2&gt;") < page.index("v1.0")
    assert "error rate 12% &gt; 5% &lt;script&gt;" in page and "<script>" not in page.split("</head>")[1]
    assert "blue-green" in page and "(from 1)" in page
    only_ok = ui.as_("viewer").get("/deployments?status=succeeded").text
    assert "v1.0" in only_ok and "&lt;v2&gt;" not in only_ok


def test_the_dora_page_shows_the_four_metrics_per_service(ui: Any) -> None:
    pytest.importorskip("pheme.monitoring.reports", reason="the monitoring service is not installed")
    _deployments(ui)
    page = ui.as_("viewer").get("/dora?days=7").text
    row = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    assert row and "api" in row.group(1) and "production" in row.group(1)
    assert "50%" in row.group(1)  # one of the two finished deployments failed


def test_the_dispatch_form_offers_the_repositorys_environments_and_the_defaults(ui: Any, tmp_path: Any) -> None:
    from tests.web.conftest import make_repo

    from pheme.core.server import EnvironmentRules

    workflow = ("name: Ship\non:\n  workflow_dispatch:\n    inputs:\n      target:\n        type: environment\n"
                "jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo hi\n")  # fmt: skip
    repos = {}
    for name in ("acme/web", "acme/api"):
        root = make_repo(tmp_path / name, {".github/workflows/ship.yml": workflow})
        repos[name] = ui.server.add_repo(name, str(root))
    ui.server.put_environment("web-prod", EnvironmentRules(), None, actor="t", repo=repos["acme/web"])
    ui.server.put_environment("api-prod", EnvironmentRules(), None, actor="t", repo=repos["acme/api"])
    ui.server.put_environment("staging", EnvironmentRules(), None, actor="t")
    page = ui.as_("developer").get("/dispatch?repo=acme/web&ref=main").text
    select = re.search(r'<select[^>]*name="input.target".*?</select>', page, re.S)
    assert select, page
    assert re.findall(r'<option value="([^"]+)"', select.group(0)) == ["staging", "web-prod"]
