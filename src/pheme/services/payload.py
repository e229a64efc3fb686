"""The webhook payload GitHub would send for a local event (the ``github.event`` context).

Only the fields workflows commonly read are built (``ref``, ``before``/``after``,
``head_commit``, ``repository``, ``pull_request.{number,head,base}``,
``inputs``...). An ``--event-file`` is merged on top the way act reads one: its
objects are merged key by key, and anything else it gives replaces ours.

Pure functions: the caller gathers the git facts (:class:`RepoFacts`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pheme.services.git import NULL_SHA, CommitInfo

__all__ = ["SERVER_URL", "RepoFacts", "build_payload", "deep_merge", "pr_number"]

SERVER_URL = "https://github.com"


@dataclass(frozen=True, slots=True)
class RepoFacts:
    """What the payload needs to know about the repository and the event."""

    full_name: str  # owner/name
    default_branch: str
    head: CommitInfo
    before: str | None  # None: no parent (first commit)
    ref: str  # full ref (refs/heads/x, refs/tags/v1)
    changed_files: tuple[str, ...] = ()
    base_branch: str = "main"  # pull requests: the branch the PR targets
    inputs: Mapping[str, Any] = field(default_factory=dict)
    workflow_file: str = ""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: nested objects merge, other values replace."""
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _user(name: str, email: str) -> dict[str, Any]:
    login = email.split("@", 1)[0] if email else name
    return {"name": name, "email": email, "username": login}


def _repository(facts: RepoFacts) -> dict[str, Any]:
    owner, _, name = facts.full_name.partition("/")
    url = f"{SERVER_URL}/{facts.full_name}"
    return {
        "name": name,
        "full_name": facts.full_name,
        "owner": {"login": owner, "name": owner, "type": "User"},
        "private": True,
        "fork": False,
        "html_url": url,
        "url": url,
        "clone_url": f"{url}.git",
        "default_branch": facts.default_branch,
        "master_branch": facts.default_branch,
    }


def _head_commit(facts: RepoFacts) -> dict[str, Any]:
    head = facts.head
    return {
        "id": head.sha,
        "tree_id": head.tree,
        "distinct": True,
        "message": head.message,
        "timestamp": head.timestamp,
        "url": f"{SERVER_URL}/{facts.full_name}/commit/{head.sha}",
        "author": _user(head.author_name, head.author_email),
        "committer": _user(head.committer_name, head.committer_email),
        "added": [],
        "removed": [],
        "modified": list(facts.changed_files),
    }


def _sender(facts: RepoFacts) -> dict[str, Any]:
    return {"login": _user(facts.head.author_name, facts.head.author_email)["username"], "type": "User"}


def pr_number(payload: Mapping[str, Any]) -> int:
    """The pull request number in a payload (1 when none is given)."""
    for value in (payload.get("number"), (payload.get("pull_request") or {}).get("number")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 1


def _short(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def build_payload(event: str, facts: RepoFacts, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``github.event`` object for ``event``, with ``override`` merged on top."""
    repo = _repository(facts)
    common: dict[str, Any] = {"repository": repo, "sender": _sender(facts)}
    payload: dict[str, Any]
    if event == "push":
        before = facts.before or NULL_SHA
        payload = {
            "ref": facts.ref,
            "before": before,
            "after": facts.head.sha,
            "base_ref": None,
            "created": facts.before is None,
            "deleted": False,
            "forced": False,
            "compare": f"{SERVER_URL}/{facts.full_name}/compare/{before[:12]}...{facts.head.sha[:12]}",
            "commits": [_head_commit(facts)],
            "head_commit": _head_commit(facts),
            "pusher": {"name": facts.head.author_name, "email": facts.head.author_email},
            **common,
        }
    elif event in ("pull_request", "pull_request_target"):
        number = pr_number(override or {})
        head_branch = _short(facts.ref)
        owner = facts.full_name.partition("/")[0]
        title, _, body = facts.head.message.partition("\n")
        payload = {
            "action": "opened",
            "number": number,
            "pull_request": {
                "number": number,
                "state": "open",
                "title": title,
                "body": body.strip() or None,
                "draft": False,
                "merged": False,
                "user": _sender(facts),
                "labels": [],
                "html_url": f"{SERVER_URL}/{facts.full_name}/pull/{number}",
                "head": {"ref": head_branch, "sha": facts.head.sha, "label": f"{owner}:{head_branch}", "repo": repo},
                "base": {
                    "ref": facts.base_branch,
                    "sha": facts.before or facts.head.sha,
                    "label": f"{owner}:{facts.base_branch}",
                    "repo": repo,
                },
            },
            **common,
        }
    elif event == "workflow_dispatch":
        payload = {"inputs": dict(facts.inputs), "ref": facts.ref, "workflow": facts.workflow_file, **common}
    else:
        payload = dict(common)
    return deep_merge(payload, override) if override else payload
