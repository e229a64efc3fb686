"""``pheme actions vendor OWNER/REPO@REF``: copy an action for offline use.

Clones the action's repository at ``REF`` into ``<root>/OWNER/REPO@REF`` —
the layout the resolver reads from ``PHEME_ACTIONS_PATH`` — without its
``.git`` directory. Needs the network (or ``source``: any git URL or path,
e.g. an internal mirror); without it the error says so in one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pheme.errors import ActionError
from pheme.execution.actions.manifest import find_manifest
from pheme.execution.actions.resolver import parse_uses

__all__ = ["default_vendor_root", "vendor_action"]


def default_vendor_root() -> Path:
    """The first ``PHEME_ACTIONS_PATH`` entry, else ``$PHEME_HOME/actions``."""
    from pheme.execution.actions.resolver import actions_path

    paths = actions_path()
    if paths:
        return paths[0]
    from pheme.storage.objectstore import pheme_home

    return pheme_home() / "actions"


def _git(args: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False, timeout=600
    )


def vendor_action(
    spec: str, *, root: Path | None = None, source: str | None = None, force: bool = False
) -> Path:
    """Vendor ``OWNER/REPO@REF`` (a sub-path is allowed and ignored for the copy); returns its directory."""
    ref = parse_uses(spec)
    if ref.kind != "remote":
        raise ActionError(f"'{spec}' is not a repository action (expected OWNER/REPO@REF)")
    root = root or default_vendor_root()
    dest = root / ref.owner / f"{ref.repo}@{ref.ref}"
    if dest.exists():
        if not force:
            raise ActionError(f"{dest} already exists (use --force to replace it)")
        shutil.rmtree(dest)
    url = source or f"https://github.com/{ref.owner}/{ref.repo}.git"
    if shutil.which("git") is None:
        raise ActionError("git is required to vendor actions")
    with tempfile.TemporaryDirectory(prefix="pheme-vendor-") as tmp:
        work = os.path.join(tmp, "repo")
        done = _git(["clone", "--quiet", "--depth", "1", "--branch", ref.ref, url, work])
        if done.returncode != 0:
            # A commit SHA cannot be cloned with --branch: fetch it instead.
            shutil.rmtree(work, ignore_errors=True)
            steps = [
                ["init", "--quiet", work],
                ["-C", work, "fetch", "--quiet", "--depth", "1", url, ref.ref],
                ["-C", work, "checkout", "--quiet", "FETCH_HEAD"],
            ]
            for args in steps:
                done = _git(args)
                if done.returncode != 0:
                    detail = (done.stderr.strip().splitlines() or ["git failed"])[-1]
                    raise ActionError(
                        f"cannot vendor {ref.repository}@{ref.ref} from {url}: {detail} "
                        "(vendoring needs the network, or --from a local mirror)"
                    )
        shutil.rmtree(os.path.join(work, ".git"), ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(work, dest)
    target = dest / ref.path if ref.path else dest
    if find_manifest(target) is None:
        raise ActionError(f"vendored {spec} into {dest}, but it has no action.yml at {target}")
    return dest
