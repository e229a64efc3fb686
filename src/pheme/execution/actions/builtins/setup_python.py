"""``actions/setup-python``: choose an installed Python by version spec.

Like setup-node (see there): specs from ``python-version`` (several lines:
each is set up, the last wins) or ``python-version-file``, matched against
installed interpreters; outputs ``python-version`` and ``python-path``; with
``update-environment`` (default) the interpreter goes first on PATH and
``pythonLocation``/``Python_ROOT_DIR``/``Python3_ROOT_DIR``/
``PKG_CONFIG_PATH`` are exported. ``cache: pip`` wires pip's cache
directory to the Pheme cache, keyed on the requirements files' hash.
PyPy/GraalPy specs are matched only against what is installed.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, ClassVar

from pheme.core.versions import VersionSpecError, python_version_from_file
from pheme.errors import ActionError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import add_path, export_env, job_status, log_warning, set_output
from pheme.execution.actions.builtins._builtin import Builtin, as_bool
from pheme.execution.actions.builtins._services import capture, tool_env
from pheme.execution.actions.builtins._tools import find_installs, make_shim
from pheme.execution.actions.builtins.cache import restore_paths, save_paths
from pheme.execution.actions.builtins.setup_node import choose_install

__all__ = ["SetupPython"]

_DEP_PATTERNS = {"pip": ["**/requirements.txt"], "pipenv": ["**/Pipfile.lock"], "poetry": ["**/poetry.lock"]}


class SetupPython(Builtin):
    NAME = "actions/setup-python"
    INPUTS: ClassVar[dict[str, Any]] = {
        "python-version": "",
        "python-version-file": "",
        "cache": "",
        "architecture": "",
        "check-latest": "false",
        "token": "${{ github.token }}",
        "cache-dependency-path": "",
        "update-environment": "true",
        "allow-prereleases": "false",
        "freethreaded": "false",
        "pip-version": "",
        "pip-install": "",
    }

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._cache_key = ""
        self._cache_paths = ""
        self._matched: str | None = None

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        ws = Path(rt.env.get("GITHUB_WORKSPACE") or rt.workspace)
        specs = [s.strip() for s in self.get("python-version").splitlines() if s.strip()]
        version_file = self.get("python-version-file").strip()
        if specs and version_file:
            log_warning(rt, "Both python-version and python-version-file inputs are specified, only python-version will be used.")
        if not specs and version_file:
            path = ws / version_file
            try:
                specs = python_version_from_file(version_file, path.read_text(encoding="utf-8"))
            except OSError:
                raise ActionError(f"The specified python version file at: {path} doesn't exist.") from None
            except VersionSpecError as exc:
                raise ActionError(str(exc)) from None
        if not specs and (ws / ".python-version").is_file():
            try:
                specs = python_version_from_file(".python-version", (ws / ".python-version").read_text(encoding="utf-8"))
            except (OSError, VersionSpecError):
                specs = []
        installs = find_installs("python", dict(rt.env))
        if not installs:
            raise ActionError("no Python interpreter found on this machine")
        allow_pre = as_bool(self.get("allow-prereleases"))
        chosen = installs[0]
        if not specs:
            log_warning(
                rt,
                "Neither 'python-version' nor 'python-version-file' inputs were supplied. "
                "Attempting to find '.python-version' file; using the Python on PATH.",
            )
        temp = rt.env.get("RUNNER_TEMP") or rt.temp
        update_env = as_bool(self.get("update-environment"), True)
        for spec in specs:
            text = spec
            if allow_pre and "-" not in text and text.count(".") <= 1 and text[:1].isdigit():
                text = f"{text}-dev"
            chosen = choose_install("Python", text, installs, "python-version")
            rt.log([f"Successfully set up Python {chosen.version} ({chosen.executable})"])
            if update_env:
                self._activate(rt, chosen.executable, temp)
        if not specs and update_env:
            self._activate(rt, chosen.executable, temp)
        set_output(rt, "python-version", str(chosen.version))
        set_output(rt, "python-path", chosen.executable)
        manager = self.get("cache").strip()
        if manager:
            await self._restore(rt, manager, ws, str(chosen.version))
        return "success"

    def _activate(self, rt: StepRuntime, executable: str, temp: str) -> None:
        installs = [i for i in find_installs("python", dict(rt.env)) if i.executable == executable]
        if not installs:
            return
        shim = make_shim(os.path.join(temp, "_pheme_tools"), "python", installs[0])
        prefix = str(Path(os.path.realpath(executable)).parent.parent)
        export_env(
            rt,
            {
                "pythonLocation": prefix,
                "PKG_CONFIG_PATH": f"{prefix}/lib/pkgconfig",
                "Python_ROOT_DIR": prefix,
                "Python2_ROOT_DIR": prefix,
                "Python3_ROOT_DIR": prefix,
            },
        )
        add_path(rt, shim)

    async def _restore(self, rt: StepRuntime, manager: str, ws: Path, version: str) -> None:
        if manager not in _DEP_PATTERNS:
            raise ActionError(f"Caching for '{manager}' is not supported")
        dep = self.get("cache-dependency-path").strip()
        patterns = [line.strip() for line in dep.splitlines() if line.strip()] if dep else _DEP_PATTERNS[manager]
        digest = rt.expr.hash_files(patterns) if rt.expr.hash_files else ""
        if not digest:
            raise ActionError(
                f"No file in {ws} matched to [{','.join(patterns)}], make sure you have checked out the target repository"
            )
        if manager == "pip":
            code, out = await capture(["python", "-m", "pip", "cache", "dir"], cwd=str(ws), env=tool_env(rt.env))
            cache_dir = out.strip().splitlines()[-1] if code == 0 and out.strip() else str(Path.home() / ".cache/pip")
        elif manager == "pipenv":
            cache_dir = str(Path.home() / ".local/share/virtualenvs")
        else:
            cache_dir = str(Path.home() / ".cache/pypoetry/virtualenvs")
        system = platform.system().lower()
        arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine().lower(), platform.machine().lower())
        self._cache_key = f"setup-python-{system}-{arch}-python-{version}-{manager}-{digest}"
        self._cache_paths = cache_dir
        matched, exact = await restore_paths(rt, self.services, self._cache_key, [], cache_dir)
        self._matched = matched
        set_output(rt, "cache-hit", "true" if exact else "false")
        self._has_post = True

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        if not self._cache_key or job_status(rt) != "success":
            return "success"
        if self._matched == self._cache_key:
            rt.log([f"Cache hit occurred on the primary key {self._cache_key}, not saving cache."])
            return "success"
        if not os.path.isdir(self._cache_paths):
            log_warning(rt, f"Cache folder path is retrieved for {self.get('cache')} but doesn't exist on disk: {self._cache_paths}")
            return "success"
        await save_paths(rt, self.services, self._cache_key, self._cache_paths)
        return "success"


