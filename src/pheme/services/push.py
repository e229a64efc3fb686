"""``pheme push`` and ``pheme hook install``: bare repositories on this machine.

A post-receive hook gets ``old new ref`` lines on stdin; for each one we send
the server the same signed ``push`` webhook GitHub would send (so there is ONE
intake path, with the same checks, signature and de-duplication). The
webhook secret is read from the server's store (this machine is the server's
machine), so nothing secret is written into the hook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shlex
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pheme.errors import ConfigError, UsageError

__all__ = ["build_push_payload", "install_hook", "push_refs", "read_updates", "sign"]

NULL_SHA = "0" * 40


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def read_updates(text: str) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise UsageError(f"pheme push: expected 'old new ref' lines, got {line.strip()!r}")
        out.append(tuple(parts))
    return out


def _git(git_dir: Path, *args: str) -> str:
    env = {**os.environ, "GIT_DIR": str(git_dir), "LC_ALL": "C"}
    proc = subprocess.run(["git", *args], capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"git {args[0]}: {detail[-1] if detail else 'failed'}")
    return proc.stdout.decode("utf-8", "replace")


def _git_dir(given: Path | None) -> Path:
    if given is not None:
        where = given
    elif os.environ.get("GIT_DIR"):
        where = Path(os.environ["GIT_DIR"])
    else:
        where = Path.cwd()
    proc = subprocess.run(["git", "-C", str(where), "rev-parse", "--absolute-git-dir"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(f"not a git repository: {where}")
    return Path(proc.stdout.decode().strip()).resolve()


def build_push_payload(git_dir: Path, full_name: str, old: str, new: str, ref: str, pusher: str) -> dict[str, Any]:
    """A GitHub-shaped push payload for ``old..new`` on ``ref``."""
    owner, _, name = full_name.partition("/")
    deleted = set(new) == {"0"}
    commits: list[dict[str, Any]] = []
    head: dict[str, Any] | None = None
    if not deleted:
        span = new if set(old) == {"0"} else f"{old}..{new}"
        fmt = "%H%x1f%s%x1f%an%x1f%ae%x1f%cI%x1e"
        out = _git(git_dir, "log", "--max-count=20", f"--format={fmt}", span)
        for rec in out.split("\x1e"):
            fields = rec.strip("\n").split("\x1f")
            if len(fields) != 5:
                continue
            sha, message, author, email, when = fields
            commits.append({"id": sha, "message": message, "timestamp": when,
                            "author": {"name": author, "email": email}})  # fmt: skip
        commits.reverse()
        head = next((c for c in commits if c["id"] == new), None)
        if head is None:
            fields = _git(git_dir, "log", "-1", f"--format={fmt}", new).strip("\x1e\n").split("\x1f")
            head = {"id": new, "message": fields[1] if len(fields) > 1 else "", "timestamp": fields[4] if len(fields) > 4 else None,
                    "author": {"name": fields[2] if len(fields) > 2 else "", "email": fields[3] if len(fields) > 3 else ""}}  # fmt: skip
    default = _git(git_dir, "symbolic-ref", "-q", "--short", "HEAD").strip() if not deleted else ""
    return {
        "ref": ref,
        "before": old,
        "after": new,
        "created": set(old) == {"0"},
        "deleted": deleted,
        "forced": False,
        "commits": commits,
        "head_commit": head,
        "repository": {
            "name": name,
            "full_name": full_name,
            "owner": {"login": owner, "name": owner},
            "default_branch": default or "main",
        },
        "pusher": {"name": pusher},
        "sender": {"login": pusher},
    }


def _find_repo(server_store: Any, git_dir: Path, name: str | None) -> Any:
    if name:
        return server_store.get_repo(name)
    for repo in server_store.list_repos():
        source = Path(repo.source)
        if source.is_absolute() and source.exists():
            candidates = {source.resolve(), (source / ".git").resolve()}
            if git_dir in candidates:
                return repo
    raise UsageError(f"no registered repository has the source {git_dir} (pheme repo add NAME {git_dir}, or --repo)")


def push_refs(
    settings: Any,
    updates: Sequence[Sequence[str]],
    *,
    repo_name: str | None = None,
    git_dir: Path | None = None,
    server_url: str | None = None,
) -> Iterator[str]:
    """Send one signed push webhook per ``(old, new, ref)``; yields one line per ref."""
    import getpass

    import httpx

    from pheme.services.server import PipelineServer

    where = _git_dir(git_dir)
    server = PipelineServer(settings, workers=False)
    try:
        repo = _find_repo(server.sstore, where, repo_name)
        secret = server.webhook_secret(repo)
    finally:
        server.close()
    if not secret:
        raise ConfigError(f"repository {repo.name} has no webhook secret")
    url = (server_url or settings.base_url()).rstrip("/") + "/webhooks/github"
    pusher = os.environ.get("PHEME_PUSHER") or getpass.getuser()
    with httpx.Client(timeout=30.0) as client:
        for old, new, ref in updates:
            body = json.dumps(build_push_payload(where, repo.name, old, new, ref, pusher)).encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": sign(secret, body),
                "User-Agent": "pheme-push",
            }
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise ConfigError(f"cannot reach the server at {url}: {type(exc).__name__}") from None
            if response.status_code >= 300:
                try:
                    message = response.json().get("error", response.text)
                except ValueError:
                    message = response.text
                raise ConfigError(f"server refused the push of {ref} ({response.status_code}): {message}")
            runs = response.json().get("runs", [])
            yield f"{ref}: {len(runs)} run(s) queued" + (f" ({', '.join(str(r) for r in runs)})" if runs else "")


HOOK_TEMPLATE = """#!/bin/sh
# Installed by 'pheme hook install {name}': tells the Pheme server about every push.
{env}exec {python} -m pheme push --repo {name_q} --server {url_q}
"""


def install_hook(settings: Any, name: str, *, server_url: str | None = None) -> Path:
    """Write ``hooks/post-receive`` into the repository's local SOURCE (bare or not)."""
    from pheme.services.server import PipelineServer

    server = PipelineServer(settings, workers=False)
    try:
        repo = server.sstore.get_repo(name)
    finally:
        server.close()
    source = Path(repo.source)
    if not source.is_absolute() or not source.is_dir():
        raise UsageError(f"{name}: its source {repo.source} is not a local directory")
    git_dir = _git_dir(source)
    hook = git_dir / "hooks" / "post-receive"
    hook.parent.mkdir(parents=True, exist_ok=True)
    env = ""
    if os.environ.get("PHEME_HOME"):
        env = f"PHEME_HOME={shlex.quote(os.environ['PHEME_HOME'])}; export PHEME_HOME\n"
    url = (server_url or settings.base_url()).rstrip("/")
    hook.write_text(
        HOOK_TEMPLATE.format(name=name, env=env, python=shlex.quote(sys.executable), name_q=shlex.quote(name),
                             url_q=shlex.quote(url))
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook
