"""``actions/checkout``: put the run's commit into the workspace or ``path``.

Pheme prepares the workspace as a checkout of the run's commit before the
job starts, so the usual ``- uses: actions/checkout@v4`` finds it there and
only reports it. With ``path:`` the commit is cloned (from the workspace's
own repository, no network) into that directory; with ``ref:`` the named
commit is checked out. ``fetch-depth`` limits the clone's history as on
GitHub (0 = all). ``token``, ``ssh-key`` and ``persist-credentials`` have
nothing to do offline and are ignored. Another ``repository:`` needs the
network and fails with a clear message.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from pheme.errors import ActionError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import set_output
from pheme.execution.actions.builtins._builtin import Builtin, as_bool
from pheme.execution.actions.builtins._services import capture, tool_env

__all__ = ["Checkout"]


class Checkout(Builtin):
    NAME = "actions/checkout"
    INPUTS: ClassVar[dict[str, Any]] = {
        "repository": "${{ github.repository }}",
        "ref": "",
        "token": "${{ github.token }}",
        "ssh-key": "",
        "ssh-known-hosts": "",
        "ssh-strict": "true",
        "ssh-user": "git",
        "persist-credentials": "true",
        "path": "",
        "clean": "true",
        "filter": "",
        "sparse-checkout": "",
        "sparse-checkout-cone-mode": "true",
        "fetch-depth": "1",
        "fetch-tags": "false",
        "show-progress": "true",
        "lfs": "false",
        "submodules": "false",
        "set-safe-directory": "true",
        "github-server-url": "",
    }

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        env = tool_env(rt.env)
        ws = Path(rt.env.get("GITHUB_WORKSPACE") or rt.workspace).resolve()
        own = rt.env.get("GITHUB_REPOSITORY", "")
        repository = self.get("repository") or own
        if own and repository.lower() != own.lower():
            raise ActionError(
                f"checking out another repository ('{repository}') needs the network; "
                "Pheme's offline checkout only provides the run's own repository"
            )
        target = (ws / self.get("path")).resolve() if self.get("path") else ws
        if target != ws and ws not in target.parents:
            raise ActionError(f"Repository path '{target}' is not under '{ws}'")
        try:
            depth = int(self.get("fetch-depth", "1") or "1")
        except ValueError:
            raise ActionError(f"fetch-depth must be a number, got '{self.get('fetch-depth')}'") from None
        clean = as_bool(self.get("clean"), True)
        run_sha = rt.env.get("GITHUB_SHA", "")
        ref = self.get("ref")

        is_git = (await capture(["git", "-C", str(ws), "rev-parse", "--git-dir"], env=env))[0] == 0
        sha = run_sha
        if is_git:
            head = await self._rev(ws, "HEAD", env)
            if ref:
                resolved = await self._resolve_ref(ws, ref, env)
                if resolved is None:
                    raise ActionError(f"A branch or tag with the name '{ref}' could not be found")
                sha = resolved
            elif not run_sha or await self._rev(ws, run_sha, env) is None:
                sha = head or run_sha
        rt.log([f"Syncing repository: {repository}"])

        if target == ws:
            if not is_git:
                rt.log(
                    [
                        f"The workspace {ws} already holds the run's files (not a git repository); nothing to fetch"
                    ]
                )
            else:
                head = await self._rev(ws, "HEAD", env)
                if head == sha:
                    rt.log([f"The workspace already holds {sha[:12]} (prepared by Pheme for this run)"])
                else:
                    await self._git(rt, ["-C", str(ws), "checkout", "--quiet", "--force", "--detach", sha])
                    if clean:
                        await self._git(rt, ["-C", str(ws), "clean", "-ffdx", "--quiet"])
        else:
            if target.exists() and any(target.iterdir()):
                if not clean:
                    raise ActionError(f"'{target}' is not empty and clean is false")
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            if is_git:
                source = (await capture(["git", "-C", str(ws), "rev-parse", "--show-toplevel"], env=env))[
                    1
                ].strip()
                clone = ["clone", "--quiet", "--no-checkout"]
                if depth > 0:
                    clone += ["--depth", str(depth), "--no-single-branch"]
                    source = "file://" + source
                await self._git(rt, [*clone, source, str(target)])
                if await self._rev(target, sha, env) is None:
                    await self._git(rt, ["-C", str(target), "fetch", "--quiet", "origin", sha])
                await self._git(rt, ["-C", str(target), "checkout", "--quiet", "--detach", sha])
            else:
                shutil.copytree(ws, target, symlinks=True, ignore=_skip_inside(target))
            rt.log([f"Checked out {sha[:12] or 'the workspace'} into {target}"])
        set_output(rt, "ref", ref or rt.env.get("GITHUB_REF", ""))
        set_output(rt, "commit", sha)
        return "success"

    async def _rev(self, repo: Path, rev: str, env: dict[str, str]) -> str | None:
        code, out = await capture(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], env=env
        )
        return out.strip() if code == 0 and out.strip() else None

    async def _resolve_ref(self, repo: Path, ref: str, env: dict[str, str]) -> str | None:
        candidates = [ref]
        if not ref.startswith("refs/"):
            candidates += [f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/remotes/origin/{ref}"]
        for candidate in candidates:
            sha = await self._rev(repo, candidate, env)
            if sha:
                return sha
        return None

    async def _git(self, rt: StepRuntime, args: list[str]) -> None:
        code, out = await capture(["git", *args], env=tool_env(rt.env))
        if code != 0:
            raise ActionError(
                f"git {args[2] if args[0] == '-C' else args[0]} failed: {out.strip().splitlines()[-1] if out.strip() else code}"
            )


def _skip_inside(target: Path):  # type: ignore[no-untyped-def]
    def ignore(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(directory, n).resolve() == target or n == ".git"]

    return ignore
