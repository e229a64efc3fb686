"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against
``pheme server`` (uvicorn) on a free port with a private PHEME_HOME and a real git repository.

A person logs in with a token, finds the run in the list, opens it, sees the job
graph and the build's folded log group, approves the deployment that waits for
review, watches its log arrive live (a group folding as it streams), sees the
run complete, finds the decision in the audit log, and re-runs it: the same
run page shows attempt 2 and links to attempt 1.

The deploy step waits on two gate files the test creates, so "live" is
observable without sleeping: the test opens the gate only once the page shows
what it should, and the job cannot finish (and reload the page) before that.
Skipped, with a message, where /usr/bin/chromium is absent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SECRET = "e2e-webhook-secret"
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]


def workflow(gate1: Path, gate2: Path) -> str:
    wait = "i=0; while [ ! -f {gate} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"
    return f"""name: Ship
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Compile
        run: |
          echo "::group::Compile sources"
          echo "compiling <core> & friends"
          echo "::endgroup::"
          echo "build finished"
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: production
    steps:
      - name: Roll out
        run: |
          echo "deploy waiting for the gate"
          {wait.format(gate=gate1)}
          echo "::group::Rollout"
          echo "rolled out to 3 hosts"
          echo "::endgroup::"
          {wait.format(gate=gate2)}
          echo "deploy done"
"""


def _git(cwd: Path, *args: str) -> str:
    ident = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")
    return subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _pheme(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pheme", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _group(page: Any, title: str) -> Any:
    """The log group titled ``title`` (not the step header that merely prints it)."""
    summary = page.locator("summary").filter(has_text=re.compile(rf"^\s*\d+\s*{re.escape(title)}\s*$"))
    return page.locator("#log details.group").filter(has=summary)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Site:
    def __init__(self, base: str, root: Path, gates: tuple[Path, Path], tokens: dict[str, str]) -> None:
        self.base = base
        self.root = root
        self.gates = gates
        self.tokens = tokens

    def api(self, path: str) -> Any:
        response = httpx.get(self.base + path, headers={"Authorization": f"Bearer {self.tokens['viewer']}"}, timeout=10)
        response.raise_for_status()
        return response.json()

    def until(self, check: Any, what: str, timeout: float = 60.0) -> Any:
        """Poll the server (bounded) until ``check()`` is truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def push(self, sender: str) -> int:
        sha = _git(self.root, "rev-parse", "HEAD")
        body = json.dumps({
            "ref": "refs/heads/main", "before": "0" * 40, "after": sha,
            "repository": {"full_name": "acme/ship", "name": "ship", "owner": {"login": "acme"}},
            "pusher": {"name": sender}, "sender": {"login": sender},
        }).encode()  # fmt: skip
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = httpx.post(self.base + "/webhooks/github", content=body, timeout=30, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": f"e2e-{sha}", "X-Hub-Signature-256": signature,
            "Content-Type": "application/json"})  # fmt: skip
        assert response.status_code in (201, 202), response.text
        [run_id] = response.json()["runs"]
        return int(run_id)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "server.toml").write_text(
        'job_capacity = 2\nscheduler = false\n\n[environments.production]\nreviewer_roles = ["deployer"]\n'
        "prevent_self_review = true\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHEME_")}
    env["PHEME_HOME"] = str(home)
    gates = (tmp_path / "gate1", tmp_path / "gate2")
    root = tmp_path / "ship"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ship.yml").write_text(workflow(*gates))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "ship it")
    _pheme(env, "repo", "add", "acme/ship", str(root), "--webhook-secret", SECRET)
    tokens = {
        role: _pheme(env, "token", "create", "--role", role, "--name", name).strip().splitlines()[-1]
        for role, name in (("viewer", "vera"), ("deployer", "dana"))
    }
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "pheme", "server", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    site = Site(f"http://127.0.0.1:{port}", root, gates, tokens)
    try:

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                return httpx.get(site.base + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        site.until(ready, "the server to start", timeout=30)
        yield site
    finally:
        for gate in gates:  # never leave a job waiting on a gate
            gate.touch()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_log_in_follow_a_run_approve_it_live_and_find_the_decision(site: Site, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    run_id = site.push(sender="bob")
    site.until(lambda: site.api(f"/api/v1/runs/{run_id}")["status"] == "waiting", "the deploy job to wait for review")
    shot = Path(os.environ.get("PHEME_WEB_SCREENSHOT", str(tmp_path / "run-page.png")))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", lambda msg: problems.append(msg.text)
                    if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)  # fmt: skip
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 or (
                r.status == 404 and "/static/" in r.url) else None)  # fmt: skip

            # Log in: the wrong token first, then the right one.
            page.goto(site.base + "/")
            expect(page).to_have_url(site.base + "/login?next=%2F")
            page.fill("#token", "phm_" + "0" * 43)
            page.click("button[type=submit]")
            expect(page.locator(".error")).to_contain_text("not valid")
            page.fill("#token", site.tokens["deployer"])
            page.click("button[type=submit]")
            expect(page).to_have_url(site.base + "/")
            assert not [c for c in context.cookies() if c["name"] == "pheme_token" and not c["httpOnly"]]

            # The run list shows the run waiting.
            row = page.locator(f'tr[data-run-id="{run_id}"]')
            expect(row).to_contain_text("waiting")
            expect(row).to_contain_text("Ship")
            row.get_by_role("link").click()
            expect(page).to_have_url(site.base + f"/runs/{run_id}")

            # The job graph: two nodes and the needs edge between them.
            expect(page.locator('svg.jobgraph g.node[data-job-key="build"]')).to_have_class("node s-success")
            expect(page.locator('svg.jobgraph g.node[data-job-key="deploy"]')).to_have_class("node s-waiting")
            expect(page.locator('svg.jobgraph path[data-edge="build->deploy"]')).to_have_count(1)

            # The build's log: the group is folded, its text shown as text.
            page.locator('svg.jobgraph g.node[data-job-key="build"] a').first.click()
            group = _group(page, "Compile sources")
            expect(group).to_have_count(1)
            line = group.locator(".line .t", has_text="compiling")
            expect(line).to_be_hidden()
            group.locator("summary").click()
            expect(line).to_be_visible()
            expect(line).to_have_text("compiling <core> & friends")
            expect(page.locator("#log")).to_contain_text("build finished")

            # Approve the waiting deployment with a comment.
            page.goto(site.base + f"/runs/{run_id}")
            page.fill("textarea[name=comment]", "ship it <now>")
            page.get_by_role("button", name="Approve and deploy").click()
            expect(page.locator(".approval")).to_contain_text("approved by dana", timeout=TIMEOUT_MS)
            expect(page.locator(".approval")).to_contain_text("ship it <now>")

            # The deploy job's log arrives live: wait for its first line, then load the page once
            # more so that everything after it can only come through the SSE tail.
            log = page.locator("#log")
            expect(log).to_contain_text("deploy waiting for the gate")
            page.reload()
            expect(page.locator("section.job h2")).to_contain_text("deploy")
            expect(page.locator("#log[data-stream]")).to_have_count(1)
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            site.gates[0].touch()
            rollout = _group(page, "Rollout")
            expect(rollout).to_have_count(1)
            expect(rollout.locator("summary")).to_contain_text("Rollout")
            site.until(lambda: "rolled out to 3 hosts" in rollout.text_content(), "the streamed group's line", 30)
            assert navigations == [], f"the page reloaded instead of streaming: {navigations}"
            page.screenshot(path=str(shot), full_page=True)

            # Let the job finish: the page notices and shows the run complete.
            site.gates[1].touch()
            expect(page.locator(".run-head h1 .badge")).to_contain_text("success", timeout=60_000)
            expect(page.locator('svg.jobgraph g.node[data-job-key="deploy"]')).to_have_class("node s-success")
            expect(page.locator("#log")).to_contain_text("deploy done")

            # The audit log has the decision.
            page.click("text=Audit log")
            entry = page.locator('tr[data-action="approval.approve"]')
            expect(entry).to_contain_text("dana")
            expect(entry).to_contain_text("ship it <now>")

            # Re-run it: the same run page, now showing attempt 2; attempt 1 stays as it ended.
            page.goto(site.base + f"/runs/{run_id}")
            page.get_by_role("button", name="Re-run all jobs").click()
            expect(page).to_have_url(site.base + f"/runs/{run_id}")
            expect(page.locator(".run-head h1")).to_contain_text("Attempt 2")
            page.locator("dd.attempts a", has_text="#1").click()
            expect(page).to_have_url(site.base + f"/runs/{run_id}/attempts/1")
            expect(page.locator(".run-head h1 .badge")).to_contain_text("success")
            expect(page.locator(".earlier-attempt")).to_contain_text("attempt 1 of 2")
            expect(page.locator('svg.jobgraph g.node[data-job-key="deploy"]')).to_have_class("node s-success")
            assert problems == [], problems
        finally:
            browser.close()
    assert site.api(f"/api/v1/runs/{run_id}/attempts/1")["conclusion"] == "success"
    assert site.api(f"/api/v1/runs/{run_id}")["run_attempt"] == 2


def test_a_viewer_reads_why_a_canary_was_rolled_back(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the deployments list to the failed measurement: its resolved query and raw values shown as
    text (the ``<script>`` in them runs nowhere), and the verdict's reason."""
    from playwright.sync_api import expect, sync_playwright
    from tests.web.conftest import HOSTILE_QUERY, seed_canary

    from pheme.storage import open_store

    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))  # the server's own store
    with open_store() as store:
        deployment, bad, _ = seed_canary(store)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(site.base + "/deployments")
            page.fill("#token", site.tokens["viewer"])
            page.click("button[type=submit]")
            expect(page).to_have_url(site.base + "/deployments")

            page.locator(f'tr[data-deployment-id="{deployment.id}"] a').click()
            expect(page.locator('tr[data-step="3"]')).to_contain_text("failed")
            expect(page.locator(".deploy-reason")).to_contain_text("error rate 12% > 5%")
            page.locator(f'tr[data-analysis-id="{bad.id}"] a').click()
            expect(page).to_have_url(site.base + f"/analyses/{bad.id}")

            expect(page.locator("section.verdict")).to_contain_text("error-rate failed 1 time (limit 0)")
            failed = page.locator('section[data-metric="error-rate"] tr.measurement-detail').nth(1)
            expect(failed.locator(".query code")).to_have_text(HOSTILE_QUERY)
            expect(failed.locator("details.raw pre")).to_be_visible()
            expect(failed.locator("details.raw pre")).to_contain_text('"version": "<script>"')
            expect(page.locator('section[data-metric="error-rate"] tr.measurement').nth(1)).to_contain_text(
                "error rate 0.12 > 0.05 <b>bold</b>")  # fmt: skip
            assert dialogs == []
            shot = os.environ.get("PHEME_WEB_ANALYSIS_SCREENSHOT", str(tmp_path / "analysis-page.png"))
            page.screenshot(path=shot, full_page=True)
        finally:
            browser.close()
