"""The local target: each revision runs as supervised processes here, behind a router.

Lives inside the deploy agent (:mod:`pheme.deploy.agent`), which owns the
:class:`LocalRuntime` (one process supervisor, one nginx instance, the state
file) shared by every (service, environment) on this machine.

* A revision's replicas are started from the service's ``command`` template
  (``{port}`` is a free port per replica, ``{version}``, ``{artifact}``,
  ``{release}``). The artifact named by ``artifact:`` is copied into
  ``PHEME_HOME/deploy/releases/<service>/<env>/r<revision>/`` first, so a
  version keeps running (and can be rolled back to) after the workspace it
  came from is gone.
* Traffic goes through the environment's router: ``builtin`` (the embedded
  asyncio proxy, :mod:`pheme.deploy.proxy`) or ``nginx`` (Pheme's own nginx,
  :mod:`pheme.deploy.nginx`), on the port from ``deploy.yml`` (0: a free port
  chosen once and then kept, so the URL stays the same).
* Everything needed to take over after an agent restart (pids with their
  start times, ports, weights, scheduled removals) is saved in the state
  file on every change; :meth:`LocalTarget.restore` adopts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pheme.core.deploy.actions import Role
from pheme.deploy.nginx import NginxInstance, find_nginx
from pheme.deploy.proxy import Proxy
from pheme.deploy.supervisor import Replica, ReplicaSpec, Supervisor, free_port
from pheme.deploy.target import RevisionState, TargetContext, TargetState
from pheme.errors import DeployError

__all__ = ["LocalRuntime", "LocalTarget", "open_target"]

Address = tuple[str, int]


class LocalRuntime:
    """What every local target in one agent shares: supervisor, nginx, the save hook."""

    def __init__(self, home: Path, save: Callable[[], None] | None = None) -> None:
        self.home = home
        self.root = home / "deploy"
        self._save = save or (lambda: None)
        self.targets: dict[str, LocalTarget] = {}
        self.supervisor = Supervisor(self._changed)
        self._nginx: NginxInstance | None = None

    @property
    def nginx(self) -> NginxInstance:
        if self._nginx is None:
            self._nginx = NginxInstance(self.root / "nginx")
        return self._nginx

    def save(self) -> None:
        self._save()

    def _changed(self) -> None:
        for target in self.targets.values():
            target.refresh()

    async def shutdown(self, *, keep: bool) -> None:
        """Stop every target (or, with ``keep``, leave processes and nginx running for the next agent)."""
        for target in list(self.targets.values()):
            await target.shutdown(keep=keep)
        if not keep and self._nginx is not None:
            await self._nginx.stop()


@dataclass(eq=False)
class _Revision:
    revision: int
    version: str
    role: Role
    spec: ReplicaSpec
    replicas: list[Replica] = field(default_factory=list)
    remove_at: float | None = None
    removal: asyncio.Task[None] | None = None

    def ready_addrs(self) -> list[Address]:
        return [r.addr for r in self.replicas if r.ready]

    def addrs(self) -> list[Address]:
        return [r.addr for r in self.replicas]


class LocalTarget:
    """One service in one environment on this machine (see the module docstring)."""

    kind = "local"

    def __init__(self, ctx: TargetContext, runtime: LocalRuntime) -> None:
        self.ctx = ctx
        self.runtime = runtime
        self.service = ctx.service
        self.key = f"{ctx.service.name}/{ctx.environment.name}"
        options = ctx.environment.target
        self.router_kind = options.router
        self.host = str(options.options.get("host", "127.0.0.1"))
        self.port = options.port
        self.revisions: dict[int, _Revision] = {}
        self.weights: dict[int, int] = {}
        self._proxy: Proxy | None = None
        self._lock = asyncio.Lock()
        self.release_root = runtime.root / "releases" / ctx.service.name / ctx.environment.name
        self.log_root = runtime.root / "logs" / ctx.service.name / ctx.environment.name

    # ----------------------------------------------------------- router

    async def _ensure_router(self) -> None:
        if self.router_kind == "nginx":
            find_nginx()
            if not self.port:
                self.port = free_port(self.host)
            return
        if self._proxy is None:
            proxy = Proxy(self.host, self.port)
            try:
                await proxy.start()
            except OSError as exc:
                raise DeployError(f"the router for {self.key} cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
            self._proxy = proxy
            self.port = proxy.port

    def _table(self, *, ready_only: bool) -> dict[int, tuple[int, list[Address]]]:
        table: dict[int, tuple[int, list[Address]]] = {}
        for rev, weight in self.weights.items():
            r = self.revisions.get(rev)
            if r is not None:
                table[rev] = (weight, r.ready_addrs() if ready_only else r.addrs())
        return table

    async def _apply_routes(self) -> None:
        await self._ensure_router()
        if self.router_kind == "nginx":
            await self.runtime.nginx.apply(self.key, self.host, self.port, self._table(ready_only=False))
        else:
            assert self._proxy is not None
            self._proxy.set_table(self._table(ready_only=True))

    def refresh(self) -> None:
        """Readiness changed somewhere: the builtin router follows at once (nginx uses passive checks)."""
        if self._proxy is not None:
            self._proxy.set_table(self._table(ready_only=True))

    @property
    def url(self) -> str | None:
        return f"http://{self.host}:{self.port}" if self.port else None

    # ----------------------------------------------------------- Target API

    async def check_reachable(self) -> None:
        if self.router_kind == "nginx":
            find_nginx()
        self.runtime.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.runtime.root, os.W_OK):
            raise DeployError(f"the local target cannot write to {self.runtime.root}")

    def _artifact_source(self, version: str) -> Path | None:
        if not self.service.artifact:
            return None
        return self.ctx.workdir / self.service.artifact.replace("{version}", version)

    async def check_version(self, version: str) -> None:
        if not self.service.command:
            raise DeployError(f"service '{self.service.name}' has no 'command': the local target cannot run it")
        source = self._artifact_source(version)
        if source is not None and not source.exists():
            raise DeployError(
                f"version {version} of '{self.service.name}' does not exist: {self.service.artifact.replace('{version}', version)} "  # type: ignore[union-attr]
                f"not found in {self.ctx.workdir}"
            )

    def _spec(self, revision: int, version: str) -> ReplicaSpec:
        release = self.release_root / f"r{revision}"
        release.mkdir(parents=True, exist_ok=True)
        artifact = ""
        source = self._artifact_source(version)
        if source is not None:
            dest = release / source.name
            if not dest.exists():
                if not source.exists():
                    raise DeployError(f"version {version} of '{self.service.name}' does not exist: {source} not found")
                if source.is_dir():
                    shutil.copytree(source, dest)
                else:
                    shutil.copy2(source, dest)
            artifact = str(dest)
        values = {
            "{version}": version,
            "{artifact}": artifact,
            "{release}": str(release),
            "{revision}": str(revision),
            "{service}": self.service.name,
        }

        def fill(text: str) -> str:
            for k, v in values.items():
                text = text.replace(k, v)
            return text

        assert self.service.command is not None
        argv = tuple(fill(a) for a in shlex.split(self.service.command))
        env = dict(os.environ)
        env.update({k: fill(v) for k, v in self.service.env.items()})
        env.update({"PHEME_SERVICE": self.service.name, "PHEME_VERSION": version, "PHEME_REVISION": str(revision)})
        env["PHEME_PORT"] = "{port}"
        cwd = release if artifact else self.ctx.workdir
        log = self.log_root / f"r{revision}.log"
        return ReplicaSpec(argv, env, cwd, log, self.service.health)

    async def start(self, revision: int, version: str, replicas: int, role: Role) -> None:
        async with self._lock:
            await self._ensure_router()
            existing = self.revisions.get(revision)
            if existing is not None:
                self._cancel_removal(existing)
                existing.role = role
                self._scale_up(existing, replicas)
            else:
                spec = self._spec(revision, version)
                rev = _Revision(revision, version, role, spec)
                self.revisions[revision] = rev
                self._scale_up(rev, replicas)
            self.runtime.save()

    def _scale_up(self, rev: _Revision, replicas: int) -> None:
        while len(rev.replicas) < replicas:
            rev.replicas.append(self.runtime.supervisor.spawn(rev.spec))

    async def scale(self, revision: int, replicas: int) -> None:
        async with self._lock:
            rev = self._get(revision)
            self._scale_up(rev, replicas)
            extra = rev.replicas[replicas:]
            if extra:
                del rev.replicas[replicas:]
                await self._apply_routes()
                await self._stop_replicas(extra)
            self.runtime.save()

    def _get(self, revision: int) -> _Revision:
        rev = self.revisions.get(revision)
        if rev is None:
            raise DeployError(f"revision {revision} of {self.key} is not running")
        return rev

    async def wait_ready(self, revision: int, replicas: int, timeout: float) -> None:
        rev = self._get(revision)
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            current = list(rev.replicas)
            results = await asyncio.gather(*(r.probe(min(2.0, max(0.1, deadline - time.monotonic()))) for r in current))
            if sum(results) >= replicas:
                self.refresh()
                return
            if time.monotonic() >= deadline:
                errors = sorted({r.last_error for r in current if not r.ready and r.last_error})
                detail = "; ".join(errors) or "not ready"
                tail = self._log_tail(rev, 3)
                raise DeployError(
                    f"{sum(results)}/{replicas} replica(s) ready after {timeout:g}s: {detail}"
                    + (f" (log: {' | '.join(tail)})" if tail else "")
                )
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.25)

    async def set_traffic(self, weights: Mapping[int, int]) -> None:
        async with self._lock:
            clean = {int(r): int(w) for r, w in weights.items() if w > 0}
            for rev_no in clean:
                rev = self.revisions.get(rev_no)
                if rev is None:
                    raise DeployError(f"cannot route to revision {rev_no}: it is not running")
                if not rev.ready_addrs():
                    results = await asyncio.gather(*(r.probe() for r in rev.replicas))
                    if not any(results):
                        raise DeployError(f"refusing to route to revision {rev_no}: no replica passes its health check")
                self._cancel_removal(rev)
            previous = self.weights
            self.weights = clean
            try:
                await self._apply_routes()
            except BaseException:
                self.weights = previous
                raise
            for rev_no in clean:
                self.revisions[rev_no].role = "stable" if clean[rev_no] == 100 else self.revisions[rev_no].role
            self.runtime.save()

    async def stop(self, revision: int, delay: float = 0.0) -> None:
        rev = self.revisions.get(revision)
        if rev is None:
            return
        if self.weights.get(revision, 0) > 0:
            raise DeployError(f"refusing to remove revision {revision}: it still gets {self.weights[revision]}% of the traffic")
        if delay > 0:
            self._cancel_removal(rev)
            rev.remove_at = time.time() + delay
            rev.removal = asyncio.get_running_loop().create_task(self._remove_later(revision, delay))
            self.runtime.save()
            return
        async with self._lock:
            await self._remove(revision)

    async def _remove_later(self, revision: int, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock:
            rev = self.revisions.get(revision)
            if rev is not None and self.weights.get(revision, 0) == 0 and rev.remove_at is not None:
                rev.removal = None
                await self._remove(revision)

    def _cancel_removal(self, rev: _Revision) -> None:
        rev.remove_at = None
        task, rev.removal = rev.removal, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _remove(self, revision: int) -> None:
        rev = self.revisions.pop(revision, None)
        if rev is None:
            return
        self._cancel_removal(rev)
        await self._apply_routes()
        await self._stop_replicas(rev.replicas)
        self.runtime.save()

    async def _stop_replicas(self, replicas: Sequence[Replica]) -> None:
        if self._proxy is not None:
            await self._proxy.drain([r.addr for r in replicas])
        await asyncio.gather(*(self.runtime.supervisor.stop(r) for r in replicas))

    async def state(self) -> TargetState:
        revisions = tuple(
            RevisionState(
                r.revision,
                r.version,
                r.role,
                len(r.replicas),
                sum(1 for x in r.replicas if x.ready),
                tuple(x.url for x in r.replicas),
                r.remove_at,
            )
            for r in sorted(self.revisions.values(), key=lambda r: r.revision)
        )
        return TargetState(
            self.service.name, self.ctx.environment.name, self.kind, self.url, dict(self.weights), revisions, self.router_kind
        )

    def revision_url(self, revision: int) -> str | None:
        rev = self.revisions.get(revision)
        if rev is None or not rev.replicas:
            return None
        ready = [r for r in rev.replicas if r.ready] or rev.replicas
        return ready[0].url

    def _log_tail(self, rev: _Revision, n: int) -> list[str]:
        try:
            with open(rev.spec.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        return [ln for ln in lines if ln.strip()][-n:]

    async def logs(self, revision: int, tail: int = 50) -> list[str]:
        rev = self.revisions.get(revision)
        if rev is None:
            path = self.log_root / f"r{revision}.log"
            if not path.exists():
                return []
            rev = _Revision(revision, "", "stable", ReplicaSpec((), {}, path.parent, path, self.service.health))
        return self._log_tail(rev, tail)

    async def close(self) -> None:
        return None

    async def shutdown(self, *, keep: bool) -> None:
        """The agent stops: stop everything, or (``keep``) leave it for the next agent to adopt."""
        for rev in list(self.revisions.values()):
            if rev.removal is not None:
                rev.removal.cancel()
            if keep:
                for r in rev.replicas:
                    self.runtime.supervisor.release(r)
        if not keep:
            self.weights = {}
            if self._proxy is not None:
                self._proxy.set_table({})
            for rev in list(self.revisions.values()):
                await self._stop_replicas(rev.replicas)
            self.revisions.clear()
            if self.router_kind == "nginx":
                with contextlib.suppress(DeployError):
                    await self.runtime.nginx.remove(self.key)
        if self._proxy is not None:
            await self._proxy.close()
            self._proxy = None

    # ----------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        return {
            "router": self.router_kind,
            "host": self.host,
            "port": self.port,
            "weights": {str(k): v for k, v in self.weights.items()},
            "revisions": {
                str(r.revision): {
                    "version": r.version,
                    "role": r.role,
                    "remove_at": r.remove_at,
                    "spec": {
                        "argv": list(r.spec.argv),
                        "env": {k: v for k, v in r.spec.env.items() if k in self.service.env or k.startswith("PHEME_")},
                        "cwd": str(r.spec.cwd),
                        "log": str(r.spec.log),
                    },
                    "replicas": [{"port": x.port, "pid": x.pid, "started": x.started} for x in r.replicas],
                }
                for r in self.revisions.values()
            },
        }

    async def restore(self, data: Mapping[str, Any]) -> None:
        """Adopt what an earlier agent left running (restart what died), re-create the router."""
        self.port = int(data.get("port") or self.port)
        for rev_key, raw in (data.get("revisions") or {}).items():
            spec_raw = raw["spec"]
            env = dict(os.environ)
            env.update(spec_raw.get("env") or {})
            spec = ReplicaSpec(tuple(spec_raw["argv"]), env, Path(spec_raw["cwd"]), Path(spec_raw["log"]), self.service.health)
            rev = _Revision(int(rev_key), raw["version"], raw.get("role", "stable"), spec)
            for rep in raw.get("replicas") or []:
                rev.replicas.append(self.runtime.supervisor.adopt(spec, int(rep["port"]), int(rep["pid"]), rep.get("started")))
            self.revisions[rev.revision] = rev
            remove_at = raw.get("remove_at")
            if remove_at is not None:
                rev.remove_at = float(remove_at)
                rev.removal = asyncio.get_running_loop().create_task(
                    self._remove_later(rev.revision, max(0.0, rev.remove_at - time.time()))
                )
        self.weights = {int(k): int(v) for k, v in (data.get("weights") or {}).items()}
        # Probe once so the builtin router starts with the replicas that answer.
        await asyncio.gather(*(r.probe() for rev in self.revisions.values() for r in rev.replicas))
        await self._apply_routes()


def open_target(ctx: TargetContext) -> LocalTarget:
    """The local target for ``ctx`` (one object per (service, environment) in the agent)."""
    runtime = ctx.runtime
    if not isinstance(runtime, LocalRuntime):
        raise DeployError("the local target runs inside the deploy agent (pheme agent)")
    key = f"{ctx.service.name}/{ctx.environment.name}"
    target = runtime.targets.get(key)
    if target is None or target.router_kind != ctx.environment.target.router:
        target = LocalTarget(ctx, runtime)
        runtime.targets[key] = target
    else:
        target.ctx = ctx  # newer deploy file / workdir; running revisions stay
        target.service = ctx.service
    return target
