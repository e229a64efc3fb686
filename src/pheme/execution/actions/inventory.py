"""Every ``uses:`` of a repository's workflows, and how each resolves offline.

Behind ``pheme actions list``: walks ``.github/workflows/*.yml`` (and the
local composite actions they use, recursively), so a user can see before a
run which actions are built in, vendored, local — or missing, with the
command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pheme.errors import ActionError
from pheme.execution.actions.manifest import find_manifest, load_manifest
from pheme.execution.actions.resolver import Resolution, Resolver

__all__ = ["UsesEntry", "collect_uses"]


@dataclass(frozen=True, slots=True)
class UsesEntry:
    uses: str
    where: str  # file:line
    resolution: Resolution

    def to_json(self) -> dict[str, Any]:
        return {
            "uses": self.uses,
            "where": self.where,
            "kind": self.resolution.kind,
            "detail": self.resolution.detail,
        }


def _uses_in_yaml(path: Path) -> list[tuple[str, int]]:
    """``(uses, line)`` for every step-level ``uses:`` (not job-level reusable workflows)."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return []
    found: list[tuple[str, int]] = []

    def walk(node: yaml.Node, in_steps: bool) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = getattr(key, "value", None)
                if in_steps and name == "uses" and isinstance(value, yaml.ScalarNode):
                    found.append((str(value.value), value.start_mark.line + 1))
                walk(value, name == "steps")
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, in_steps)

    if root is not None:
        walk(root, False)
    return found


def collect_uses(repo: Path, resolver: Resolver | None = None) -> list[UsesEntry]:
    """All step ``uses:`` in ``repo``'s workflows and local composite actions, in file order."""
    resolver = resolver or Resolver()
    workflows_dir = repo / ".github" / "workflows"
    files = sorted(p for p in workflows_dir.glob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    entries: list[UsesEntry] = []
    seen_actions: set[Path] = set()
    queue = list(files)
    while queue:
        path = queue.pop(0)
        rel = path.relative_to(repo) if path.is_relative_to(repo) else path
        for uses, line in _uses_in_yaml(path):
            resolution = resolver.describe(uses, repo)
            entries.append(UsesEntry(uses, f"{rel}:{line}", resolution))
            if resolution.kind == "local":
                directory = (repo / uses).resolve()
                if directory in seen_actions:
                    continue
                seen_actions.add(directory)
                try:
                    manifest = load_manifest(directory)
                except ActionError:
                    continue
                if manifest.runs.kind == "composite":
                    found = find_manifest(directory)
                    if found is not None:
                        queue.append(found)
    return entries
