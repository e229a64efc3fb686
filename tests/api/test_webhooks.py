"""POST /webhooks/github: signatures, de-duplication, limits, and runs stored before the answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pheme.core.runs import Status

WORKFLOW = """name: CI
on:
  push:
    branches: [main]
  pull_request:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built ${{ github.event_name }} ${{ github.ref }}
"""


@pytest.fixture
def pipe(api_factory: Any, tmp_path: Path, h: Any) -> Any:
    api = api_factory(workers=False)  # nothing executes: we look at what is stored
    root = h.make_repo(tmp_path / "r", {".github/workflows/ci.yml": WORKFLOW})
    api.server.add_repo("acme/proj", str(root), webhook_secret=h.WEBHOOK_SECRET)
    return h.Pipeline(api, root)


def _stored_runs(pipe: Any) -> list[Any]:
    return pipe.server.store.list_runs(limit=100)


def test_a_signed_push_is_stored_as_a_queued_run_before_the_answer(pipe: Any) -> None:
    response = pipe.send(pipe.payload(pipe.head))
    assert response.status_code == 201
    [run_id] = response.json()["runs"]
    run = pipe.server.store.get_run(run_id)
    assert (run.status, run.event, run.ref, run.sha, run.file) == (
        Status.QUEUED, "push", "refs/heads/main", pipe.head, ".github/workflows/ci.yml"
    )
    assert pipe.server.sstore.queue_entry(run_id).actor == "bob"


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_a_bad_or_missing_signature_is_401_and_queues_nothing(pipe: Any, signature: str | None) -> None:
    body = json.dumps(pipe.payload(pipe.head)).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "abc-1"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = pipe.api.client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert _stored_runs(pipe) == []
    assert pipe.server.sstore.delivery_runs("abc-1") is None


def test_a_body_signed_with_another_secret_is_refused(pipe: Any) -> None:
    assert pipe.send(pipe.payload(pipe.head), secret="not the secret").status_code == 401
    assert _stored_runs(pipe) == []


def test_a_repeated_delivery_is_acknowledged_without_a_second_run(pipe: Any) -> None:
    first = pipe.send(pipe.payload(pipe.head), delivery="same-id")
    again = pipe.send(pipe.payload(pipe.head), delivery="same-id")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == {"duplicate": True, "runs": first.json()["runs"]}
    assert len(_stored_runs(pipe)) == 1


def test_a_body_over_25_mb_is_413(pipe: Any) -> None:
    body = b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "big", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert pipe.api.client.post("/webhooks/github", content=body, headers=headers).status_code == 413
    assert _stored_runs(pipe) == []


def test_malformed_json_is_400(pipe: Any, h: Any) -> None:
    body = b'{"ref": "refs/heads/main", '
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "bad-json", "X-Hub-Signature-256": h.sign(h.WEBHOOK_SECRET, body)}
    response = pipe.api.client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"X-GitHub-Delivery": "x"}, "X-GitHub-Event"),
        ({"X-GitHub-Event": "push"}, "X-GitHub-Delivery"),
        ({"X-GitHub-Event": "Push Event!", "X-GitHub-Delivery": "x"}, "X-GitHub-Event"),
        ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "has spaces"}, "X-GitHub-Delivery"),
    ],
)
def test_missing_or_malformed_headers_are_400(pipe: Any, headers: dict[str, str], fragment: str) -> None:
    response = pipe.api.client.post("/webhooks/github", content=b"{}", headers=headers)
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_an_unknown_repository_is_404(pipe: Any) -> None:
    payload = pipe.payload(pipe.head)
    payload["repository"]["full_name"] = "someone/else"
    assert pipe.send(payload).status_code == 404


def test_a_push_the_workflow_does_not_run_on_is_accepted_without_runs(pipe: Any) -> None:
    response = pipe.send(pipe.payload(pipe.head, ref="refs/heads/feature"))
    assert response.status_code == 202
    assert response.json()["runs"] == []


def test_a_deleted_branch_runs_nothing(pipe: Any) -> None:
    payload = pipe.payload("0" * 40, before=pipe.head)
    payload["deleted"] = True
    assert pipe.send(payload).json()["runs"] == []


def test_ping_is_acknowledged(pipe: Any) -> None:
    response = pipe.send({"zen": "Keep it logically awesome.", "repository": {"full_name": "acme/proj"}}, event="ping")
    assert response.status_code == 202


def test_a_pull_request_runs_on_its_merge_commit_under_its_merge_ref(pipe: Any, h: Any) -> None:
    h.git(pipe.root, "checkout", "-q", "-b", "feature")
    head = h.commit(pipe.root, {"app.txt": "change"})
    payload = {
        "action": "opened",
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": head, "ref": "feature"}, "base": {"sha": pipe.head, "ref": "main"}},
        "repository": {"full_name": "acme/proj"},
        "sender": {"login": "carol"},
    }
    response = pipe.send(payload, event="pull_request")
    assert response.status_code == 201
    run = pipe.server.store.get_run(response.json()["runs"][0])
    assert (run.event, run.ref) == ("pull_request", "refs/pull/7/merge")
    mirror = pipe.server.mirrors.get(pipe.server.sstore.get_repo("acme/proj").id, str(pipe.root)).path
    parents = h.git(pipe.root, "--git-dir", str(mirror), "rev-parse", f"{run.sha}^1", f"{run.sha}^2").split()
    assert parents == [pipe.head, head]
    assert pipe.server.sstore.queue_entry(run.id).payload == payload  # github.event: as GitHub sent it


def test_an_invalid_workflow_file_does_not_block_the_valid_ones(pipe: Any, h: Any) -> None:
    head = h.commit(pipe.root, {".github/workflows/broken.yml": "on: [push]\njobs:\n  x: {runs-on: y, steps: [{bogus: 1}]}\n"})
    response = pipe.send(pipe.payload(head))
    assert response.status_code == 201
    assert [pipe.server.store.get_run(r).file for r in response.json()["runs"]] == [".github/workflows/ci.yml"]


def test_webhook_outcomes_are_counted_in_metrics(pipe: Any) -> None:
    pipe.send(pipe.payload(pipe.head))
    pipe.send(pipe.payload(pipe.head), secret="wrong")
    text = pipe.api.get("/metrics", role=None).text
    assert 'pheme_webhooks_total{event="push",outcome="accepted"} 1.0' in text
    assert 'pheme_webhooks_total{event="push",outcome="bad_signature"} 1.0' in text
    assert 'http_requests_total{method="POST",route="/webhooks/github",status="201"} 1.0' in text
