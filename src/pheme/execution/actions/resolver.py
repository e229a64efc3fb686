"""Where a ``uses:`` comes from, in GitHub's order, without a network.

1. ``./path`` — a local action in the workspace (``action.yml``/``.yaml``),
   loaded when its step runs (an earlier step may create it);
2. a built-in implementation of a well-known action (``actions/checkout``,
   ``actions/cache``, …), whatever the ref;
3. a vendored copy under ``PHEME_ACTIONS_PATH`` (``os.pathsep``-separated
   directories, then ``$PHEME_HOME/actions``), laid out as ``owner/repo@ref/`` — a sub-path action
   ``owner/repo/path@ref`` is ``owner/repo@ref/path/``;
4. otherwise a one-line error naming the action and how to provide it.

Docker actions (``docker://image`` or ``runs.using: docker``) are refused
with an error saying a container engine is needed: Pheme runs without one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pheme.core.workflow.model import Step
from pheme.errors import ActionError
from pheme.execution._steps import PhaseOutcome, StepImpl, StepRuntime
from pheme.execution.actions._base import ActionStep
from pheme.execution.actions.builtins import BUILTINS, BuiltinServices, builtin_name
from pheme.execution.actions.manifest import ActionManifest, find_manifest, load_manifest

__all__ = ["ActionRef", "Resolution", "Resolver", "actions_path", "parse_uses"]

_REMOTE = re.compile(
    r"^(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)(?P<path>(?:/[^@]+)?)@(?P<ref>.+)$"
)


@dataclass(frozen=True, slots=True)
class ActionRef:
    """A parsed ``uses:``. ``kind`` is ``local``, ``docker`` or ``remote``."""

    uses: str
    kind: Literal["local", "docker", "remote"]
    owner: str = ""
    repo: str = ""
    path: str = ""  # sub-path inside the repository, without leading '/'
    ref: str = ""

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.repo}" if self.owner else ""

    @property
    def name(self) -> str:
        """``owner/repo[/path]`` without the ref."""
        return self.repository + (f"/{self.path}" if self.path else "")


def parse_uses(uses: str) -> ActionRef:
    text = uses.strip()
    if text.startswith("docker://"):
        return ActionRef(text, "docker")
    if text.startswith("./") or text == ".":
        return ActionRef(text, "local", path=text)
    m = _REMOTE.match(text)
    if not m:
        raise ActionError(
            f"Expected format {{org}}/{{repo}}[/path]@ref or ./path for 'uses', actual '{uses}'"
        )
    return ActionRef(text, "remote", m["owner"], m["repo"], m["path"].strip("/"), m["ref"])


def actions_path(*, with_default: bool = False) -> list[Path]:
    """The directories of ``PHEME_ACTIONS_PATH``; ``with_default`` adds
    ``$PHEME_HOME/actions`` (where ``pheme actions vendor`` puts copies by default)."""
    raw = os.environ.get("PHEME_ACTIONS_PATH", "")
    paths = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    if with_default:
        from pheme.storage.objectstore import pheme_home

        default = pheme_home() / "actions"
        if default not in paths:
            paths.append(default)
    return paths


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a ``uses:`` resolves, for ``pheme actions list``."""

    uses: str
    kind: Literal["local", "builtin", "vendored", "missing", "docker", "invalid"]
    detail: str


def _docker_error(uses: str) -> ActionError:
    return ActionError(
        f"'{uses}' is a Docker container action: it needs a container engine, which Pheme does not use. "
        "Replace it with a JavaScript or composite action, or a run: step"
    )


def _missing_error(ref: ActionRef, searched: list[Path]) -> ActionError:
    where = (
        "PHEME_ACTIONS_PATH (" + os.pathsep.join(str(p) for p in searched) + ")"
        if searched
        else "PHEME_ACTIONS_PATH (not set)"
    )
    return ActionError(
        f"action '{ref.uses}' is not available offline: it is not built in and not vendored in {where}. "
        f"On a connected machine run 'pheme actions vendor {ref.repository}@{ref.ref}', "
        f"or put a copy at <dir>/{ref.repository}@{ref.ref} and set PHEME_ACTIONS_PATH=<dir>"
    )


class LocalAction(ActionStep):
    """``uses: ./path``: found and loaded when the step runs (relative to the workspace)."""

    def __init__(self, uses: str, step: Step, resolver: Resolver, depth: int) -> None:
        super().__init__(uses, step)
        self.resolver = resolver
        self.depth = depth
        self._inner: StepImpl | None = None

    @property
    def has_post(self) -> bool:
        return self._inner is not None and self._inner.has_post

    @has_post.setter
    def has_post(self, value: bool) -> None:
        self._has_post = value

    async def main(self, rt: StepRuntime) -> PhaseOutcome:
        directory = (Path(rt.workspace) / self.uses).resolve()
        try:
            if find_manifest(directory) is None and (directory / "Dockerfile").is_file():
                raise _docker_error(self.uses)
            manifest = load_manifest(directory, display=self.uses)
            self._inner = self.resolver.implementation(
                self.uses, self.step, manifest, repository="", ref="", allow_pre=False, depth=self.depth
            )
        except ActionError as exc:
            rt.fail(str(exc))
            return "failure"
        return await self._inner.main(rt)

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        if self._inner is None:
            return "success"
        return await self._inner.post(rt)


class Resolver:
    """The :class:`~pheme.execution._steps.ActionResolver` for local runs.

    ``services`` gives built-ins their stores (cache, artifacts) and run
    identity; ``search`` overrides ``PHEME_ACTIONS_PATH``.
    """

    def __init__(self, services: BuiltinServices | None = None, *, search: list[Path] | None = None) -> None:
        self.services = services or BuiltinServices()
        self.search = actions_path(with_default=True) if search is None else list(search)

    # -- ActionResolver ------------------------------------------------------
    def resolve(self, uses: str, step: Step, *, depth: int = 1) -> StepImpl:
        ref = parse_uses(uses)
        if ref.kind == "docker":
            raise _docker_error(uses)
        if ref.kind == "local":
            return LocalAction(ref.uses, step, self, depth)
        factory = BUILTINS.get(builtin_name(ref.name))
        if factory is not None:
            return factory(ref.uses, step, self.services)
        directory = self.vendored(ref)
        if directory is None:
            raise _missing_error(ref, self.search)
        if find_manifest(directory) is None and (directory / "Dockerfile").is_file():
            raise _docker_error(uses)
        manifest = load_manifest(directory, display=uses)
        return self.implementation(uses, step, manifest, repository=ref.repository, ref=ref.ref, depth=depth)

    # -- helpers ---------------------------------------------------------------
    def vendored(self, ref: ActionRef) -> Path | None:
        """The directory of a vendored action, or None."""
        for root in self.search:
            base = root / ref.owner / f"{ref.repo}@{ref.ref}"
            directory = base / ref.path if ref.path else base
            if directory.is_dir() and (find_manifest(directory) or (directory / "Dockerfile").is_file()):
                return directory
        return None

    def implementation(
        self,
        uses: str,
        step: Step,
        manifest: ActionManifest,
        *,
        repository: str,
        ref: str,
        allow_pre: bool = True,
        depth: int = 1,
    ) -> StepImpl:
        kind = manifest.runs.kind
        if kind == "node":
            from pheme.execution.actions.node import NodeAction

            return NodeAction(uses, step, manifest, repository=repository, ref=ref, allow_pre=allow_pre)
        if kind == "composite":
            from pheme.execution.actions.composite import CompositeAction

            return CompositeAction(uses, step, manifest, self, repository=repository, ref=ref, depth=depth)
        raise _docker_error(uses)

    def describe(self, uses: str, workspace: Path) -> Resolution:
        """How ``uses`` would resolve (without running anything)."""
        try:
            ref = parse_uses(uses)
        except ActionError as exc:
            return Resolution(uses, "invalid", str(exc))
        if ref.kind == "docker":
            return Resolution(uses, "docker", "needs a container engine (not supported)")
        if ref.kind == "local":
            directory = (workspace / ref.uses).resolve()
            found = find_manifest(directory)
            if found is None:
                if (directory / "Dockerfile").is_file():
                    return Resolution(uses, "docker", f"{directory}/Dockerfile needs a container engine")
                return Resolution(uses, "missing", f"no action.yml in {directory}")
            try:
                loaded = load_manifest(directory)
            except ActionError as exc:
                return Resolution(uses, "invalid", str(exc))
            if loaded.runs.kind == "docker":
                return Resolution(uses, "docker", f"{found} needs a container engine")
            return Resolution(uses, "local", f"{found} ({loaded.runs.using})")
        if builtin_name(ref.name) in BUILTINS:
            return Resolution(uses, "builtin", f"built-in {builtin_name(ref.name)}")
        vendored = self.vendored(ref)
        if vendored is None:
            return Resolution(uses, "missing", str(_missing_error(ref, self.search)))
        return Resolution(uses, "vendored", str(vendored))
