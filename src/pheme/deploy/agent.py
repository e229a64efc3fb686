"""The local deploy agent: one daemon per PHEME_HOME that runs rollouts and owns what they start.

Why a daemon: ``pheme deploy`` exits, but the versions it started, the
router in front of them, a canary paused for an hour and the timer that
removes the old version after ``scaleDownDelay`` must live on. The agent
holds all of that; the CLI (:mod:`pheme.deploy.client`) auto-starts it and
talks to it over a Unix socket (HTTP/1.1 + JSON, owner-only permissions).

* Only one agent per home: it holds an exclusive ``flock`` on
  ``deploy/agent.lock`` for its whole life.
* Its state (bindings, revisions with pids/ports, weights, scheduled
  removals, the deploy file each binding came from) is saved to
  ``deploy/state.json`` on every change. A new agent adopts it: live
  processes are taken over, dead ones restarted, the routers re-created on
  the same ports, removal timers re-armed.
* Deployments are recorded in the store and serialised per (service,
  environment) by the store's lock row, so two deploys never interleave even
  from two agents sharing a database. Deployments left unfinished by a crash
  are marked failed on the next start, and their locks released.
* ``SIGTERM`` stops the agent but leaves the services running (an agent
  restart must not take the service down); ``pheme agent stop`` stops
  everything unless ``--keep-services``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pheme.core.deploy import DeployConfig, Release, Rollout, abort, parse_deploy, plan, rollback
from pheme.core.deploy.actions import Action, ActionResult
from pheme.core.deploy.model import BlueGreen, Canary, EnvironmentSpec, ServiceSpec
from pheme.core.deploy.records import DeploymentRecord
from pheme.deploy._http import serve_json
from pheme.deploy.analysis import load_runner
from pheme.deploy.client import agent_paths
from pheme.deploy.executor import Control, Executor
from pheme.deploy.local import LocalRuntime, LocalTarget
from pheme.deploy.supervisor import process_alive
from pheme.deploy.target import Target, TargetContext, open_target
from pheme.errors import DeployError, PhemeError, UsageError

if TYPE_CHECKING:  # the store is opened lazily in Agent.run (it is slow to import)
    from pheme.storage import Store
    from pheme.storage._deployments import DeploymentRepo

__all__ = ["Agent", "agent_paths", "main"]


@dataclass(eq=False)
class _Active:
    record_id: int
    rollout: Rollout
    control: Control = field(default_factory=Control)
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Binding:
    service: ServiceSpec
    environment: EnvironmentSpec
    config_text: str
    config_path: str
    workdir: Path
    target: Target
    stable: Release | None = None
    active: _Active | None = None

    @property
    def key(self) -> str:
        return f"{self.service.name}/{self.environment.name}"


class _StoreRecorder:
    """Executor steps → the store (in a thread: the event loop also serves the proxy)."""

    def __init__(self, agent: Agent, record_id: int) -> None:
        self.agent = agent
        self.record_id = record_id
        self.n = 0

    async def step_started(self, action: Action, description: str) -> int:
        self.n += 1
        n = self.n
        await asyncio.to_thread(self.agent.repo.add_step, self.record_id, n, type(action).__name__, description)
        self.agent.notify()
        return n

    async def step_finished(self, number: int, result: ActionResult, *, cancelled: bool = False) -> None:
        outcome = "cancelled" if cancelled else ("succeeded" if result.ok else "failed")
        detail = result.reason if not result.verdict else f"{result.verdict}: {result.reason}"
        await asyncio.to_thread(self.agent.repo.finish_step, self.record_id, number, outcome, detail)
        self.agent.notify()

    async def paused(self, reason: str | None) -> None:
        status = "paused" if reason is not None else "in_progress"
        await asyncio.to_thread(self.agent.repo.set_status, self.record_id, status, reason or "")
        self.agent.notify()


class Agent:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.paths = agent_paths(home)
        self.runtime = LocalRuntime(home, self.save)
        self.bindings: dict[str, _Binding] = {}
        self._store: Store | None = None
        self._repo: DeploymentRepo | None = None
        digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
        self.holder_prefix = f"agent:{socket.gethostname()}:{digest}:"
        self.holder = f"{self.holder_prefix}{os.getpid()}"
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._keep = True
        self._lock_fd: int | None = None
        self._restoring = False

    @property
    def repo(self) -> DeploymentRepo:
        """The deployments table; only there once :meth:`run` has opened the store."""
        if self._repo is None:
            raise RuntimeError("the deploy agent has not opened its store yet (Agent.run)")
        return self._repo

    # ------------------------------------------------------------- lifecycle

    def take_lock(self) -> bool:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    async def run(self) -> None:
        from pheme.storage import open_store
        from pheme.storage._deployments import DeploymentRepo

        self._store = await asyncio.to_thread(open_store)
        self._repo = DeploymentRepo(self._store)
        await self._recover()
        if self.paths.socket.exists():
            self.paths.socket.unlink()
        old_umask = os.umask(0o077)
        try:
            server = await asyncio.start_unix_server(lambda r, w: serve_json(r, w, self.handle), path=str(self.paths.socket))
        finally:
            os.umask(old_umask)
        self.paths.info.write_text(json.dumps({"pid": os.getpid(), "socket": str(self.paths.socket)}))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, True)
        loop.add_signal_handler(signal.SIGINT, self.request_stop, True)
        print(f"pheme agent {os.getpid()} serving {self.paths.socket}", flush=True)
        try:
            await self._stop.wait()
        finally:
            server.close()
            for binding in self.bindings.values():
                if binding.active is not None and binding.active.task is not None:
                    binding.active.task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._finish_active(), 10)
            await self.runtime.shutdown(keep=self._keep)
            if not self._keep:
                with contextlib.suppress(OSError):
                    self.paths.state.unlink()
            else:
                self.save()
            with contextlib.suppress(OSError):
                self.paths.socket.unlink()
            with contextlib.suppress(OSError):
                self.paths.info.unlink()
            self._store.close()

    async def _finish_active(self) -> None:
        tasks = [b.active.task for b in self.bindings.values() if b.active is not None and b.active.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def request_stop(self, keep: bool) -> None:
        self._keep = keep
        self._stop.set()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ state

    def save(self) -> None:
        if self._restoring:
            return
        data: dict[str, Any] = {"bindings": {}}
        for key, b in self.bindings.items():
            entry: dict[str, Any] = {
                "service": b.service.name,
                "environment": b.environment.name,
                "config_text": b.config_text,
                "config_path": b.config_path,
                "workdir": str(b.workdir),
                "stable": {"revision": b.stable.revision, "version": b.stable.version} if b.stable else None,
            }
            if isinstance(b.target, LocalTarget):
                entry["target"] = b.target.to_json()
            data["bindings"][key] = entry
        tmp = self.paths.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.paths.state)

    async def _recover(self) -> None:
        """Adopt the previous agent's state; fail what it left unfinished."""
        try:
            data = json.loads(self.paths.state.read_text())
        except (OSError, ValueError):
            data = {}
        self._restoring = True
        try:
            for key, entry in (data.get("bindings") or {}).items():
                try:
                    config = parse_deploy(entry["config_text"], entry["config_path"])
                    binding = self._bind(config, entry["service"], entry["environment"], entry["config_text"], Path(entry["workdir"]))
                except PhemeError as exc:
                    print(f"pheme agent: cannot restore {key}: {exc}", file=sys.stderr, flush=True)
                    continue
                stable = entry.get("stable")
                binding.stable = Release(int(stable["revision"]), stable["version"]) if stable else None
                if isinstance(binding.target, LocalTarget) and entry.get("target"):
                    try:
                        await binding.target.restore(entry["target"])
                    except PhemeError as exc:
                        print(f"pheme agent: cannot restore the router of {key}: {exc}", file=sys.stderr, flush=True)
        finally:
            self._restoring = False
        self.save()
        for service, environment, holder in await asyncio.to_thread(self.repo.locks_held_by, self.holder_prefix):
            lock = await asyncio.to_thread(self.repo.lock, service, environment)
            if lock and lock[1] is not None:
                await asyncio.to_thread(
                    self.repo.fail_unfinished, "the deploy agent stopped during this deployment", ids=[lock[1]]
                )
            await asyncio.to_thread(self.repo.release_lock, service, environment, holder)

    def _bind(self, config: DeployConfig, service_name: str, env_name: str, text: str, workdir: Path) -> _Binding:
        service = config.service(service_name)
        environment = config.environment(env_name)
        key = f"{service.name}/{environment.name}"
        ctx = TargetContext(self.home, workdir, service, environment, self.runtime)
        target = open_target(ctx)
        binding = self.bindings.get(key)
        if binding is None or binding.target is not target:
            binding = _Binding(service, environment, text, config.path, workdir, target, binding.stable if binding else None)
            self.bindings[key] = binding
        else:
            binding.service, binding.environment = service, environment
            binding.config_text, binding.config_path, binding.workdir = text, config.path, workdir
        return binding

    def _stale(self, holder: str) -> bool:
        """A lock holder on this machine whose process is gone."""
        parts = holder.split(":")
        if len(parts) >= 4 and parts[0] == "agent" and parts[1] == socket.gethostname():
            try:
                return not process_alive(int(parts[-1]))
            except ValueError:
                return False
        return False

    # ------------------------------------------------------------------- API

    async def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        url = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route = (method, url.path)
        try:
            if route == ("GET", "/ping"):
                return 200, {"pid": os.getpid(), "home": str(self.home)}
            if route == ("POST", "/deploy"):
                return 202, await self.deploy(body)
            if method == "GET" and url.path.startswith("/deployments/"):
                return 200, await self.wait_deployment(int(url.path.rsplit("/", 1)[1]), query)
            if route == ("GET", "/status"):
                return 200, await self.status(query.get("service", ""), query.get("environment", ""))
            if route == ("POST", "/promote"):
                return 200, self.promote(body["service"], body["environment"])
            if route == ("POST", "/abort"):
                return 200, await self.abort(body["service"], body["environment"])
            if route == ("POST", "/rollback"):
                return 200, await self.rollback(body)
            if route == ("POST", "/shutdown"):
                asyncio.get_running_loop().call_soon(self.request_stop, bool(body.get("keep", False)))
                return 200, {"stopping": True}
            return 404, {"error": f"no such endpoint: {method} {url.path}"}
        except UsageError as exc:
            return 400, {"error": str(exc), "code": exc.exit_code}
        except PhemeError as exc:
            return 409 if isinstance(exc, _Busy) else 400, {"error": str(exc), "code": exc.exit_code}
        except (KeyError, ValueError) as exc:
            return 400, {"error": f"bad request: {exc}"}

    def _binding(self, service: str, environment: str) -> _Binding:
        binding = self.bindings.get(f"{service}/{environment}")
        if binding is None:
            raise UsageError(f"'{service}' has not been deployed to '{environment}' on this machine")
        return binding

    async def _lock(self, service: str, environment: str) -> None:
        from pheme.storage._deployments import LockHeld

        try:
            await asyncio.to_thread(self.repo.acquire_lock, service, environment, self.holder, stale=self._stale)
        except LockHeld as held:
            which = f" (deployment #{held.deployment_id})" if held.deployment_id else ""
            raise _Busy(
                f"a deployment of '{service}' to '{environment}' is already in progress{which}: wait for it, "
                f"or stop it with 'pheme rollout abort {service} --env {environment}'"
            ) from None

    async def deploy(self, body: dict[str, Any]) -> dict[str, Any]:
        config = parse_deploy(body["config"], body.get("path", ".pheme/deploy.yml"))
        service = config.service(body["service"])
        environment = config.environment(body["environment"])
        strategy = environment.pick_strategy(body.get("strategy") or None)
        version = str(body.get("version") or "").strip()
        if not version:
            raise UsageError("a version is required (--version)")
        binding = self._bind(config, service.name, environment.name, body["config"], Path(body.get("workdir") or "."))
        target = binding.target
        await target.check_reachable()
        await target.check_version(version)
        await self._lock(service.name, environment.name)
        try:
            revision = await asyncio.to_thread(self.repo.next_revision, service.name, environment.name)
            state = await target.state()
            stable = binding.stable
            stable_state = state.revision(stable.revision) if stable else None
            if stable is not None and (stable_state is None or state.weights.get(stable.revision, 0) == 0):
                stable = None  # nothing serves: treat as a first deployment
            record = await asyncio.to_thread(
                lambda: self.repo.create(
                    service=service.name,
                    environment=environment.name,
                    kind="deploy",
                    revision=revision,
                    version=version,
                    strategy=strategy.kind,
                    commit=str(body.get("commit") or ""),
                    triggered_by=str(body.get("triggered_by") or ""),
                    target=f"{environment.target.kind}/{environment.target.router}"
                    if environment.target.kind == "local"
                    else environment.target.kind,
                    previous_revision=stable.revision if stable else None,
                )
            )
            await asyncio.to_thread(self.repo.attach_lock, service.name, environment.name, self.holder, record.id)
        except BaseException:
            await asyncio.to_thread(self.repo.release_lock, service.name, environment.name, self.holder)
            raise
        rollout = Rollout(
            service,
            strategy,
            Release(revision, version),
            stable,
            environment.progress_deadline,
            stable_state.replicas if stable is not None and stable_state is not None else None,
        )
        active = _Active(record.id, rollout)
        binding.active = active
        active.task = asyncio.get_running_loop().create_task(self._drive(binding, active))
        return record.to_json()

    def _executor(self, binding: _Binding, record_id: int) -> Executor:
        return Executor(
            binding.target,
            service=binding.service.name,
            environment=binding.environment.name,
            workdir=binding.workdir if binding.workdir.is_dir() else self.home,
            recorder=_StoreRecorder(self, record_id),
            analysis_factory=lambda: load_runner(binding.workdir),
        )

    async def _drive(self, binding: _Binding, active: _Active) -> None:
        status, reason = "failed", "internal error"
        try:
            executor = self._executor(binding, active.record_id)
            outcome = await executor.run(
                plan(active.rollout), control=active.control, on_abort=lambda: abort(active.rollout)
            )
            status, reason = outcome.status, outcome.reason
            if outcome.status == "aborted":
                reason = active.control.abort_reason
            binding.stable = outcome.stable
            self.save()
        except asyncio.CancelledError:
            status, reason = "failed", "the deploy agent stopped during this deployment"
            raise
        except Exception as exc:  # a bug: record it rather than leave the deployment "in progress"
            status, reason = "failed", f"internal error: {exc.__class__.__name__}: {exc}"
            print(f"pheme agent: {reason}", file=sys.stderr, flush=True)
        finally:
            binding.active = None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    lambda: self.repo.finish(
                        active.record_id,
                        status,
                        reason,
                        service=binding.service.name,
                        environment=binding.environment.name,
                        holder=self.holder,
                    )
                )
            self.notify()

    async def wait_deployment(self, record_id: int, query: dict[str, str]) -> dict[str, Any]:
        """The record; with ``wait=S`` wait up to S seconds for a change from ``steps``/``status``."""
        wait = float(query.get("wait", "0"))
        deadline = time.monotonic() + wait
        while True:
            changed = self._changed
            record: DeploymentRecord = await asyncio.to_thread(self.repo.get, record_id)
            seen_steps = int(query.get("steps", "-1"))
            seen = (len(record.steps), sum(1 for s in record.steps if s.outcome != "running"), record.status)
            asked = (seen_steps, int(query.get("finished", "-1")), query.get("status", ""))
            left = deadline - time.monotonic()
            if record.done or seen != asked or left <= 0:
                return record.to_json()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)

    async def status(self, service: str, environment: str) -> dict[str, Any]:
        out = []
        for key, b in sorted(self.bindings.items()):
            if (service and b.service.name != service) or (environment and b.environment.name != environment):
                continue
            state = await b.target.state()
            logs: dict[str, list[str]] = {}
            if b.stable is not None:
                logs[str(b.stable.revision)] = await b.target.logs(b.stable.revision, 10)
            out.append(
                {
                    "key": key,
                    "state": state.to_json(),
                    "stable": {"revision": b.stable.revision, "version": b.stable.version} if b.stable else None,
                    "active": {
                        "deployment": b.active.record_id,
                        "revision": b.active.rollout.new.revision,
                        "version": b.active.rollout.new.version,
                        "strategy": b.active.rollout.strategy.kind,
                        "paused": b.active.control.pause_reason,
                    }
                    if b.active
                    else None,
                    "logs": logs,
                }
            )
        if (service or environment) and not out:
            raise UsageError(f"'{service}' has not been deployed to '{environment}' on this machine")
        return {"services": out}

    def promote(self, service: str, environment: str) -> dict[str, Any]:
        binding = self._binding(service, environment)
        if binding.active is None:
            raise UsageError(f"no rollout of '{service}' to '{environment}' is in progress")
        if not binding.active.control.promote():
            raise UsageError(f"the rollout of '{service}' to '{environment}' is not paused")
        return {"deployment": binding.active.record_id, "promoted": True}

    async def abort(self, service: str, environment: str) -> dict[str, Any]:
        binding = self._binding(service, environment)
        active = binding.active
        if active is None:
            raise UsageError(f"no rollout of '{service}' to '{environment}' is in progress")
        active.control.abort("aborted by request")
        if active.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(active.task)
        record: DeploymentRecord = await asyncio.to_thread(self.repo.get, active.record_id)
        return record.to_json()

    async def rollback(self, body: dict[str, Any]) -> dict[str, Any]:
        service_name, env_name = body["service"], body["environment"]
        binding = self._binding(service_name, env_name)
        await self._lock(service_name, env_name)
        record_id: int | None = None
        status, reason = "failed", "internal error"
        try:
            current = binding.stable
            to = await asyncio.to_thread(self._rollback_target, service_name, env_name, current, body.get("to"))
            state = await binding.target.state()
            warm_state = state.revision(to.revision)
            warm = warm_state is not None and warm_state.replicas > 0
            strategy = binding.environment.strategy
            delay = strategy.scale_down_delay if isinstance(strategy, BlueGreen | Canary) else 0.0
            record = await asyncio.to_thread(
                lambda: self.repo.create(
                    service=service_name,
                    environment=env_name,
                    kind="rollback",
                    revision=to.revision,
                    version=to.version,
                    strategy="rollback",
                    commit=str(body.get("commit") or ""),
                    triggered_by=str(body.get("triggered_by") or ""),
                    target=binding.environment.target.kind,
                    previous_revision=current.revision if current else None,
                )
            )
            record_id = record.id
            flow = rollback(
                binding.service, current, to, warm=warm,
                progress_deadline=binding.environment.progress_deadline, scale_down_delay=delay,
            )
            outcome = await self._executor(binding, record.id).run(flow)
            status, reason = outcome.status, outcome.reason
            binding.stable = outcome.stable
            self.save()
        finally:
            if record_id is not None:
                await asyncio.to_thread(self.repo.set_status, record_id, status, reason)
            await asyncio.to_thread(self.repo.release_lock, service_name, env_name, self.holder)
            self.notify()
        final: DeploymentRecord = await asyncio.to_thread(self.repo.get, record_id)
        return final.to_json()

    def _rollback_target(self, service: str, environment: str, current: Release | None, to: Any) -> Release:
        history = self.repo.list(service=service, environment=environment, status="succeeded", limit=200)
        if to is not None:
            wanted = int(to)
            for rec in history:
                if rec.revision == wanted:
                    return Release(rec.revision, rec.version)
            raise UsageError(f"revision {wanted} of '{service}' in '{environment}' was never deployed successfully")
        for rec in history:
            if current is None or rec.revision != current.revision:
                if current is not None and rec.revision > current.revision and rec.kind == "deploy":
                    continue  # a later deploy that was itself rolled back
                return Release(rec.revision, rec.version)
        raise UsageError(f"'{service}' in '{environment}' has no earlier revision to roll back to")


class _Busy(DeployError):
    pass


def main(argv: list[str] | None = None) -> int:
    """``python -m pheme.deploy.agent``: run the agent of ``$PHEME_HOME`` in the foreground."""
    from pheme.storage import pheme_home

    home = pheme_home(create=True)
    agent = Agent(home)
    if not agent.take_lock():
        print(f"pheme agent: another agent already serves {home}", file=sys.stderr)
        return 0
    try:
        asyncio.run(agent.run())
    except PhemeError as exc:
        print(f"pheme agent: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
