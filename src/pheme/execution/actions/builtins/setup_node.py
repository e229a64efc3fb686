"""``actions/setup-node``: choose an installed Node.js by version spec.

The spec (``node-version``, or ``node-version-file``) is matched against the
interpreters already on this machine (see ``_tools``) with setup-node's
rules (:mod:`pheme.core.versions`); the highest match goes first on PATH and
``node-version`` is output as ``vX.Y.Z``. Nothing is downloaded: an
unsatisfiable spec fails and lists what is installed. ``cache: npm`` wires
npm's cache directory to the Pheme cache (restored now, saved after the
job), keyed like setup-node on the lock file's hash. ``registry-url``
writes an ``.npmrc`` and points ``NPM_CONFIG_USERCONFIG`` at it, as the real
action does.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, ClassVar

from pheme.core.versions import VersionSpec, VersionSpecError, node_version_from_file
from pheme.errors import ActionError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import add_path, export_env, job_status, log_warning, set_output
from pheme.execution.actions.builtins._builtin import Builtin
from pheme.execution.actions.builtins._services import capture, tool_env
from pheme.execution.actions.builtins._tools import Install, find_installs, make_shim
from pheme.execution.actions.builtins.cache import restore_paths, save_paths

__all__ = ["SetupNode", "choose_install"]

_LOCKS = {"npm": ["package-lock.json", "npm-shrinkwrap.json", "yarn.lock"], "yarn": ["yarn.lock"], "pnpm": ["pnpm-lock.yaml"]}


def choose_install(kind: str, spec_text: str, installs: list[Install], label: str) -> Install:
    try:
        spec = VersionSpec.parse(spec_text)
    except VersionSpecError as exc:
        raise ActionError(f"invalid {label} '{spec_text}': {exc}") from None
    best = spec.best([i.version for i in installs])
    if best is None:
        available = ", ".join(f"{i.version} ({i.executable})" for i in installs) or "none"
        raise ActionError(
            f"Unable to find {kind} version '{spec_text}' on this machine (Pheme does not download). "
            f"Installed: {available}. Install it, or place it in $RUNNER_TOOL_CACHE"
        )
    return next(i for i in installs if i.version == best)


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)


class SetupNode(Builtin):
    NAME = "actions/setup-node"
    INPUTS: ClassVar[dict[str, Any]] = {
        "node-version": "",
        "node-version-file": "",
        "architecture": "",
        "check-latest": "false",
        "registry-url": "",
        "scope": "",
        "token": "${{ github.token }}",
        "cache": "",
        "package-manager-cache": "true",
        "cache-dependency-path": "",
        "always-auth": "false",
        "mirror": "",
        "mirror-token": "",
    }

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._cache_key = ""
        self._cache_paths = ""
        self._matched: str | None = None

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        ws = Path(rt.env.get("GITHUB_WORKSPACE") or rt.workspace)
        spec = self.get("node-version").strip()
        version_file = self.get("node-version-file").strip()
        if spec and version_file:
            log_warning(rt, "Both node-version and node-version-file inputs are specified, only node-version will be used")
        if not spec and version_file:
            path = ws / version_file
            try:
                spec = node_version_from_file(version_file, path.read_text(encoding="utf-8"))
            except OSError:
                raise ActionError(f"The specified node version file at: {path} does not exist") from None
            except VersionSpecError as exc:
                raise ActionError(str(exc)) from None
            rt.log([f"Resolved {version_file} as {spec}"])
        installs = find_installs("node", dict(rt.env))
        if spec:
            chosen = choose_install("Node.js", spec, installs, "node-version")
        else:
            if not installs:
                raise ActionError("no Node.js found on this machine")
            chosen = installs[0]
            rt.log(["The node-version input is not set: using the node found on PATH"])
        temp = rt.env.get("RUNNER_TEMP") or rt.temp
        shim = make_shim(os.path.join(temp, "_pheme_tools"), "node", chosen)
        add_path(rt, shim)
        rt.log([f"Found in this machine: node {chosen.version} at {chosen.executable}"])
        set_output(rt, "node-version", f"v{chosen.version}")

        registry = self.get("registry-url").strip()
        if registry:
            self._write_npmrc(rt, registry, temp)

        manager = self.get("cache").strip()
        if manager:
            await self._restore(rt, manager, ws)
        return "success"

    def _write_npmrc(self, rt: StepRuntime, registry: str, temp: str) -> None:
        if not registry.endswith("/"):
            registry += "/"
        scope = self.get("scope").strip()
        if not scope and "npm.pkg.github.com" in registry:
            scope = rt.env.get("GITHUB_REPOSITORY_OWNER", "")
        if scope and not scope.startswith("@"):
            scope = "@" + scope
        host = registry.split("://", 1)[-1]
        lines = [f"//{host}:_authToken=${{NODE_AUTH_TOKEN}}"]
        lines.append(f"{scope.lower()}:registry={registry}" if scope else f"registry={registry}")
        lines.append(f"always-auth={self.get('always-auth', 'false')}")
        npmrc = os.path.join(temp, ".npmrc")
        with open(npmrc, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        export_env(rt, {"NPM_CONFIG_USERCONFIG": npmrc, "NODE_AUTH_TOKEN": rt.env.get("NODE_AUTH_TOKEN") or "XXXXX-XXXXX-XXXXX-XXXXX"})

    async def _restore(self, rt: StepRuntime, manager: str, ws: Path) -> None:
        if manager not in _LOCKS:
            raise ActionError(f"Caching for '{manager}' is not supported")
        dep_path = self.get("cache-dependency-path").strip()
        patterns = [dep_path] if dep_path else _LOCKS[manager]
        hash_files = rt.expr.hash_files
        digest = hash_files(patterns) if hash_files else ""
        if not digest:
            raise ActionError(
                f"Dependencies lock file is not found in {ws}. Supported file patterns: {','.join(_LOCKS[manager])}"
            )
        if manager == "npm":
            code, out = await capture(["npm", "config", "get", "cache"], cwd=str(ws), env=tool_env(rt.env))
            cache_dir = out.strip().splitlines()[-1] if code == 0 and out.strip() else str(Path.home() / ".npm")
        elif manager == "yarn":
            code, out = await capture(["yarn", "cache", "dir"], cwd=str(ws), env=tool_env(rt.env))
            cache_dir = out.strip().splitlines()[-1] if code == 0 and out.strip() else ""
        else:
            code, out = await capture(["pnpm", "store", "path", "--silent"], cwd=str(ws), env=tool_env(rt.env))
            cache_dir = out.strip().splitlines()[-1] if code == 0 and out.strip() else ""
        if not cache_dir:
            raise ActionError(f"Could not get the {manager} cache folder path")
        self._cache_key = f"node-cache-{platform.system().lower()}-{_arch()}-{manager}-{digest}"
        self._cache_paths = cache_dir
        matched, exact = await restore_paths(rt, self.services, self._cache_key, [], cache_dir)
        self._matched = matched
        set_output(rt, "cache-hit", "true" if exact else "false")
        self._has_post = True

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        if not self._cache_key:
            return "success"
        if job_status(rt) != "success":
            rt.log(["Skipping cache save: the job has not succeeded"])
            return "success"
        if self._matched == self._cache_key:
            rt.log([f"Cache hit occurred on the primary key {self._cache_key}, not saving cache."])
            return "success"
        if not os.path.isdir(self._cache_paths):
            log_warning(rt, f"Cache folder path is retrieved but doesn't exist on disk: {self._cache_paths}")
            return "success"
        await save_paths(rt, self.services, self._cache_key, self._cache_paths)
        return "success"
