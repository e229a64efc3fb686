"""``snyk/actions/*``: a dependency scan that works without Snyk's service.

With the ``snyk`` CLI installed, it runs ``snyk <command> <args>`` exactly as
the action's container would. Without it, the ecosystem's own audit stands
in, and a notice says so: ``npm audit --json`` for Node projects
(``snyk/actions/node``), ``pip-audit`` for Python ones. The step fails when
a finding is at or above ``--severity-threshold=`` from ``args`` (default
``high``, Snyk's levels low < medium < high < critical).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Any, ClassVar

from pheme.errors import ActionError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import log_notice
from pheme.execution.actions.builtins._builtin import Builtin
from pheme.execution.actions.builtins._services import capture, tool_env

__all__ = ["LEVELS", "Snyk", "failing_counts"]

LEVELS = ("low", "medium", "high", "critical")
_NPM_LEVEL = {"info": None, "low": "low", "moderate": "medium", "high": "high", "critical": "critical"}


def failing_counts(counts: dict[str, int], threshold: str) -> dict[str, int]:
    """The counts at or above ``threshold`` (Snyk's level names)."""
    floor = LEVELS.index(threshold)
    return {level: n for level, n in counts.items() if level in LEVELS and LEVELS.index(level) >= floor and n}


class Snyk(Builtin):
    NAME = "snyk/actions"
    INPUTS: ClassVar[dict[str, Any]] = {"args": "", "command": "test", "json": "false", "sarif": "true"}

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        flavour = self.uses.split("@", 1)[0].split("/", 2)[2].lower() if self.uses.count("/") >= 2 else "node"
        path = rt.env.get("PATH", os.defpath)
        snyk = shutil.which("snyk", path=path)
        if flavour == "setup":
            if snyk is None:
                raise ActionError("snyk/actions/setup downloads the Snyk CLI, which needs the network: install 'snyk'")
            rt.log([f"Snyk CLI found at {snyk}"])
            return "success"
        args = shlex.split(self.get("args"))
        threshold = "high"
        for arg in args:
            if arg.startswith("--severity-threshold="):
                threshold = arg.split("=", 1)[1].strip().lower()
        if threshold not in LEVELS:
            raise ActionError(f"invalid --severity-threshold '{threshold}' (use one of {', '.join(LEVELS)})")
        ws = rt.env.get("GITHUB_WORKSPACE") or rt.workspace
        if snyk is not None:
            command = self.get("command", "test") or "test"
            code = await rt.run_command([snyk, command, *args], cwd=ws)
            if code != 0:
                if not rt.interrupted:
                    rt.fail(f"Process completed with exit code {code}.")
                return "failure"
            return "success"
        if flavour.startswith("node") or ((Path(ws) / "package.json").is_file() and not flavour.startswith("python")):
            return await self._npm_audit(rt, ws, threshold)
        if flavour.startswith("python"):
            return await self._pip_audit(rt, ws, threshold)
        raise ActionError(
            f"{self.uses}: the 'snyk' CLI is not installed and Pheme has no offline substitute for '{flavour}'"
        )

    async def _npm_audit(self, rt: StepRuntime, ws: str, threshold: str) -> PhaseOutcome:
        log_notice(rt, f"snyk is not installed: running 'npm audit --json' instead of {self.uses} (severity threshold {threshold})")
        if not (Path(ws) / "package-lock.json").is_file() and not (Path(ws) / "npm-shrinkwrap.json").is_file():
            raise ActionError("npm audit needs a package-lock.json (run 'npm install --package-lock-only')")
        code, out = await capture(["npm", "audit", "--json"], cwd=ws, env=tool_env(rt.env))
        try:
            start = out.index("{")
            report = json.loads(out[start:])
            raw_counts = report["metadata"]["vulnerabilities"]
        except (ValueError, KeyError, TypeError):
            tail = out.strip().splitlines()[-1] if out.strip() else f"exit code {code}"
            raise ActionError(f"npm audit did not produce a report (offline?): {tail}") from None
        counts: dict[str, int] = {}
        for level, n in raw_counts.items():
            mapped = _NPM_LEVEL.get(level)
            if mapped:
                counts[mapped] = counts.get(mapped, 0) + int(n)
        total = sum(counts.values())
        rt.log([f"npm audit: {total} vulnerable package(s): " + ", ".join(f"{k} {counts.get(k, 0)}" for k in LEVELS)])
        for name, vuln in sorted((report.get("vulnerabilities") or {}).items()):
            rt.log([f"  {vuln.get('severity', '?')}: {name} {vuln.get('range', '')}".rstrip()])
        bad = failing_counts(counts, threshold)
        if bad:
            rt.fail(f"Found {sum(bad.values())} vulnerabilit(y/ies) at or above severity '{threshold}'")
            return "failure"
        return "success"

    async def _pip_audit(self, rt: StepRuntime, ws: str, threshold: str) -> PhaseOutcome:
        log_notice(rt, f"snyk is not installed: running 'pip-audit' instead of {self.uses} (severity threshold {threshold})")
        tool = shutil.which("pip-audit", path=rt.env.get("PATH", os.defpath))
        if tool is None:
            raise ActionError("neither 'snyk' nor 'pip-audit' is installed: install one of them (pip install pip-audit)")
        argv = [tool, "-f", "json", "--progress-spinner", "off"]
        if (Path(ws) / "requirements.txt").is_file():
            argv += ["-r", "requirements.txt"]
        code, out = await capture(argv, cwd=ws, env=tool_env(rt.env))
        match = re.search(r"\{.*\}", out, re.S)
        try:
            report = json.loads(match.group(0)) if match else None
            deps = report["dependencies"] if isinstance(report, dict) else None
        except (ValueError, KeyError):
            deps = None
        if deps is None:
            tail = out.strip().splitlines()[-1] if out.strip() else f"exit code {code}"
            raise ActionError(f"pip-audit did not produce a report (offline?): {tail}")
        vulns = [(d.get("name"), d.get("version"), v.get("id")) for d in deps for v in d.get("vulns", [])]
        rt.log([f"pip-audit: {len(vulns)} known vulnerabilit(y/ies)"])
        for name, version, vid in vulns:
            rt.log([f"  {vid}: {name} {version}"])
        if vulns:
            # pip-audit reports no severity: every finding counts, whatever the threshold.
            rt.fail(f"Found {len(vulns)} vulnerabilit(y/ies) (pip-audit gives no severity; threshold '{threshold}')")
            return "failure"
        return "success"
