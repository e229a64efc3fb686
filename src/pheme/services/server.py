"""The pipeline server as one object: store, configuration, queue, workers.

    server = PipelineServer(load_settings())
    server.start()        # recover interrupted runs, start the dispatcher and the scheduler
    ...                   # the API calls its methods (pheme.api) — thin routes, logic here
    server.stop()

Why one object: the API, the UI, the CLI commands (``pheme repo add``...) and
the tests all need the same wiring (database, secret box, metrics, workers);
building it in one place keeps the routes thin and the wiring testable
without HTTP. The CLI commands that only touch the database
(``pheme repo add``, ``pheme token create``) build it with ``workers=False``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pheme.core.runs import RunRecord
from pheme.core.server import EnvironmentRecord, EnvironmentRules, RepoRecord, Role, TokenRecord, value_scope
from pheme.errors import UsageError
from pheme.services.secretbox import SecretBox
from pheme.services.server_metrics import ServerMetrics
from pheme.services.server_settings import ServerSettings, server_key

__all__ = ["PipelineServer", "environment_json", "repo_json", "token_json", "validate_repo_name"]

log = logging.getLogger("pheme.server")
# Pending runs of a `queue: max` concurrency group (GitHub's limit).
MAX_GROUP_QUEUE = 100

_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_URL = re.compile(r"^(?:https?|ssh|git|file)://\S+$|^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:\S+$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_VALUE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


def validate_repo_name(name: str) -> str:
    name = name.strip()
    if not _REPO_NAME.match(name) or name.split("/")[1] in (".", ".."):
        raise UsageError(f"repository name must be owner/repo (got {name!r})")
    return name


class PipelineServer:
    def __init__(self, settings: ServerSettings, *, workers: bool = True) -> None:
        from pheme.storage import open_store
        from pheme.storage.server import ServerStore

        self.settings = settings
        self.instance_id = uuid.uuid4().hex[:12]
        self.store = open_store(settings.database_url)
        self.sstore = ServerStore(self.store)
        self.box = SecretBox(server_key(settings))
        self.metrics = ServerMetrics()
        self.metrics.track_queue_depth(self._queue_depth)
        from pheme.services.server_git import Mirrors

        self.mirrors = Mirrors(settings.server_dir())
        self._repo_cache: dict[str, tuple[float, RepoRecord, str | None]] = {}
        self._values_cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._workers = workers
        self._started = False
        self._lock = threading.Lock()
        self.dispatcher: Any = None
        self.scheduler: Any = None
        self.feedback: Any = None
        if workers:
            from pheme.services.dispatcher import Dispatcher
            from pheme.services.feedback import Feedback
            from pheme.services.scheduler import Scheduler

            self.feedback = Feedback(self)
            self.dispatcher = Dispatcher(self) if settings.executor else None
            self.scheduler = Scheduler(self)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Seed configured environments, recover interrupted runs, start the workers."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self.seed_environments()
        if self.dispatcher is not None:
            self.dispatcher.start()
        if self.scheduler is not None and self.settings.scheduler:
            self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.feedback is not None:
            self.feedback.stop()

    def close(self) -> None:
        self.stop()
        self.store.close()

    def ready(self) -> bool:
        """The database answers and the workers (if any) run."""
        try:
            self.sstore.queue_depth()
        except Exception:
            return False
        return self.dispatcher is None or not self._started or self.dispatcher.alive()

    def _queue_depth(self) -> float:
        try:
            return float(self.sstore.queue_depth())
        except Exception:
            return float("nan")

    # --------------------------------------------------------------------- repos

    def add_repo(
        self,
        name: str,
        source: str,
        *,
        webhook_secret: str | None = None,
        github_token_env: str | None = None,
        actor: str = "cli",
    ) -> RepoRecord:
        """Register ``owner/repo`` built from ``source`` (a local path or a git URL).

        Without a webhook secret a random one is created (``pheme push`` reads
        it from the store; GitHub needs it given explicitly)."""
        import secrets as _secrets

        name = validate_repo_name(name)
        source = self.normalize_source(source)
        if github_token_env is not None and not _ENV_VAR.match(github_token_env):
            raise UsageError("--github-token-env must be an environment variable name")
        secret = webhook_secret if webhook_secret else _secrets.token_urlsafe(32)
        record = self.sstore.add_repo(
            name, source, webhook_secret=self.box.seal(secret), github_token_env=github_token_env
        )
        self.sstore.audit(actor, "repo.add", name, {"source": source})
        return record

    @staticmethod
    def normalize_source(source: str) -> str:
        source = source.strip()
        if not source:
            raise UsageError("SOURCE must be a local path or a git URL")
        if _URL.match(source):
            return source
        path = Path(source).expanduser()
        if not path.exists():
            raise UsageError(f"SOURCE {source}: no such directory (give a local path or a git URL)")
        return str(path.resolve())

    def webhook_secret(self, repo: RepoRecord) -> str | None:
        sealed = self.sstore.repo_secret(repo.id)
        return None if sealed is None else self.box.open(sealed)

    # A webhook burst asks for the same repository (and its secret) hundreds of
    # times a second: keep them a few seconds; this process's own changes drop them.
    CACHE_SECONDS = 5.0

    def repo_for_webhook(self, name: str) -> tuple[RepoRecord, str | None]:
        """The repository named in a payload and its decrypted webhook secret (cached briefly)."""
        import time

        now = time.monotonic()
        cached = self._repo_cache.get(name)
        if cached is not None and now - cached[0] < self.CACHE_SECONDS:
            return cached[1], cached[2]
        repo = self.sstore.get_repo(name)
        secret = self.webhook_secret(repo)
        self._repo_cache[name] = (now, repo, secret)
        return repo, secret

    def remove_repo(self, name: str, *, actor: str) -> None:
        self.sstore.delete_repo(name)
        self._repo_cache.clear()
        self._values_cache.clear()
        self.sstore.audit(actor, "repo.delete", name)

    def github_token(self, repo: RepoRecord) -> str | None:
        import os

        if not repo.github_token_env:
            return None
        return os.environ.get(repo.github_token_env) or None

    # -------------------------------------------------------------------- tokens

    def create_token(self, role: Role, name: str | None = None, *, actor: str = "cli") -> tuple[TokenRecord, str]:
        from pheme.services.tokens import create_token

        record, token = create_token(self.sstore, role, name)
        self.sstore.audit(actor, "token.create", record.name, {"role": role.label, "id": record.id})
        return record, token

    def revoke_token(self, token_id: int, *, actor: str) -> TokenRecord:
        record = self.sstore.revoke_token(token_id)
        self.sstore.audit(actor, "token.revoke", record.name, {"id": token_id})
        return record

    def authenticate(self, token: str) -> TokenRecord | None:
        from pheme.services.tokens import authenticate

        return authenticate(self.sstore, token)

    # -------------------------------------------------------------- environments
    #
    # An environment belongs to a repository (GitHub's model): ``production`` of
    # acme/a and ``production`` of acme/b have their own rules, secrets and
    # variables. Environments without a repository are server-wide DEFAULTS
    # (server.toml's ``[environments.*]``, and every environment stored before
    # migration 0006): a default applies to a repository that has no environment
    # of its name; a repository's own environment replaces it entirely.

    def seed_environments(self) -> None:
        """Configured environments into the store as server-wide defaults (configuration
        wins over earlier API edits of the defaults; repositories' own are untouched)."""
        for name, cfg in self.settings.environments.items():
            rules = EnvironmentRules(
                reviewers=tuple(cfg.reviewers),
                reviewer_roles=tuple(cfg.reviewer_roles),
                prevent_self_review=cfg.prevent_self_review,
                wait_timer=cfg.wait_timer,
                branches=tuple(cfg.branches) if cfg.branches is not None else None,
            )
            self.sstore.put_environment(name, rules, cfg.url)

    def put_environment(
        self, name: str, rules: EnvironmentRules, url: str | None, *, actor: str, repo: RepoRecord | None = None
    ) -> EnvironmentRecord:
        """Create or replace ``repo``'s environment ``name`` (without ``repo``: the default)."""
        if not _ENV_NAME.match(name):
            raise UsageError("environment names use letters, digits and _ . -")
        record = self.sstore.put_environment(name, rules, url, repo_id=None if repo is None else repo.id)
        self.sstore.audit(actor, "environment.put", _environment_label(repo, name),
                          {"repository": None if repo is None else repo.name, "rules": rules.to_json(), "url": url})  # fmt: skip
        return record

    def delete_environment(self, name: str, *, actor: str, repo: RepoRecord | None = None) -> None:
        self.sstore.delete_environment(name, repo_id=None if repo is None else repo.id)
        self._values_cache.clear()
        self.sstore.audit(actor, "environment.delete", _environment_label(repo, name),
                          {"repository": None if repo is None else repo.name})  # fmt: skip

    def environment_for(self, repo_id: int | None, name: str) -> EnvironmentRecord | None:
        """What a job of repository ``repo_id`` deploying to ``name`` gets: the repository's
        environment, else the default of that name, else None (no protection rules)."""
        return self.sstore.find_environment(repo_id, name)

    def environment_values(self, repo_id: int | None, name: str) -> tuple[dict[str, str], dict[str, str]]:
        """The secrets (decrypted) and variables of the environment a job of repository
        ``repo_id`` deploying to ``name`` gets (see :meth:`environment_for`). A job's
        values are global < repository < these."""
        env = self.environment_for(repo_id, name)
        if env is None:
            return {}, {}
        return self.secrets_for(env.scope), self.variables_for(env.scope)

    # ------------------------------------------------------ secrets and variables

    @staticmethod
    def scope_of(repo: RepoRecord | None = None, environment: str | None = None) -> str:
        """``global``, a repository's, a repository's environment's, or (``environment``
        alone) a default environment's: see :func:`pheme.core.server.value_scope`."""
        return value_scope(None if repo is None else repo.id, environment)

    def scope_label(self, scope: str) -> str:
        """A scope as people read it (the audit log): repositories by name, not id."""
        from pheme.storage import NotFoundError

        head, _, env = scope.partition(":env:")
        if scope.startswith("env:"):
            return f"default environment {scope[4:]}"
        if head.startswith("repo:") and head[5:].isdigit():
            try:
                repo = self.sstore.get_repo(int(head[5:])).name
            except NotFoundError:
                repo = head
            return f"{repo} environment {env}" if env else repo
        return scope

    def put_secret(self, scope: str, name: str, value: str, *, actor: str) -> None:
        if not _VALUE_NAME.match(name) or name.upper().startswith("GITHUB_"):
            raise UsageError("secret names use letters, digits and _, and may not start with GITHUB_")
        self.sstore.put_value("secret", scope, name, self.box.seal(value))
        self.sstore.audit(actor, "secret.put", f"{self.scope_label(scope)}/{name}", {"scope": scope})  # never the value

    def put_variable(self, scope: str, name: str, value: str, *, actor: str) -> None:
        if not _VALUE_NAME.match(name) or name.upper().startswith("GITHUB_"):
            raise UsageError("variable names use letters, digits and _, and may not start with GITHUB_")
        self.sstore.put_value("variable", scope, name, value.encode("utf-8"))
        self._values_cache.clear()
        self.sstore.audit(actor, "variable.put", f"{self.scope_label(scope)}/{name}", {"scope": scope, "value": value})

    def delete_value(self, kind: str, scope: str, name: str, *, actor: str) -> None:
        self.sstore.delete_value(kind, scope, name)
        self._values_cache.clear()
        self.sstore.audit(actor, f"{kind}.delete", f"{self.scope_label(scope)}/{name}", {"scope": scope})

    def secrets_for(self, scope: str) -> dict[str, str]:
        return {k: self.box.open(v) for k, v in self.sstore.values("secret", scope).items()}

    def variables_for(self, scope: str, *, cached: bool = False) -> dict[str, str]:
        """Variables of a scope; ``cached`` (intake) may be a few seconds old."""
        import time

        now = time.monotonic()
        hit = self._values_cache.get(("variable", scope))
        if cached and hit is not None and now - hit[0] < self.CACHE_SECONDS:
            return dict(hit[1])
        values = {k: v.decode("utf-8") for k, v in self.sstore.values("variable", scope).items()}
        self._values_cache[("variable", scope)] = (now, values)
        return values

    # ---------------------------------------------------------------------- runs

    def enqueue(self, new_runs: Any, *, delivery: tuple[str, str, int | None] | None = None) -> Any:
        """Store runs (and the delivery) in one transaction, apply concurrency groups, wake the executor."""
        new_runs = list(new_runs)
        outcome = self.sstore.enqueue(new_runs, delivery=delivery)
        if outcome.duplicate or not outcome.run_ids:
            return outcome
        self._admit([(run_id, new.repo_id, new.concurrency_group, new.cancel_in_progress, new.queue_max)
                     for new, run_id in zip(new_runs, outcome.run_ids, strict=True)])  # fmt: skip
        return outcome

    def admitted(
        self, run_id: int, repo_id: int, group: str | None, cancel_in_progress: bool, queue_max: bool = False
    ) -> None:
        """A run queued again (a re-run's new attempt): the same rules as a new run's."""
        self._admit([(run_id, repo_id, group, cancel_in_progress, queue_max)])

    def _admit(self, queued: list[tuple[int, int, str | None, bool, bool]]) -> None:
        """Concurrency groups, the queued commit status, and a wake-up for the executor.

        The run queued last in a concurrency group cancels the group's other
        pending runs; with ``cancel-in-progress`` also its running ones
        (GitHub's rule). "Last" is by queue time, then run id: a re-run's new
        attempt is newer than everything already waiting. With ``queue: max``
        the pending runs wait in line instead (oldest first), up to
        ``MAX_GROUP_QUEUE``; a run arriving at a full line is cancelled.
        """
        from pheme.services.server_runs import cancel as cancel_run

        for run_id, _, group, cancel_in_progress, queue_max in queued:
            if group is None:
                continue
            newer = _queue_order(self.sstore.queue_entry(run_id))
            waiting = [e for e in self.sstore.entries("queued", group=group) if _queue_order(e) < newer]
            if queue_max:
                if len(waiting) >= MAX_GROUP_QUEUE and self.sstore.cancel_queued(
                    run_id, f"cancelled: the queue of concurrency group {group} is full ({MAX_GROUP_QUEUE} pending)"
                ):
                    self.after_run_finished(run_id)
                continue
            for older in waiting:
                if self.sstore.cancel_queued(
                    older.run_id, f"cancelled: a newer run ({run_id}) of concurrency group {group} is pending"
                ):
                    self.after_run_finished(older.run_id)
            if cancel_in_progress:
                for running in self.sstore.entries("running", group=group):
                    if _queue_order(running) < newer:
                        self.sstore.audit("pheme", "run.cancel", f"run {running.run_id}",
                                          {"reason": f"cancel-in-progress by run {run_id}"})  # fmt: skip
                        with contextlib.suppress(Exception):
                            cancel_run(self, running.run_id, actor="pheme")
        if self.feedback is not None:
            for run_id, repo_id, *_ in queued:
                self._queued_status(repo_id, run_id)
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def _queued_status(self, repo_id: int, run_id: int) -> None:
        with contextlib.suppress(Exception):
            repo = next((c[1] for c in self._repo_cache.values() if c[1].id == repo_id), None)
            repo = repo or self.sstore.get_repo(repo_id)
            if self.github_token(repo):
                self.feedback.run_queued(self.store.get_run(run_id), repo)

    def after_run_finished(self, run_id: int) -> None:
        """Commit status and notifications for a completed run."""
        if self.feedback is None:
            return
        try:
            run = self.store.get_run(run_id)
            repo_id, _ = self.sstore.run_context(run_id)
            repo = self.sstore.get_repo(repo_id) if repo_id is not None else None
            self.feedback.run_finished(run, repo)
        except Exception as exc:  # feedback never breaks the queue
            log.warning("run feedback failed", extra={"run": run_id, "error": f"{type(exc).__name__}: {exc}"})

    def run_json(self, run: RunRecord, repo: str | None, actor: str | None) -> dict[str, Any]:
        """``pheme run --json``'s run object plus the server's fields."""
        from pheme.services.runs import run_to_json

        data = run_to_json(run)
        data["status"] = run.status.value
        data["repo"] = repo
        data["actor"] = actor
        data["created_at"] = _iso(run.created_at)
        data["error"] = run.error
        for job, stored in zip(data["jobs"], run.jobs, strict=True):
            job["job_id"] = stored.id
            job["reused"] = stored.reused
            job["status"] = stored.status.value
            job["started_at"] = _iso(stored.started_at)
            job["finished_at"] = _iso(stored.finished_at)
            job["log_lines"] = stored.log_lines
            for step, stored_step in zip(job["steps"], stored.steps, strict=True):
                step["number"] = stored_step.number
                step["status"] = stored_step.status.value
        return data

    def repo_names(self) -> Mapping[int, str]:
        return {r.id: r.name for r in self.sstore.list_repos()}


def _queue_order(entry: Any) -> tuple[float, int]:
    """Which of two queue entries was queued later (a re-run is queued anew)."""
    return (entry.enqueued_at.timestamp() if entry.enqueued_at is not None else 0.0, entry.run_id)


def _environment_label(repo: RepoRecord | None, name: str) -> str:
    return f"default environment {name}" if repo is None else f"{repo.name} environment {name}"


def environment_json(env: EnvironmentRecord) -> dict[str, Any]:
    """An environment as the API and ``pheme env --json`` show it (secret names, never values)."""
    return {"name": env.name, "repository": env.repository, "default": env.is_default, "url": env.url,
            **env.rules.to_json(), "secrets": list(env.secret_names), "variables": dict(env.variables)}  # fmt: skip


def repo_json(repo: RepoRecord) -> dict[str, Any]:
    """A repository as the API and ``pheme repo list --json`` show it (never its secret)."""
    return {
        "id": repo.id,
        "name": repo.name,
        "source": repo.source,
        "has_webhook_secret": repo.has_webhook_secret,
        "github_token_env": repo.github_token_env,
        "created_at": _iso(repo.created_at),
    }


def token_json(record: TokenRecord) -> dict[str, Any]:
    """A token's record (never the token: only its creation returns that, once)."""
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role.label,
        "created_at": _iso(record.created_at),
        "last_used_at": _iso(record.last_used_at),
        "revoked": record.revoked,
    }


def _iso(value: Any) -> str | None:
    from pheme.services.runs import iso

    return iso(value)
