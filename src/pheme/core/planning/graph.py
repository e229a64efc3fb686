"""The job graph: which jobs may start now.

Scheduling is by readiness, never by stages: a job is ready as soon as *its
own* ``needs`` have finished, whatever unrelated jobs are still running
(act plans in stages and so makes jobs wait for strangers, issue #2492).

A job whose need failed, was cancelled or skipped is still reported ready:
its ``if:`` decides what happens (the default ``success()`` skips it, while
``always()`` runs it), so the scheduler evaluates it with
:meth:`JobGraph.needs_results` and then calls :meth:`JobGraph.mark_finished`
with ``skipped``, or :meth:`JobGraph.mark_started`.

The loader already rejects cycles and unknown needs with file positions;
the graph checks again so that bad input can never make a run hang.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum

from pheme.core.runs.status import Conclusion
from pheme.core.workflow.model import Workflow
from pheme.errors import PlanningError

__all__ = ["JobGraph", "JobState"]


class JobState(Enum):
    WAITING = "waiting"  # not started, needs not all finished (or ready: see JobGraph.ready)
    RUNNING = "running"
    FINISHED = "finished"


class JobGraph:
    """Jobs, their needs, and the run-time state of each (waiting/running/finished).

    Build one per run with :meth:`from_workflow` or :meth:`from_needs`; the
    structure never changes, only the states and results do.
    """

    def __init__(self, needs: Mapping[str, Sequence[str]]) -> None:
        self._order: tuple[str, ...] = tuple(needs)
        self._needs: dict[str, tuple[str, ...]] = {
            job: tuple(dict.fromkeys(deps)) for job, deps in needs.items()
        }
        for job, deps in self._needs.items():
            for dep in deps:
                if dep not in self._needs:
                    raise PlanningError(f"job '{job}' needs unknown job '{dep}'")
        self._dependents: dict[str, list[str]] = {job: [] for job in self._order}
        for job in self._order:
            for dep in self._needs[job]:
                self._dependents[dep].append(job)
        cycle = self._find_cycle()
        if cycle:
            raise PlanningError("jobs depend on each other in a cycle: " + " -> ".join(cycle))
        self._state: dict[str, JobState] = dict.fromkeys(self._order, JobState.WAITING)
        self._results: dict[str, Conclusion] = {}

    @classmethod
    def from_workflow(cls, workflow: Workflow) -> JobGraph:
        return cls({job_id: job.needs for job_id, job in workflow.jobs.items()})

    @classmethod
    def from_needs(cls, needs: Mapping[str, Sequence[str]]) -> JobGraph:
        return cls(needs)

    # --- structure -------------------------------------------------------------

    def _find_cycle(self) -> list[str]:
        """One cycle as ``[a, b, a]``, or ``[]``. Iterative DFS (no recursion limit)."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self._order, white)
        for root in self._order:
            if color[root] != white:
                continue
            path: list[str] = [root]
            stack: list[int] = [0]
            color[root] = grey
            while path:
                job = path[-1]
                deps = self._needs[job]
                if stack[-1] < len(deps):
                    dep = deps[stack[-1]]
                    stack[-1] += 1
                    if color[dep] == grey:
                        return [*path[path.index(dep) :], dep]
                    if color[dep] == white:
                        color[dep] = grey
                        path.append(dep)
                        stack.append(0)
                else:
                    color[job] = black
                    path.pop()
                    stack.pop()
        return []

    @property
    def jobs(self) -> tuple[str, ...]:
        """All job ids, in the workflow's order."""
        return self._order

    def needs(self, job: str) -> tuple[str, ...]:
        return self._needs[self._known(job)]

    def dependents(self, job: str) -> tuple[str, ...]:
        """Jobs that list ``job`` in their ``needs``."""
        return tuple(self._dependents[self._known(job)])

    def ancestors(self, job: str) -> frozenset[str]:
        """Every job ``job`` depends on, directly or not."""
        seen: set[str] = set()
        todo = list(self.needs(job))
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(self._needs[dep])
        return frozenset(seen)

    def topological_order(self) -> list[str]:
        """Jobs so that each comes after its needs; ties keep the workflow's order."""
        done: set[str] = set()
        order: list[str] = []
        while len(order) < len(self._order):
            for job in self._order:
                if job not in done and all(dep in done for dep in self._needs[job]):
                    done.add(job)
                    order.append(job)
                    break
        return order

    def _known(self, job: str) -> str:
        if job not in self._needs:
            raise PlanningError(f"unknown job '{job}'")
        return job

    # --- run-time state ----------------------------------------------------------

    def state(self, job: str) -> JobState:
        return self._state[self._known(job)]

    def result(self, job: str) -> Conclusion | None:
        return self._results.get(self._known(job))

    @property
    def results(self) -> Mapping[str, Conclusion]:
        """Results of the finished jobs, in the order they finished."""
        return dict(self._results)

    def is_ready(self, job: str) -> bool:
        return self._state[self._known(job)] is JobState.WAITING and all(
            self._state[dep] is JobState.FINISHED for dep in self._needs[job]
        )

    def ready(self) -> list[str]:
        """Jobs not yet started whose own needs have all finished (in any way)."""
        return [job for job in self._order if self.is_ready(job)]

    def running(self) -> list[str]:
        return [job for job in self._order if self._state[job] is JobState.RUNNING]

    def unfinished(self) -> list[str]:
        return [job for job in self._order if self._state[job] is not JobState.FINISHED]

    @property
    def done(self) -> bool:
        """Every job has finished."""
        return len(self._results) == len(self._order)

    def needs_results(self, job: str) -> dict[str, Conclusion]:
        """The results of ``job``'s direct needs (the ``needs.<id>.result`` values)."""
        return {dep: self._results[dep] for dep in self.needs(job) if dep in self._results}

    def needs_succeeded(self, job: str) -> bool:
        """Whether every direct need finished with ``success`` (what the default ``if:`` asks)."""
        results = self.needs_results(job)
        return len(results) == len(self.needs(job)) and all(r is Conclusion.SUCCESS for r in results.values())

    def mark_started(self, job: str) -> None:
        if not self.is_ready(job):
            raise PlanningError(self._not_ready(job))
        self._state[job] = JobState.RUNNING

    def mark_finished(self, job: str, result: Conclusion | str) -> None:
        """Record ``job``'s result. A ready job may finish without starting (skipped)."""
        try:
            conclusion = Conclusion(result)
        except ValueError:
            allowed = ", ".join(c.value for c in Conclusion)
            raise PlanningError(f"job '{job}': result '{result}' is not one of {allowed}") from None
        state = self._state[self._known(job)]
        if state is JobState.FINISHED:
            raise PlanningError(f"job '{job}' has already finished")
        if state is JobState.WAITING and not self.is_ready(job):
            raise PlanningError(self._not_ready(job))
        self._state[job] = JobState.FINISHED
        self._results[job] = conclusion

    def _not_ready(self, job: str) -> str:
        state = self._state[job]
        if state is not JobState.WAITING:
            return f"job '{job}' cannot start: it is already {state.value}"
        waiting = [dep for dep in self._needs[job] if self._state[dep] is not JobState.FINISHED]
        return f"job '{job}' cannot start: waiting for {', '.join(waiting)}"
