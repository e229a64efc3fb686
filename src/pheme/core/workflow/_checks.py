"""Checks GitHub makes after the schema: identifiers, the ``needs`` graph,
``uses:`` references and runner groups. Each returns GitHub's message text.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "IdScope",
    "check_action_ref",
    "check_runs_on_group",
    "needs_problems",
]

MAX_ID_LENGTH = 100


def _is_alpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _valid_id(value: str) -> bool:
    first = value[0]
    if not (_is_alpha(first) or first == "_"):
        return False
    return all(_is_alpha(c) or "0" <= c <= "9" or c in "_-" for c in value[1:])


class IdScope:
    """Job ids or step ids of one job: valid, not reserved, unique (case-insensitively)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def add(self, value: str) -> str | None:
        """Registers ``value``; returns GitHub's error message if it is not acceptable."""
        if not value or not _valid_id(value) or len(value) >= MAX_ID_LENGTH:
            return (
                f"The identifier '{value}' is invalid. IDs may only contain alphanumeric characters, '_', and '-'. "
                f"IDs must start with a letter or '_' and and must be less than {MAX_ID_LENGTH} characters."
            )
        if value.startswith("__"):
            return f"The identifier '{value}' is invalid. IDs starting with '__' are reserved."
        upper = value.upper()
        if upper in self._seen:
            return f"The identifier '{value}' may not be used more than once within the same scope."
        self._seen.add(upper)
        return None


def needs_problems(
    jobs: Sequence[tuple[str, Sequence[tuple[str, object]]]],
) -> tuple[bool, list[tuple[object, str]]]:
    """GitHub's job-graph check.

    ``jobs`` lists ``(job id, [(needed id, where), ...])`` in file order.
    Returns ``(has_start_node, [(where, message), ...])``; when there is no job
    without needs the caller reports "at least one job with no dependencies"
    and nothing else, as GitHub does.
    """
    ready = [name for name, needs in jobs if not needs]
    if not ready:
        return False, []
    waiting: list[tuple[str, list[tuple[str, object]]]] = [
        (name, list(needs)) for name, needs in jobs if needs
    ]
    queue = list(ready)
    while queue:
        done = queue.pop(0)
        for i in range(len(waiting) - 1, -1, -1):
            name, needs = waiting[i]
            remaining = [n for n in needs if n[0] != done]
            if len(remaining) != len(needs):
                needs[:] = remaining
                if not remaining:
                    queue.append(name)
                    del waiting[i]
    known = {name for name, _ in jobs}
    problems: list[tuple[object, str]] = []
    for name, needs in waiting:
        for need, where in needs:
            if need in known:
                problems.append(
                    (
                        where,
                        f"Job '{name}' depends on job '{need}' which creates a cycle in the dependency graph.",
                    )
                )
            else:
                problems.append((where, f"Job '{name}' depends on unknown job '{need}'."))
    return True, problems


def check_action_ref(uses: str) -> str | None:
    """A step's ``uses:``: ``docker://image``, ``./local/path`` or ``owner/repo[/path]@ref``."""
    if uses.startswith("docker://") or uses.startswith("./") or uses.startswith(".\\"):
        return None
    path, sep, ref = uses.partition("@")
    segments = [s for s in path.replace("\\", "/").split("/") if s]
    if not sep or not ref or "@" in ref or len(segments) < 2:
        return f"Expected format {{org}}/{{repo}}[/path]@ref. Actual '{uses}'"
    return None


def check_runs_on_group(group: str) -> str | None:
    names = group.split("/")
    if len(names) == 1:
        return None
    if len(names) == 2 and names[0] in ("org", "organization", "ent", "enterprise"):
        if not names[1]:
            return f"Invalid runs-on group name '{group}'."
        return None
    return (
        f"Invalid runs-on group name '{group}'. "
        "Please use 'organization/' or 'enterprise/' prefix to target a single runner group."
    )


def check_workflow_ref(uses: str) -> str | None:
    """A job's ``uses:``: ``owner/repo/path/to/workflow.yml@ref`` or ``./path/to/workflow.yml``."""
    if uses.startswith("./"):
        ok = uses.endswith((".yml", ".yaml")) and "@" not in uses
    else:
        path, sep, ref = uses.partition("@")
        segments = path.split("/")
        ok = bool(sep and ref) and len(segments) >= 3 and all(segments) and path.endswith((".yml", ".yaml"))
    if ok:
        return None
    return (
        f"Invalid reusable workflow reference '{uses}': expected '{{owner}}/{{repo}}/{{path}}/{{file}}.yml@{{ref}}' "
        "or './{path}/{file}.yml'"
    )
