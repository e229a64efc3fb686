"""The CLI's side of the deploy agent: find it, start it if absent, call its API.

Standard library only (``http.client`` over a Unix socket), so a command
such as ``pheme rollback`` costs an interpreter start and one round trip:
the agent, which already has the store open, does the work.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pheme.errors import DeployError, UsageError

__all__ = ["AgentClient", "AgentPaths", "agent_paths", "agent_running", "ensure_agent"]

START_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class AgentPaths:
    root: Path
    socket: Path
    lock: Path
    state: Path
    log: Path
    info: Path


def agent_paths(home: Path) -> AgentPaths:
    """Where one home's agent keeps its socket, lock, state and log."""
    root = home / "deploy"
    sock = root / "agent.sock"
    if len(str(sock)) > 100:  # AF_UNIX paths are limited to 108 bytes
        digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
        sock = Path(f"/tmp/pheme-agent-{digest}.sock")
    return AgentPaths(root, sock, root / "agent.lock", root / "state.json", root / "agent.log", root / "agent.json")


def _paths(home: Path) -> AgentPaths:
    return agent_paths(home)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class AgentClient:
    """Calls to one home's agent. Errors from the agent come back as PhemeErrors (one line)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.socket = str(_paths(home).socket)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 60.0) -> Any:
        conn = _UnixConnection(self.socket, timeout)
        try:
            payload = json.dumps(body or {}).encode()
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json", "Connection": "close"})
            response = conn.getresponse()
            data = json.loads(response.read() or b"{}")
        except (OSError, ValueError) as exc:
            raise DeployError(f"the deploy agent at {self.socket} is unreachable: {exc}") from None
        finally:
            conn.close()
        if response.status >= 400:
            message = data.get("error", f"the deploy agent answered {response.status}")
            if data.get("code") == 2:
                raise UsageError(message)
            raise DeployError(message)
        return data

    def ping(self) -> bool:
        try:
            self.call("GET", "/ping", timeout=2.0)
        except DeployError:
            return False
        return True


def agent_running(home: Path) -> bool:
    return AgentClient(home).ping()


def ensure_agent(home: Path) -> AgentClient:
    """A client for a running agent, starting one (detached, surviving this process) if needed."""
    client = AgentClient(home)
    if client.ping():
        return client
    paths = _paths(home)
    paths.root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PHEME_HOME"] = str(home)
    with open(paths.log, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "pheme.deploy.agent"],
            env=env,
            cwd=str(home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.02
    while time.monotonic() < deadline:
        if client.ping():
            return client
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
    tail = ""
    with contextlib.suppress(OSError):
        lines = [ln for ln in paths.log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1] if lines else ""
    raise DeployError(f"the deploy agent did not start within {START_TIMEOUT:g}s" + (f": {tail}" if tail else f" (see {paths.log})"))
