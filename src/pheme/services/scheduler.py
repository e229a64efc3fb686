"""``on: schedule`` for the server: each minute, start the workflows whose cron fires.

Like GitHub, schedules run on the repository's default branch (``main``, else
``master``, else the mirror's first branch) at its latest commit, with the
``schedule`` event and ``github.event.schedule`` set to the cron that fired.
Each firing is recorded like a webhook delivery (id
``schedule:<repo>:<file>:<cron>:<minute>``), so a restart within the same
minute, or two servers on one database, never start it twice.

:meth:`Scheduler.tick` does one minute's work and is what tests call; the
thread only calls it at each minute boundary.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Scheduler"]

log = logging.getLogger("pheme.server.scheduler")


class Scheduler:
    def __init__(self, server: Any) -> None:
        self.server = server
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="pheme-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            following = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            if self._stop.wait((following - now).total_seconds()):
                return
            try:
                self.tick(following)
            except Exception as exc:
                log.error("schedule tick failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    def tick(self, at: datetime) -> list[int]:
        """Start every scheduled workflow whose cron matches ``at``'s minute; returns new run ids."""
        from pheme.core.workflow import CronError, parse_cron
        from pheme.errors import PhemeError
        from pheme.services.server_runs import load_workflow
        from pheme.storage.server import NewRun

        minute = at.astimezone(UTC).replace(second=0, microsecond=0)
        created: list[int] = []
        server = self.server
        for repo in server.sstore.list_repos():
            try:
                mirror = server.mirrors.get(repo.id, repo.source)
                mirror.fetch()
                branch = _default_branch(mirror)
                if branch is None:
                    continue
                sha = mirror.resolve(f"refs/heads/{branch}")
                files = mirror.workflow_files(sha)
            except PhemeError as exc:
                log.warning("schedule: repository skipped", extra={"repo": repo.name, "error": str(exc)})
                continue
            for path, text in sorted(files.items()):
                try:
                    workflow = load_workflow(path, text)
                except PhemeError:
                    continue
                trigger = workflow.on.get("schedule")
                if trigger is None:
                    continue
                for cron_text in trigger.crons:
                    try:
                        cron = parse_cron(cron_text, enforce_min_interval=False)
                    except CronError:
                        continue
                    if not cron.matches(minute):
                        continue
                    ref = f"refs/heads/{branch}"
                    owner, _, name = repo.name.partition("/")
                    payload = {"schedule": cron_text, "ref": ref,
                               "repository": {"full_name": repo.name, "name": name, "owner": {"login": owner}}}  # fmt: skip
                    from pheme.services.server_runs import concurrency_of, queue_max_of

                    group, cancel = concurrency_of(workflow, repo.name, "schedule", ref, sha, payload, {},
                                                   server.variables_for(server.scope_of(repo)))  # fmt: skip
                    new = NewRun(repo_id=repo.id, workflow=workflow.display_name, file=path, event="schedule", ref=ref,
                                 sha=sha, actor="pheme-scheduler", payload=payload, concurrency_group=group,
                                 cancel_in_progress=cancel, queue_max=queue_max_of(workflow))  # fmt: skip
                    delivery = f"schedule:{repo.id}:{path}:{cron_text}:{minute.isoformat()}"[:255]
                    outcome = server.enqueue([new], delivery=(delivery, "schedule", repo.id))
                    if not outcome.duplicate:
                        created.extend(outcome.run_ids)
        return created


def _default_branch(mirror: Any) -> str | None:
    from pheme.services.server_git import _git

    out = _git(["for-each-ref", "--format=%(refname:short)", "refs/heads/"], git_dir=mirror.path, check=False)
    branches = out.decode().split()
    for candidate in ("main", "master"):
        if candidate in branches:
            return candidate
    return branches[0] if branches else None
