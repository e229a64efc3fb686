"""Pheme's own nginx instance (router ``nginx``): weighted upstreams, switched by graceful reload.

One nginx master per ``PHEME_HOME``, with its prefix, config, pid file, logs
and temp directories under ``PHEME_HOME/deploy/nginx`` and its ports chosen by
Pheme: it is not the system's nginx service and never touches
``/etc/nginx``. Every (service, environment) routed by nginx is one
``server`` block with one ``upstream`` whose servers are the replicas,
weighted by their revision's share.

A switch is: render the whole config, write it aside, ``nginx -t`` it (a
refused config changes nothing), move it in place, reload gracefully
(SIGHUP to the master, what ``nginx -s reload`` sends), then wait until the
switch is effective: a control ``server`` on a private port answers the
config generation, and every old worker has announced "shutting down"
(it closes its listening sockets right then). Old workers finish the
requests they hold; idle keep-alive connections are closed, which HTTP
clients handle by retrying on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pheme.deploy._http import http_get
from pheme.deploy.supervisor import free_port, process_alive
from pheme.errors import DeployError

__all__ = ["NginxInstance", "find_nginx"]

Address = tuple[str, int]
RELOAD_TIMEOUT = 10.0


def find_nginx() -> str:
    """The nginx binary, or a DeployError saying how to install it."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if not found:
        raise DeployError("nginx is not installed (router 'nginx'): install the Debian package 'nginx', or use router 'builtin'")
    return found


@dataclass(frozen=True, slots=True)
class _Site:
    host: str
    port: int
    # revision -> (weight, replica addresses)
    table: tuple[tuple[int, int, tuple[Address, ...]], ...]


def _name(key: str) -> str:
    return "pheme_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


class NginxInstance:
    """The nginx master under ``prefix``; sites are (re)applied with :meth:`apply`."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.conf = prefix / "nginx.conf"
        self.pid_file = prefix / "nginx.pid"
        self.error_log = prefix / "error.log"
        self._sites: dict[str, _Site] = {}
        self._lock = asyncio.Lock()
        self._generation = 0
        self._control_port = 0
        self.reloads = 0

    # ---------------------------------------------------------------- public

    async def apply(self, key: str, host: str, port: int, table: Mapping[int, tuple[int, Sequence[Address]]]) -> None:
        """Route ``key``'s port by ``table``; returns once new requests follow it."""
        site = _Site(host, port, tuple((rev, w, tuple(a)) for rev, (w, a) in sorted(table.items()) if w > 0 and a))
        async with self._lock:
            if self._sites.get(key) == site and self.running():
                return
            old = self._sites.get(key)
            self._sites[key] = site
            try:
                await self._commit()
            except BaseException:
                if old is None:
                    self._sites.pop(key, None)
                else:
                    self._sites[key] = old
                raise

    async def remove(self, key: str) -> None:
        async with self._lock:
            if self._sites.pop(key, None) is not None and self.running():
                await self._commit()

    def master_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    def running(self) -> bool:
        return self.master_pid() is not None

    async def stop(self) -> None:
        """Graceful quit (SIGQUIT); waits for the master to exit."""
        pid = self.master_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 15
        while process_alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if process_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # -------------------------------------------------------------- internals

    def _render(self) -> str:
        p = self.prefix
        lines = [
            "# Written by Pheme for its local deployments; regenerated on every traffic change. Do not edit.",
            "worker_processes 1;",
            "daemon on;",
            f"pid {p / 'nginx.pid'};",
            f"error_log {self.error_log} warn;",
            "worker_shutdown_timeout 30s;",
        ]
        if os.geteuid() == 0:
            lines.append("user root;")  # temp dirs and logs are Pheme's own, under PHEME_HOME
        lines += [
            "events { worker_connections 4096; }",
            "http {",
            "  access_log off;",
            f"  client_body_temp_path {p / 'tmp' / 'body'};",
            f"  proxy_temp_path {p / 'tmp' / 'proxy'};",
            f"  fastcgi_temp_path {p / 'tmp' / 'fastcgi'};",
            f"  uwsgi_temp_path {p / 'tmp' / 'uwsgi'};",
            f"  scgi_temp_path {p / 'tmp' / 'scgi'};",
            "  keepalive_timeout 75s;",
            "  keepalive_requests 100000;",
            "  proxy_http_version 1.1;",
            '  proxy_set_header Connection "";',
            "  proxy_set_header Host $http_host;",
            "  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "  proxy_connect_timeout 2s;",
            "  proxy_next_upstream error timeout;",
            "  proxy_next_upstream_tries 4;",
            f"  server {{ listen 127.0.0.1:{self._control_port}; "
            f'location = /__pheme/generation {{ return 200 "{self._generation}"; }} }}',
        ]
        for key, site in sorted(self._sites.items()):
            name = _name(key)
            if site.table:
                lines.append(f"  upstream {name} {{")
                for _, weight, addrs in site.table:
                    each = max(1, round(weight * 100 / len(addrs)))
                    for host, port in addrs:
                        lines.append(f"    server {host}:{port} weight={each} max_fails=1 fail_timeout=2s;")
                lines += ["    keepalive 32;", "  }"]
                location = f"proxy_pass http://{name};"
            else:
                location = 'default_type text/plain; return 503 "no ready upstream\\n";'
            lines.append(f"  server {{ listen {site.host}:{site.port}; location / {{ {location} }} }}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    async def _run(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            find_nginx(), "-p", f"{self.prefix}/", "-e", str(self.error_log), *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace").strip()

    async def _commit(self) -> None:
        for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        master = self.master_pid()
        if not self._control_port:
            port_file = self.prefix / "control.port"
            with contextlib.suppress(OSError, ValueError):
                self._control_port = int(port_file.read_text())
            if not self._control_port or master is None:
                self._control_port = free_port()
            port_file.write_text(str(self._control_port))
        self._generation = int(time.time() * 1000)
        text = self._render()
        candidate = self.prefix / "nginx.conf.new"
        candidate.write_text(text)
        code, out = await self._run("-t", "-q", "-c", str(candidate))
        if code != 0:
            last = out.splitlines()[-1] if out else f"exit code {code}"
            raise DeployError(f"nginx -t refused the new configuration: {last}")
        os.replace(candidate, self.conf)
        if master is None:
            code, out = await self._run("-c", str(self.conf))
            if code != 0:
                last = out.splitlines()[-1] if out else f"exit code {code}"
                raise DeployError(f"nginx did not start: {last}")
            old_workers: list[int] = []
        else:
            old_workers = _children(master)
            os.kill(master, signal.SIGHUP)
        self.reloads += 1
        await self._wait_effective(old_workers)

    async def _wait_effective(self, old_workers: list[int]) -> None:
        deadline = time.monotonic() + RELOAD_TIMEOUT
        want = str(self._generation).encode()
        seen = False
        while time.monotonic() < deadline:
            if not seen:
                with contextlib.suppress(OSError, TimeoutError, Exception):
                    _, body = await http_get("127.0.0.1", self._control_port, "/__pheme/generation", 1.0)
                    seen = body.strip() == want
            if seen and all(_worker_retired(pid) for pid in old_workers):
                return
            await asyncio.sleep(0.003)
        raise DeployError(f"nginx did not apply the new configuration within {RELOAD_TIMEOUT:g}s (see {self.error_log})")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def _worker_retired(pid: int) -> bool:
    """The old worker exited or closed its listeners ("worker process is shutting down")."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read()
    except OSError:
        return True
    return b"shutting down" in title or not process_alive(pid)
