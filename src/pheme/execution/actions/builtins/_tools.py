"""Finding interpreters already installed on this machine (we never download).

Candidates come from the step's PATH, from ``RUNNER_TOOL_CACHE`` laid out as
GitHub's tool cache (``<cache>/node/<version>/<arch>/bin``,
``<cache>/Python/<version>/<arch>/bin``), and from the usual version
managers (nvm, n, pyenv). Each executable's version is asked once per
process. A chosen interpreter is put first on PATH through a small shim
directory (symlinks) so a system directory like ``/usr/bin`` is never
prepended wholesale.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pheme.core.versions import Version, VersionSpecError, parse_version

__all__ = ["Install", "find_installs", "make_shim"]


@dataclass(frozen=True, slots=True)
class Install:
    version: Version
    executable: str  # absolute path as found (not resolved)

    @property
    def bin_dir(self) -> str:
        return os.path.dirname(self.executable)


@lru_cache(maxsize=128)
def _version_of(real: str, kind: str) -> Version | None:
    try:
        out = subprocess.run([real, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout + out.stderr).strip()
    m = re.search(r"(\d+\.\d+\.\d+(?:[-.]?[A-Za-z0-9.]+)?)", text) if kind == "python" else re.match(r"v?(\S+)", text)
    if not m:
        return None
    try:
        return parse_version(m.group(1))
    except VersionSpecError:
        return None


def _candidates(kind: str, env: dict[str, str]) -> list[str]:
    names = ["node"] if kind == "node" else ["python3", "python"]
    found: list[str] = []
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        if not directory or directory.rstrip("/").endswith("/shims"):
            continue  # pyenv/asdf shims answer for whatever version is selected
        for name in names:
            found.append(os.path.join(directory, name))
        if kind == "python":
            found.extend(sorted(glob.glob(os.path.join(glob.escape(directory), "python3.[0-9]*"))))
    home = Path.home()
    tool_cache = env.get("RUNNER_TOOL_CACHE", "")
    if kind == "node":
        patterns = [
            f"{tool_cache}/node/*/*/bin/node" if tool_cache else "",
            f"{home}/.nvm/versions/node/*/bin/node",
            "/usr/local/n/versions/node/*/bin/node",
            "/opt/hostedtoolcache/node/*/*/bin/node",
        ]
    else:
        patterns = [
            f"{tool_cache}/Python/*/*/bin/python3" if tool_cache else "",
            f"{home}/.pyenv/versions/*/bin/python3",
            "/opt/hostedtoolcache/Python/*/*/bin/python3",
        ]
    for pattern in patterns:
        if pattern:
            found.extend(sorted(glob.glob(pattern)))
    return found


def find_installs(kind: str, env: dict[str, str]) -> list[Install]:
    """Installed ``node`` or ``python`` interpreters, one per real executable, PATH order first."""
    seen: set[str] = set()
    installs: list[Install] = []
    for path in _candidates(kind, env):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        if re.search(r"python3\.\d+-config$|m$", os.path.basename(path)) and kind == "python":
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        version = _version_of(real, kind)
        if version is not None:
            installs.append(Install(version, path))
    return installs


def make_shim(base: str, kind: str, install: Install) -> str:
    """A directory with links to the chosen interpreter (and its npm/pip), for PATH."""
    shim = os.path.join(base, f"{kind}-{install.version}", "bin")
    os.makedirs(shim, exist_ok=True)
    exe = os.path.realpath(install.executable)
    links: dict[str, str] = {}
    if kind == "node":
        links["node"] = exe
        for tool in ("npm", "npx", "corepack"):
            sibling = os.path.join(install.bin_dir, tool)
            if os.path.exists(sibling):
                links[tool] = os.path.realpath(sibling)
    else:
        v = install.version
        for name in ("python", "python3", f"python{v.major}.{v.minor}"):
            links[name] = exe
    for name, target in links.items():
        link = os.path.join(shim, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)
    if kind == "python":
        for name in ("pip", "pip3"):
            script = os.path.join(shim, name)
            with open(script, "w", encoding="utf-8") as f:
                f.write(f'#!/bin/sh\nexec "{exe}" -m pip "$@"\n')
            os.chmod(script, 0o755)
    return shim
