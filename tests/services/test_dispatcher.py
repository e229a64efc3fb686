"""The dispatcher's idle wait, which every server test relies on to know its runs are over."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pheme.services.dispatcher import Dispatcher, _Active


class _ClaimDuringQuery:
    """A queue whose depth query lets the executor claim the one queued run meanwhile:
    the query then counts 0 queued, yet the run is now executing."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.queued = 1

    def queue_depth(self) -> int:
        if self.queued:
            self.queued = 0
            entry: Any = SimpleNamespace(run_id=7)
            self.dispatcher._active[7] = _Active(entry)  # claimed while the query ran
        return self.queued


def test_wait_idle_is_not_fooled_by_a_run_claimed_while_the_queue_is_counted() -> None:
    server: Any = SimpleNamespace(settings=SimpleNamespace(job_capacity=2))
    dispatcher = Dispatcher(server)
    server.sstore = _ClaimDuringQuery(dispatcher)
    assert dispatcher.wait_idle(0.3) is False  # run 7 is executing: not idle
    dispatcher._active.clear()  # run 7 ended
    assert dispatcher.wait_idle(5) is True


def test_wait_idle_waits_for_queued_runs() -> None:
    server: Any = SimpleNamespace(settings=SimpleNamespace(job_capacity=2), sstore=SimpleNamespace(queue_depth=lambda: 1))
    assert Dispatcher(server).wait_idle(0.2) is False
