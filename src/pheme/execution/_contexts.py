"""The ``github`` and ``runner`` contexts and the default environment variables,
built the way GitHub's runner builds them, plus ``hashFiles``.

The contexts are plain dicts/lists/str (the expression language's values);
numbers that GitHub gives as strings (``run_id``, ``run_number``) stay strings.
"""

from __future__ import annotations

import glob
import hashlib
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pheme.execution._types import RunRequest

__all__ = ["default_env", "github_context", "hash_files_in", "runner_context"]


def _ref_name_and_type(ref: str) -> tuple[str, str]:
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], "branch"
    if ref.startswith("refs/tags/"):
        return ref[len("refs/tags/") :], "tag"
    if ref.startswith("refs/pull/"):
        return ref[len("refs/pull/") :], "branch"
    return ref, "branch" if ref else ""


def github_context(req: RunRequest, *, workspace: str, event_path: str, job_id: str) -> dict[str, Any]:
    payload = dict(req.event_payload)
    ref_name, ref_type = _ref_name_and_type(req.ref)
    head_ref = base_ref = ""
    if req.event_name in ("pull_request", "pull_request_target"):
        pr = payload.get("pull_request") or {}
        head_ref = str((pr.get("head") or {}).get("ref", ""))
        base_ref = str((pr.get("base") or {}).get("ref", ""))
    owner = req.repository.split("/", 1)[0]
    wf = req.workflow
    return {
        "action": "",
        "action_path": "",
        "action_ref": "",
        "action_repository": "",
        "action_status": "",
        "actor": req.actor,
        "triggering_actor": req.triggering_actor or req.actor,
        "api_url": req.api_url,
        "base_ref": base_ref,
        "env": "",
        "event": payload,
        "event_name": req.event_name,
        "event_path": event_path,
        "graphql_url": req.graphql_url,
        "head_ref": head_ref,
        "job": job_id,
        "path": "",
        "ref": req.ref,
        "ref_name": ref_name,
        "ref_protected": False,
        "ref_type": ref_type,
        "repository": req.repository,
        "repository_owner": owner,
        "repositoryUrl": f"git://{req.server_url.split('://', 1)[-1]}/{req.repository}.git",
        "retention_days": "90",
        "run_id": str(req.run_id),
        "run_number": str(req.run_number),
        "run_attempt": str(req.run_attempt),
        "secret_source": "Actions",
        "server_url": req.server_url,
        "sha": req.sha,
        "token": req.secrets.get("GITHUB_TOKEN", ""),
        "workflow": wf.display_name,
        "workflow_ref": f"{req.repository}/{wf.path}@{req.ref}",
        "workflow_sha": req.sha,
        "workspace": workspace,
        "output": "",
        "state": "",
        "step_summary": "",
    }


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "X64", "amd64": "X64", "aarch64": "ARM64", "arm64": "ARM64", "i686": "X86"}.get(
        machine, machine.upper()
    )


def runner_context(*, name: str, temp: str, tool_cache: str, debug: bool) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "name": name,
        "os": "Linux" if platform.system() == "Linux" else platform.system().replace("Darwin", "macOS"),
        "arch": _arch(),
        "temp": temp,
        "tool_cache": tool_cache,
        "environment": "self-hosted",
    }
    if debug:
        ctx["debug"] = "1"
    return ctx


def default_env(github: dict[str, Any], runner: dict[str, Any]) -> dict[str, str]:
    """The GITHUB_* and RUNNER_* variables every step sees (GitHub does not let
    workflows override these)."""
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": github["workspace"],
        "GITHUB_SHA": github["sha"],
        "GITHUB_REF": github["ref"],
        "GITHUB_REF_NAME": github["ref_name"],
        "GITHUB_REF_TYPE": github["ref_type"],
        "GITHUB_REF_PROTECTED": "false",
        "GITHUB_EVENT_NAME": github["event_name"],
        "GITHUB_EVENT_PATH": github["event_path"],
        "GITHUB_REPOSITORY": github["repository"],
        "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
        "GITHUB_RUN_ID": github["run_id"],
        "GITHUB_RUN_NUMBER": github["run_number"],
        "GITHUB_RUN_ATTEMPT": github["run_attempt"],
        "GITHUB_JOB": github["job"],
        "GITHUB_ACTOR": github["actor"],
        "GITHUB_TRIGGERING_ACTOR": github["triggering_actor"],
        "GITHUB_WORKFLOW": github["workflow"],
        "GITHUB_WORKFLOW_REF": github["workflow_ref"],
        "GITHUB_WORKFLOW_SHA": github["workflow_sha"],
        "GITHUB_SERVER_URL": github["server_url"],
        "GITHUB_API_URL": github["api_url"],
        "GITHUB_GRAPHQL_URL": github["graphql_url"],
        "GITHUB_HEAD_REF": github["head_ref"],
        "GITHUB_BASE_REF": github["base_ref"],
        "GITHUB_RETENTION_DAYS": github["retention_days"],
        "RUNNER_OS": runner["os"],
        "RUNNER_ARCH": runner["arch"],
        "RUNNER_NAME": runner["name"],
        "RUNNER_TEMP": runner["temp"],
        "RUNNER_TOOL_CACHE": runner["tool_cache"],
        "RUNNER_ENVIRONMENT": runner["environment"],
    }
    if "debug" in runner:
        env["RUNNER_DEBUG"] = "1"
    return env


def hash_files_in(workspace: str) -> Callable[[Sequence[str]], str]:
    """``hashFiles(patterns…)``: SHA-256 over the SHA-256 of each matched file,
    in path order; ``!pattern`` excludes; '' when nothing matches."""

    def hash_files(patterns: Sequence[str]) -> str:
        include: set[str] = set()
        root = os.path.realpath(workspace)
        for pattern in patterns:
            for raw in str(pattern).splitlines() or [""]:
                pat = raw.strip()
                if not pat:
                    continue
                negate = pat.startswith("!")
                pat = pat[1:] if negate else pat
                full = pat if os.path.isabs(pat) else os.path.join(root, pat)
                matches = {os.path.realpath(m) for m in glob.glob(full, recursive=True) if os.path.isfile(m)}
                if negate:
                    include -= matches
                else:
                    include |= {m for m in matches if m.startswith(root + os.sep)}
        if not include:
            return ""
        total = hashlib.sha256()
        for path in sorted(include):
            h = hashlib.sha256()
            with Path(path).open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            total.update(h.digest())
        return total.hexdigest()

    return hash_files
