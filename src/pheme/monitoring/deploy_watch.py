"""Tell people when a deployment ends — above all when analysis rolled it back.

Deployments run in the deploy agent, which knows nothing of the server's
notification webhooks; both write the same store. The server therefore
watches the deployments table: every deployment that reaches a final status
after the watcher started becomes one event, with the verdicts and reasons
of its analyses, so the message says *why* a canary was rolled back:

    deployment_succeeded | deployment_failed | deployment_aborted | deployment_rolled_back

A failed deploy whose analysis failed (traffic went back to stable) is
``deployment_rolled_back``; a ``rollback`` record (``pheme rollback``, an
alert) is too. Polling is cheap (one indexed query for the newest rows) and
needs nothing from the agent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pheme.core.runs import utc_now

__all__ = ["DeploymentWatcher", "deployment_event"]

log = logging.getLogger("pheme.monitoring.deployments")


def deployment_event(record: Any, analyses: list[Any]) -> str:
    """The notification event for a finished deployment record."""
    if record.kind == "rollback":
        return "deployment_rolled_back"
    if record.status == "succeeded":
        return "deployment_succeeded"
    if record.status == "aborted":
        return "deployment_aborted"
    if any(a.verdict.value == "fail" for a in analyses):
        return "deployment_rolled_back"
    return "deployment_failed"


class DeploymentWatcher:
    def __init__(
        self,
        store: Any,
        notify: Callable[[str, dict[str, Any]], None],
        *,
        interval: float = 2.0,
        since: datetime | None = None,
    ) -> None:
        self.store = store
        self.notify = notify
        self.interval = interval
        self.since = since or utc_now()
        self._seen: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        """One look at the newest deployments; sends and returns the events for newly finished ones."""
        from pheme.core.monitoring.records import run_to_json
        from pheme.storage._analysis import AnalysisRepo
        from pheme.storage._deployments import DeploymentRepo

        sent: list[tuple[str, dict[str, Any]]] = []
        for record in reversed(DeploymentRepo(self.store).list(limit=100)):
            if record.id in self._seen or not record.done:
                continue
            self._seen.add(record.id)
            if record.finished_at is None or record.finished_at < self.since:
                continue
            analyses = AnalysisRepo(self.store).list_runs(
                deployment=str(record.id), limit=50, with_measurements=False
            )
            event = deployment_event(record, analyses)
            data = {
                "deployment": {k: v for k, v in record.to_json().items() if k != "steps"},
                "analyses": [
                    {k: v for k, v in run_to_json(a).items() if k != "measurements"}
                    for a in reversed(analyses)
                ],
            }
            try:
                self.notify(event, data)
            except Exception:  # a notification never stops the watcher
                log.exception("deployment notification failed")
            sent.append((event, data))
        return sent

    def start(self) -> DeploymentWatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pheme-deploy-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # the database may be briefly unavailable; try again next time
                log.warning("could not read deployments for notifications", exc_info=True)
