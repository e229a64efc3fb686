"""Finished deployments become notifications that say why (the analyses' verdicts and reasons)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from pheme.core.monitoring.verdict import Verdict
from pheme.core.runs import utc_now
from pheme.monitoring.deploy_watch import DeploymentWatcher
from pheme.storage import open_store
from pheme.storage._analysis import AnalysisRepo
from pheme.storage._deployments import DeploymentRepo, deployments


def _finish(store: Any, rec_id: int, status: str) -> None:
    with store._conn(write=True) as conn:
        conn.execute(
            update(deployments).where(deployments.c.id == rec_id).values(status=status, finished_at=utc_now())
        )


def test_each_finished_deployment_is_announced_once_with_its_analyses(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as store:
        repo = DeploymentRepo(store)
        old = repo.create(
            service="api",
            environment="production",
            kind="deploy",
            revision=1,
            version="1.0",
            strategy="canary",
        )
        _finish(store, old.id, "succeeded")
        sent: list[tuple[str, dict[str, Any]]] = []
        watcher = DeploymentWatcher(
            store, lambda e, d: sent.append((e, d)), since=utc_now() + timedelta(milliseconds=1)
        )
        assert watcher.poll() == []  # history before the watcher started is not announced
        bad = repo.create(
            service="api",
            environment="production",
            kind="deploy",
            revision=2,
            version="2.0",
            strategy="canary",
        )
        analyses = AnalysisRepo(store)
        run = analyses.start_run(service="api", environment="production", version="2.0", track="canary",
                                 template="success-rate", deployment=str(bad.id))  # fmt: skip
        analyses.finish_run(run.id, Verdict.FAIL, "success-rate: 1 failed measurement(s)")
        assert watcher.poll() == []  # still running
        _finish(store, bad.id, "failed")
        aborted = repo.create(
            service="api",
            environment="production",
            kind="deploy",
            revision=3,
            version="3.0",
            strategy="canary",
        )
        _finish(store, aborted.id, "aborted")
        back = repo.create(
            service="api",
            environment="production",
            kind="rollback",
            revision=1,
            version="1.0",
            strategy="rollback",
        )
        _finish(store, back.id, "succeeded")
        events = watcher.poll()
        assert [e for e, _ in events] == [
            "deployment_rolled_back",
            "deployment_aborted",
            "deployment_rolled_back",
        ]
        first = events[0][1]
        assert first["deployment"]["id"] == bad.id and first["deployment"]["version"] == "2.0"
        assert first["analyses"][0]["verdict"] == "fail"
        assert first["analyses"][0]["reason"] == "success-rate: 1 failed measurement(s)"
        assert sent == events
        assert watcher.poll() == []  # once only


def test_notify_signs_and_queues_on_the_servers_delivery_queue() -> None:
    import hashlib
    import hmac
    from types import SimpleNamespace

    from pydantic import SecretStr

    from pheme.api.routes.monitoring import notify

    pushed: list[tuple[str, str, bytes, dict[str, str]]] = []
    server = SimpleNamespace(
        settings=SimpleNamespace(
            notifications=[
                SimpleNamespace(
                    url="https://chat/hook",
                    secret=SecretStr("k"),
                    secret_env=None,
                    events=["deployment_rolled_back"],
                ),
                SimpleNamespace(
                    url="https://other", secret=SecretStr("k"), secret_env=None, events=["run_failed"]
                ),
            ]
        ),
        feedback=SimpleNamespace(_push=lambda *a: pushed.append(a)),
    )
    notify(server, "deployment_rolled_back", {"deployment": {"id": 3}})
    ((kind, url, body, headers),) = pushed
    assert (kind, url) == ("notification", "https://chat/hook")
    assert body == b'{"event":"deployment_rolled_back","deployment":{"id":3}}'
    assert headers["X-Pheme-Signature-256"] == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert headers["X-Pheme-Event"] == "deployment_rolled_back"
