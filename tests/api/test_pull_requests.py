"""Signed pull_request / pull_request_target webhooks run where GitHub runs them: on the merge
commit of the head into the base (refs/pull/N/merge), or on the base branch's latest commit.

A bare repository is the source; a working clone commits on main and on feature branches
and pushes to it, as developers would; the executor runs the jobs for real."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SHOW = """name: Show
on: [pull_request]
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "env sha=$GITHUB_SHA ref=$GITHUB_REF head=$GITHUB_HEAD_REF base=$GITHUB_BASE_REF name=$GITHUB_REF_NAME"
      - run: echo "ctx sha=${{ github.sha }} ref=${{ github.ref }} head=${{ github.head_ref }} base=${{ github.base_ref }}"
      - run: echo "event head=${{ github.event.pull_request.head.sha }} number=${{ github.event.number }}"
      - run: cat base.txt feature.txt
      - run: echo "WORKFLOW_SAYS"
"""

TARGET = """name: Target
on: [pull_request_target]
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "env sha=$GITHUB_SHA ref=$GITHUB_REF head=$GITHUB_HEAD_REF base=$GITHUB_BASE_REF"
      - run: echo "WORKFLOW_SAYS"
"""

PATHS = """name: Src
on:
  pull_request:
    paths: ["src/**"]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo src changed
"""


class Project:
    """``acme/proj`` served from a bare repository, with a working clone that pushes to it."""

    def __init__(self, pipe: Any, h: Any, source: Path, work: Path) -> None:
        self.pipe = pipe
        self.h = h
        self.source = source
        self.work = work
        self.server = pipe.server

    def commit(self, branch: str, files: dict[str, str], *, start: str | None = None) -> str:
        git = self.h.git
        if start is not None:
            git(self.work, "checkout", "-q", "-B", branch, start)
        else:
            git(self.work, "checkout", "-q", branch)
        sha: str = self.h.commit(self.work, files, f"change on {branch}")
        git(self.work, "push", "-q", "--force", "origin", branch)
        return sha

    def mirror_git(self, *args: str) -> str:
        mirror = self.server.mirrors.get(self.server.sstore.get_repo("acme/proj").id, str(self.source)).path
        out: str = self.h.git(self.work, "--git-dir", str(mirror), *args)
        return out

    def send(self, head: str, base: str, *, event: str = "pull_request", action: str = "opened", number: int = 7,
             head_ref: str = "feature") -> Any:  # fmt: skip
        payload = {
            "action": action,
            "number": number,
            "pull_request": {
                "number": number,
                "title": "A change",
                "head": {"sha": head, "ref": head_ref, "label": f"acme:{head_ref}"},
                "base": {"sha": base, "ref": "main", "label": "acme:main"},
            },
            "repository": {"full_name": "acme/proj", "name": "proj", "owner": {"login": "acme"}},
            "sender": {"login": "carol"},
        }
        return self.pipe.send(payload, event=event)

    def run_of(self, response: Any) -> dict[str, Any]:
        assert response.status_code == 201, response.text
        [run_id] = response.json()["runs"]
        [run] = self.pipe.wait_done(run_id)
        return run

    def log(self, run: dict[str, Any]) -> str:
        [job] = run["jobs"]
        return "\n".join(self.pipe.api.get(f"/api/v1/runs/{run['id']}/jobs/{job['job_id']}/logs").json()["lines"])


@pytest.fixture
def project_factory(api_factory: Any, tmp_path: Path, h: Any) -> Any:
    def make(files: dict[str, str], **settings: Any) -> Project:
        api = api_factory(workers=True, **settings)
        source = tmp_path / "source.git"
        h.git(tmp_path, "init", "-q", "--bare", "-b", "main", str(source))
        work = h.make_repo(tmp_path, files, name="work")
        h.git(work, "remote", "add", "origin", str(source))
        h.git(work, "push", "-q", "origin", "main")
        api.server.add_repo("acme/proj", str(source), webhook_secret=h.WEBHOOK_SECRET, github_token_env="ACME_TOKEN")
        return Project(h.Pipeline(api, work), h, source, work)

    return make


def test_a_pull_request_runs_on_the_merge_commit_of_its_head_into_its_base(project_factory: Any) -> None:
    p = project_factory({".github/workflows/show.yml": SHOW.replace("WORKFLOW_SAYS", "workflow of the fork point")})
    fork = p.h.git(p.work, "rev-parse", "HEAD")
    head = p.commit("feature", {"feature.txt": "from the feature\n"}, start=fork)
    base = p.commit("main", {"base.txt": "from main\n",  # the base moved on: only the merge has both files
                             ".github/workflows/show.yml": SHOW.replace("WORKFLOW_SAYS", "workflow changed on main")})  # fmt: skip
    run = p.run_of(p.send(head, base))
    merge = run["sha"]
    assert merge not in (head, base) and run["ref"] == "refs/pull/7/merge"
    assert p.mirror_git("rev-parse", f"{merge}^1", f"{merge}^2").split() == [base, head]
    assert run["conclusion"] == "success", p.log(run)
    log = p.log(run)
    assert f"env sha={merge} ref=refs/pull/7/merge head=feature base=main name=7/merge" in log
    assert f"ctx sha={merge} ref=refs/pull/7/merge head=feature base=main" in log
    assert f"event head={head} number=7" in log  # github.event is the payload, unchanged
    assert "from main" in log and "from the feature" in log
    assert "workflow changed on main" in log  # the workflow file is the merge commit's
    # A redelivery (another delivery id) of the same head and base: the same merge commit.
    again = p.send(head, base, action="synchronize")
    assert again.status_code == 201
    assert p.server.store.get_run(again.json()["runs"][0]).sha == merge


def test_a_workflow_added_by_the_pull_request_runs_on_it(project_factory: Any) -> None:
    p = project_factory({"README": "hi\n"})
    head = p.commit("feature", {".github/workflows/new.yml": TARGET.replace("pull_request_target", "pull_request")
                                .replace("WORKFLOW_SAYS", "added by the PR")}, start="main")  # fmt: skip
    run = p.run_of(p.send(head, p.h.git(p.work, "rev-parse", "main")))
    assert run["workflow"] == "Target" and "added by the PR" in p.log(run)


def test_a_conflicting_pull_request_runs_nothing_and_the_answer_says_why(
    project_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    p = project_factory({".github/workflows/show.yml": SHOW.replace("WORKFLOW_SAYS", "x"), "app.txt": "one\n"})
    fork = p.h.git(p.work, "rev-parse", "HEAD")
    head = p.commit("feature", {"app.txt": "the feature's line\n"}, start=fork)
    base = p.commit("main", {"app.txt": "main's line\n"})
    with caplog.at_level(logging.INFO, logger="pheme.server.runs"):
        response = p.send(head, base)
    assert response.status_code == 202
    assert response.json() == {"duplicate": False, "runs": [], "skipped": "merge conflict", "conflicts": ["app.txt"]}
    assert p.server.store.list_runs(limit=10) == []
    [line] = [r for r in caplog.records if r.name == "pheme.server.runs"]
    assert line.getMessage() == "pull request not run: merge conflict" and line.pull_request == 7  # type: ignore[attr-defined]


def test_path_filters_see_the_pull_requests_changes_not_the_bases(project_factory: Any) -> None:
    p = project_factory({".github/workflows/src.yml": PATHS, "src/app.py": "v1\n", "docs/a.md": "a\n"})
    fork = p.h.git(p.work, "rev-parse", "HEAD")
    docs_only = p.commit("docs", {"docs/a.md": "better docs\n"}, start=fork)
    base = p.commit("main", {"src/app.py": "v2\n"})  # main changed src/ since: not the PR's change
    skipped = p.send(docs_only, base, head_ref="docs")
    assert skipped.status_code == 202 and skipped.json()["runs"] == []
    code = p.commit("code", {"src/new.py": "x\n"}, start=fork)
    assert p.send(code, base, head_ref="code", number=8).status_code == 201


def test_pull_request_target_runs_the_base_branchs_latest_commit(project_factory: Any) -> None:
    p = project_factory({".github/workflows/target.yml": TARGET.replace("WORKFLOW_SAYS", "the base's workflow")})
    fork = p.h.git(p.work, "rev-parse", "HEAD")
    head = p.commit("feature", {".github/workflows/target.yml": TARGET.replace("WORKFLOW_SAYS", "the PR's workflow")},
                    start=fork)  # fmt: skip
    reported = p.commit("main", {"base.txt": "1\n"})
    latest = p.commit("main", {"base.txt": "2\n"})  # pushed after GitHub built the payload
    run = p.run_of(p.send(head, reported, event="pull_request_target"))
    assert (run["event"], run["ref"], run["sha"]) == ("pull_request_target", "refs/heads/main", latest)
    assert run["conclusion"] == "success"
    log = p.log(run)
    assert f"env sha={latest} ref=refs/heads/main head=feature base=main" in log
    assert "the base's workflow" in log and "the PR's workflow" not in log


class StatusApi:
    """A stand-in for GitHub's statuses API that records the paths posted to."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.paths.append(f"{self.path} {json.loads(body)['state']}")
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"


@pytest.fixture
def status_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatusApi]:
    monkeypatch.setenv("ACME_TOKEN", "ghp_test_token")
    api = StatusApi()
    yield api
    api.http.shutdown()
    api.http.server_close()


def test_commit_statuses_go_to_the_pull_requests_head_commit(project_factory: Any, status_api: StatusApi) -> None:
    p = project_factory({".github/workflows/show.yml": SHOW.replace("WORKFLOW_SAYS", "x")}, github_api_url=status_api.url)
    fork = p.h.git(p.work, "rev-parse", "HEAD")
    head = p.commit("feature", {"feature.txt": "f\n"}, start=fork)
    base = p.commit("main", {"base.txt": "b\n"})
    run = p.run_of(p.send(head, base))
    assert run["conclusion"] == "success" and run["sha"] != head
    assert p.server.feedback.wait_idle(30)
    assert status_api.paths == [f"/repos/acme/proj/statuses/{head} {state}" for state in ("pending", "pending", "success")]
