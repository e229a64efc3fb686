"""Supervised local processes: start, health-probe, restart on crash, stop gracefully, adopt.

Each replica is one process in its own session (so it outlives the agent
and can be adopted by the next one, see :meth:`Supervisor.adopt`), bound to
a port Pheme picked, with its output appended to a log file. A watcher task
per replica probes its HTTP health check every ``period`` seconds and notices
an exit; a replica that dies while wanted is restarted on the same port with
a growing backoff, and is "not ready" (gets no traffic) until its health
check passes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pheme.core.deploy.model import Health
from pheme.deploy._http import http_get
from pheme.errors import DeployError

__all__ = ["Replica", "ReplicaSpec", "Supervisor", "free_port", "process_alive"]

STOP_GRACE = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(b")", 1)[-1].split()[0:1]
    return state != [b"Z"]


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    log: Path
    health: Health


@dataclass(eq=False)
class Replica:
    """One process. ``ready`` is the last health check's answer."""

    spec: ReplicaSpec
    port: int
    host: str = "127.0.0.1"
    pid: int = 0
    started: int | None = None  # process start time (for adoption)
    ready: bool = False
    restarts: int = 0
    last_error: str = ""
    wanted: bool = True
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self.pid > 0 and process_alive(self.pid) and process_start_time(self.pid) == self.started

    async def probe(self, timeout: float | None = None) -> bool:
        """One fresh health check; updates :attr:`ready`."""
        health = self.spec.health
        try:
            status, _ = await http_get(self.host, self.port, health.path, timeout or health.timeout)
            ok = 200 <= status < 300
            self.last_error = "" if ok else f"health check {health.path} answered {status}"
        except (OSError, TimeoutError) as exc:
            ok = False
            self.last_error = f"health check {health.path} failed: {exc.__class__.__name__} {exc}".strip()
        except Exception as exc:  # malformed answers count as failures
            ok = False
            self.last_error = f"health check {health.path} failed: {exc}"
        if ok and not self.alive():
            ok = False
        self.ready = ok
        return ok


class Supervisor:
    """Owns replicas; calls ``on_change()`` whenever a replica's readiness or pid changes."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self.replicas: set[Replica] = set()

    def spawn(self, spec: ReplicaSpec, port: int | None = None) -> Replica:
        replica = Replica(spec, port or free_port())
        self._launch(replica)
        self.replicas.add(replica)
        replica._task = asyncio.get_running_loop().create_task(self._watch(replica))
        return replica

    def adopt(self, spec: ReplicaSpec, port: int, pid: int, started: int | None) -> Replica:
        """Take over a replica started by an earlier agent (restarted if it is gone)."""
        replica = Replica(spec, port, pid=pid, started=started)
        if not replica.alive():
            self._launch(replica)
        self.replicas.add(replica)
        replica._task = asyncio.get_running_loop().create_task(self._watch(replica))
        return replica

    def _launch(self, replica: Replica) -> None:
        spec = replica.spec
        argv = [a.replace("{port}", str(replica.port)) for a in spec.argv]
        env = {k: v.replace("{port}", str(replica.port)) for k, v in spec.env.items()}
        spec.log.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log, "ab") as log:
            log.write(f"--- pheme: starting {' '.join(argv)} on port {replica.port}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=spec.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise DeployError(f"cannot start '{argv[0]}': {exc.strerror or exc}") from None
        replica._proc = proc
        replica.pid = proc.pid
        replica.started = process_start_time(proc.pid)
        replica.ready = False

    async def _watch(self, replica: Replica) -> None:
        backoff = 1.0
        down_since: float | None = None
        while replica.wanted:
            was = replica.ready
            if replica.alive():
                await replica.probe()
                if replica.ready:
                    backoff = 1.0
                down_since = None
            else:
                replica.ready = False
                now = time.monotonic()
                if down_since is None:
                    down_since = now
                    replica.last_error = f"process {replica.pid} exited"
                elif now - down_since >= backoff and replica.wanted:
                    replica.restarts += 1
                    backoff = min(backoff * 2, 30.0)
                    down_since = None
                    with contextlib.suppress(DeployError):
                        self._launch(replica)
                    self._on_change()
            if replica.ready != was:
                self._on_change()
            await asyncio.sleep(replica.spec.health.period)

    async def stop(self, replica: Replica, grace: float = STOP_GRACE) -> None:
        """SIGTERM the replica's process group, SIGKILL after ``grace`` seconds."""
        replica.wanted = False
        replica.ready = False
        if replica._task is not None:
            replica._task.cancel()
        self.replicas.discard(replica)
        if not replica.alive():
            self._reap(replica)
            return
        _signal_group(replica.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and replica.alive():
            await asyncio.sleep(0.02)
        if replica.alive():
            _signal_group(replica.pid, signal.SIGKILL)
            while replica.alive():
                await asyncio.sleep(0.02)
        self._reap(replica)

    def _reap(self, replica: Replica) -> None:
        if replica._proc is not None:
            with contextlib.suppress(Exception):
                replica._proc.wait(timeout=0)

    def release(self, replica: Replica) -> None:
        """Stop watching without stopping the process (the agent exits, the service stays)."""
        replica.wanted = False
        if replica._task is not None:
            replica._task.cancel()
        self.replicas.discard(replica)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
