"""``uses:`` for offline runs: resolution, built-ins, JavaScript and composite actions.

Use :func:`make_resolver` (or :class:`~pheme.execution.actions.resolver.Resolver`)
as the ``action_resolver`` of a run request. Kept light: modules load on use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pheme.core.workflow.model import Step
    from pheme.execution._steps import StepImpl
    from pheme.execution.actions.builtins import BuiltinServices
    from pheme.execution.actions.resolver import Resolver

__all__ = ["LazyResolver", "make_resolver"]


class LazyResolver:
    """A :class:`~pheme.execution.actions.resolver.Resolver` made when a step first
    uses an action: a run of ``run:`` steps never loads the resolver, the built-ins
    table or the manifest reader (~15 ms of ``pheme run``'s start)."""

    def __init__(self, services: BuiltinServices | None = None, *, search: list[Path] | None = None) -> None:
        self._services = services
        self._search = search
        self._resolver: Resolver | None = None

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            from pheme.execution.actions.resolver import Resolver

            self._resolver = Resolver(self._services, search=self._search)
        return self._resolver

    def resolve(self, uses: str, step: Step, *, depth: int = 1) -> StepImpl:
        return self.resolver.resolve(uses, step, depth=depth)


def make_resolver(services: BuiltinServices | None = None, *, search: list[Path] | None = None) -> LazyResolver:
    """The ``action_resolver`` of a local run (see :class:`LazyResolver`)."""
    return LazyResolver(services, search=search)
